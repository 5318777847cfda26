"""Repository tasks (``KIND = "repotasks"``, suites/repotasks): a real repository's methods, judged
by the repository's own tests in its environment (``python -m pytest_convcode.env repo SPEC``).

Three kinds of item per task: method generation, one item per turn
("django/utils/text.py::Truncator.chars-method_gen-turn2"), each failed turn answered with the
tests' output (the seed's "Correct the answer. Tests failed:" message, or its format message when
the reply was not the method, whose tests then do not run) over the whole chat history; once a
turn passes, the later ones pass without running, as in ConvCodeWorld. Completion ("...-completion")
and program repair ("...-repair") are single turn. Records name the kind in ``setting``, so that
a task's method generation reads as one conversation and its other kinds as one turn each.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pytest

from ..conversation import ConversationLog
from ..errors import UsageError
from ..extract.chat import drop_reasoning
from ..feedback import Setting
from ..models import Answer, Message, Request
from ..records import REPOTASKS, Record
from ..repos.answers import answer_code, indented, method_of
from ..repos.environment import RepoEnvironment, find_environment
from ..repos.prompts import KINDS as TASK_KINDS
from ..repos.prompts import TaskKind, feedback_message, first_message, history, output_tail, problem
from ..repos.runner import TestRun, run_tests
from ..repos.scores import similarity, summarize_repotasks
from ..repos.tasks import FORMS, RepoTask, RepoTaskSet
from ..services import Services
from .kind import KINDS, SuiteKind, request_fields, selected

NO_TASKS = f"repository tasks need their task file: give --repo-tasks=<{FORMS}>"
SHOWN_OUTPUT = 2_000  # of the tests' output, in an item's failure (the log and the report keep it all)


@dataclass(frozen=True)
class RepoCase:
    task: RepoTask
    kind: TaskKind
    turn: int = 0

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def id(self) -> str:
        turn = f"-turn{self.turn}" if self.kind == "method_gen" else ""
        return f"{self.task_id}-{self.kind}{turn}"


@dataclass(frozen=True)
class NoTasks:
    """The one item of a run without --repo-tasks: skipped, saying what to give."""

    id: str = "no-repo-tasks"
    task_id: str = "no-repo-tasks"


@dataclass(frozen=True)
class Attempt:
    """An answer and how the repository's tests fared on it (``run`` None: they did not run,
    ``not_run`` says why)."""

    answer: Answer
    program: str  # the method as spliced into the file ("" when not run)
    run: TestRun | None
    not_run: str
    chrf: float
    prefix_ratio: float

    @property
    def passed(self) -> bool:
        return self.run is not None and self.run.passed

    @property
    def output(self) -> str:
        """What the model is told of it: the tests' output, or why they did not run (or ended)."""
        if self.run is None:
            return self.not_run
        crashed = f"\nThe tests did not finish: {self.run.crashed}" if self.run.crashed else ""
        return self.run.output + crashed

    @property
    def explanation(self) -> str:
        if self.run is None:
            return f"not run: {self.not_run}"
        if self.run.crashed:
            return f"the tests crashed: {self.run.crashed}\n{self.run.output[-SHOWN_OUTPUT:]}"
        run = self.run
        tally = f"{run.failures} failed, {run.errors} errors, {run.skipped} skipped of {run.ran} tests"
        return f"{tally}\n{run.output[-SHOWN_OUTPUT:]}"


@dataclass(frozen=True)
class RepoVerdict:
    passed: bool
    explanation: str


@dataclass
class Dialogue:
    """A task's method generation so far: the messages of the next turn, and each turn's attempt."""

    messages: list[Message]
    attempts: list[Attempt] = field(default_factory=list)
    solved_at: int | None = None


@dataclass
class RepoSuite:
    services: Services
    name: str
    _dialogues: dict[str, Dialogue] = field(default_factory=dict)
    _environments: dict[str, RepoEnvironment] = field(default_factory=dict)

    @cached_property
    def dataset(self) -> RepoTaskSet:
        dataset = self.services.dataset(self.name)
        assert isinstance(dataset, RepoTaskSet)  # the data set this kind's suite module names
        return dataset

    @cached_property
    def log(self) -> ConversationLog:
        place = self.services.place
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        path = place.reports_dir / place.run_id / "conversations" / f"{self.name}-{worker}.jsonl"
        return ConversationLog(path, place.run_id, self.services.model.name)

    def cases(self, settings: tuple[Setting, ...] | None) -> tuple[list[RepoCase] | list[NoTasks], list[str]]:
        if self.services.data.repo_tasks is None:  # skipped, so that `pytest suites` runs the others
            return [NoTasks()], []
        try:
            import sacrebleu  # noqa: F401  (chrF, for every answer)
        except ImportError:
            raise UsageError(
                "repository tasks score chrF with sacrebleu: pip install 'pytest-convcode[repotasks]'"
            ) from None
        tasks = selected(self.name, self.dataset.tasks, self.services.data.tasks)
        for repo in sorted({task.repo for task in tasks}):
            self.environment(repo)  # a missing one names the command that makes it, before any item runs
        turns = range(self.services.conversations.max_turns + 1)
        cases = []
        for task in tasks:
            cases += [RepoCase(task, "method_gen", turn) for turn in turns]
            cases += [RepoCase(task, kind) for kind in TASK_KINDS[1:] if kind != "repair" or task.repairable]
        missing = sum(not task.repairable for task in tasks)
        notes = [f"{missing} of {len(tasks)} repository tasks have no injected bug: no repair item"] if missing else []
        return cases, notes

    def environment(self, repo: str) -> RepoEnvironment:
        if repo not in self._environments:
            self._environments[repo] = find_environment(repo)
        return self._environments[repo]

    def start(self, cases: Sequence[RepoCase | NoTasks], everything: bool) -> None:
        """Ask for every answer known ahead: method generation's turn 0, completion, repair."""
        first = [c for c in cases if isinstance(c, RepoCase) and c.turn == 0]
        self.services.prefetch([self.request(c.task, c.kind) for c in first])

    def request(self, task: RepoTask, kind: TaskKind, messages: Sequence[Message] = (), turn: int = 0) -> Request:
        return Request(problem(task, kind), tuple(messages) or (Message("user", first_message(task, kind)),), turn=turn)

    def cost(self, case: RepoCase | NoTasks) -> float:
        return case.task.time_test_norm if isinstance(case, RepoCase) else 0.0

    def judge(self, case: RepoCase | NoTasks, record: dict[str, Any]) -> RepoVerdict:
        if isinstance(case, NoTasks):
            pytest.skip(NO_TASKS)
        record.update(setting=case.kind, turn=case.turn)
        if case.kind == "method_gen":
            dialogue = self._dialogue(case.task, case.turn)
            if dialogue.solved_at is not None and dialogue.solved_at < case.turn:
                record["solved_at"] = dialogue.solved_at
                return RepoVerdict(True, f"solved at turn {dialogue.solved_at}")
            attempt = dialogue.attempts[case.turn]
        else:
            request = self.request(case.task, case.kind)
            attempt = self._attempt(case.task, case.kind, self.services.generator.answers(request)[0])
            shown = case.task.test_error_message if case.kind == "repair" else ""
            self._log(case, request.messages, attempt, shown)
        record.update(request_fields(attempt.answer))
        record.update(program=attempt.program, chrf=round(attempt.chrf, 2), prefix_ratio=round(attempt.prefix_ratio, 4))
        record["solved_at"] = case.turn if attempt.passed else None
        if attempt.run is not None:
            run = attempt.run
            record["tests"] = {"ran": run.ran, "failures": run.failures, "errors": run.errors, "skipped": run.skipped}
            record.update(share_passed=round(run.share_passed, 4), test_s=round(run.seconds, 3))
            if run.crashed:
                record["crashed"] = run.crashed
        else:
            record["not_run"] = attempt.not_run
        if not attempt.passed:
            record["failure"] = attempt.explanation
        return RepoVerdict(attempt.passed, "passed" if attempt.passed else attempt.explanation)

    def _dialogue(self, task: RepoTask, turn: int) -> Dialogue:
        """The task's method generation, run on to ``turn`` unless an earlier turn passed."""
        first = Message("user", first_message(task, "method_gen"))
        dialogue = self._dialogues.setdefault(task.task_id, Dialogue([first]))
        while len(dialogue.attempts) <= turn and dialogue.solved_at is None:
            index = len(dialogue.attempts)
            sent = history(dialogue.messages)
            answer = self.services.generator.answers(self.request(task, "method_gen", sent, index))[0]
            attempt = self._attempt(task, "method_gen", answer)
            previous = dialogue.attempts[-1].output if dialogue.attempts else ""
            self._log(RepoCase(task, "method_gen", index), sent, attempt, previous)
            dialogue.attempts.append(attempt)
            if attempt.passed:
                dialogue.solved_at = index
            else:
                reply = Message("assistant", _as_sent(answer))
                dialogue.messages += [reply, Message("user", feedback_message(task, attempt.output))]
        return dialogue

    def _attempt(self, task: RepoTask, kind: TaskKind, answer: Answer) -> Attempt:
        """The answer's method spliced into its file and the task's tests run on it; an answer that
        is not the method (or, for completion, holds no code) is not run."""
        code = answer_code(answer)
        if kind == "completion":
            if not code.strip():
                return Attempt(answer, "", None, "The answer holds no code: give the rest of the method.", 0.0, 0.0)
            method = task.completion_prefix + code + "\n"
            chrf, ratio = similarity(code, task.completion_target.strip("\n"))
        else:
            reply = method_of(code, task.method.name)
            if reply.problem:
                return Attempt(answer, "", None, reply.problem, 0.0, 0.0)
            method = indented(reply.code, task.indent)
            chrf, ratio = similarity(textwrap.dedent(method).strip("\n"), textwrap.dedent(task.source).strip("\n"))
        environment = self.environment(task.repo)
        run = run_tests(self.services.sandbox, environment, task.file_path, task.with_method(method), task.labels)
        return Attempt(answer, method, run, "", chrf, ratio)

    def _log(self, case: RepoCase, messages: Sequence[Message], attempt: Attempt, shown: str) -> None:
        """The turn's line of the conversation log: what was sent, the reply, the method tested and
        the tests' output it answered (the report's viewer shows it as the turn's feedback)."""
        answer, run = attempt.answer, attempt.run
        self.log.append(
            {
                "run_id": self.log.run_id,
                "model": self.log.model,
                "task_id": case.task_id,
                "setting": case.kind,
                "turn": case.turn,
                "messages": [{"role": m.role, "content": m.content} for m in messages],
                "reply": answer.reply if answer.reply is not None else answer.text,
                "program": attempt.program,
                "passed": attempt.passed,
                "run_error": attempt.not_run or (run.crashed if run is not None else ""),
                "output": run.output if run is not None else "",
                "usage": answer.usage,
                "latency_s": answer.latency,
                "cached": answer.cached,
                "feedback": {"execution": output_tail(shown)} if shown else None,
            }
        )

    def close(self) -> None:
        if "log" in self.__dict__:
            self.log.close()


def _as_sent(answer: Answer) -> str:
    """An answer as the history holds it: the reply without its reasoning (the reference's code fenced)."""
    if answer.reply is not None:
        return drop_reasoning(answer.reply).strip()
    return f"```python\n{answer_code(answer)}\n```"


def repotasks_scores(records: Sequence[Record]) -> dict[str, Any]:
    return {"repotasks": summarize_repotasks(records)}


KINDS.register(REPOTASKS)(
    SuiteKind(
        REPOTASKS,
        accepts=lambda tests, conversational: tests == "repository",
        open=RepoSuite,
        scores=repotasks_scores,
    )
)
