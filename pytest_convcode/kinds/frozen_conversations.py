"""ConvCodeBench: conversations replayed from a frozen reference (``--reference-log``). One item per
task, feedback setting and turn, as in ConvCodeWorld ("BigCodeBench/13-cf-ef_full-expert-turn3").

Turn 0 is the target's own single-turn answer (ConvCodeWorld's turn-0 request, so the generation
cache shares it). Turn k >= 1 shows the target the reference's turn k-1 program with compilation
feedback recomputed on it and the execution and verbal feedback the log holds: no simulated user is
ever asked. When the reference's turn k-1 program passed, the turn is settled without a request.
The target's program is judged on the full hidden tests and never fed forward, so every turn is
independent of the others and all of them are requested ahead at once. Scores: GUIDE section 3,
``conversation_metrics.summarize_convcodebench``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pytest

from ..conversation import EnvironmentProblem, Evaluation, Tester, explained, program_of, turn_messages
from ..conversation_metrics import summarize_convcodebench
from ..datasets import LoadedDataset
from ..errors import UsageError
from ..feedback import ExecutionFeedback, Setting, UserFeedback, compilation_feedback
from ..feedback.turn import Feedback
from ..models import Answer, Request
from ..records import CONVCODEBENCH, Record
from ..reference_log import SETTINGS, TURNS, ReferenceLog, ReferenceTurn, load_reference_log
from ..services import Services
from ..tasks import Problem
from .conversations import ConversationSuite, TurnCase
from .kind import KINDS, SuiteKind, request_fields

NO_REFERENCE = (
    "ConvCodeBench replays a frozen reference: give --reference-log=<a ConvCodeWorld run folder, "
    "an official-format parquet file or hf:NAME>"
)
DEFAULT_SETTINGS = tuple(Setting.from_id(setting) for setting in SETTINGS)  # the five with verbal feedback


@dataclass(frozen=True)
class FrozenVerdict:
    passed: bool
    explanation: str


@dataclass(frozen=True)
class _Attempt:
    """The target's answer to one request, and how its program fared."""

    answer: Answer
    program: str
    evaluation: Evaluation


@dataclass
class FrozenSuite:
    services: Services
    name: str
    _reference: ReferenceLog | None = None
    _own: dict[str, _Attempt] = field(default_factory=dict)  # each task's turn 0, shared by its settings
    _verdicts: dict[tuple[str, str], bool] = field(default_factory=dict)  # (task, reference program) -> passed
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def dataset(self) -> LoadedDataset:
        return self.services.dataset(self.name)

    @cached_property
    def tester(self) -> Tester[Any]:
        return self.services.tester(self.name)

    @property
    def reference(self) -> ReferenceLog:
        assert self._reference is not None  # read by cases(), before any item runs
        return self._reference

    def cases(self, settings: tuple[Setting, ...] | None) -> tuple[list[TurnCase], list[str]]:
        max_turns = self.services.conversations.max_turns
        if max_turns > TURNS:
            raise UsageError(f"ConvCodeBench's reference has {TURNS} turns: give --max-turns {TURNS} or fewer")
        settings = settings or DEFAULT_SETTINGS
        problems = ConversationSuite(self.services, self.name).problems()
        spec = self.services.data.reference_log
        if spec:  # without one, every item is skipped saying so (as a simulated user's settings are)
            # keys of a dict: in the run's order (a missing task is named as before), and a run folder's
            # reader asks of each of its lines whether the run has its task (a list: 1140 compares)
            tasks = dict.fromkeys(p.task_id for p in problems)
            self._reference = load_reference_log(spec, tasks, [s.id for s in settings])
        turns = range(max_turns + 1)
        return [TurnCase(task, s, t) for task in problems for s in settings for t in turns], []

    def request(self, case: TurnCase) -> Request:
        """Turn 0: the task alone; turn k: the reference's turn k-1 program and the feedback on it."""
        statement = self.tester.statement(case.task)
        if case.turn == 0:
            return Request(case.task, turn_messages(statement, ()), turn=0)
        before = self._turn(case)
        execution = before.execution if case.setting.execution != "none" else ""
        verbal = before.verbal if case.setting.user != "none" else ""
        feedback = Feedback(
            compilation_feedback(before.code),
            ExecutionFeedback(execution, passed=False, shown=(), failing=()) if execution else None,
            UserFeedback(verbal, verbal) if verbal else None,
        )
        return Request(case.task, turn_messages(statement, [(before.code, feedback)]), turn=case.turn)

    def _turn(self, case: TurnCase) -> ReferenceTurn:
        return self.reference.conversation(case.task_id, case.setting.id)[case.turn - 1]

    def start(self, cases: Sequence[TurnCase], everything: bool) -> None:
        """Request every turn the reference does not settle, as far as the log says so already
        (an official log's turns are judged here only as their items run)."""
        if self._reference is None:
            return
        wanted = {
            (c.task_id, c.turn, c.turn and c.setting.id): c
            for c in cases
            if c.turn == 0 or self._turn(c).passed is False
        }
        self.services.prefetch([self.request(case) for case in wanted.values()])  # turn 0 once per task

    def cost(self, case: TurnCase) -> float:
        return 0.0

    def judge(self, case: TurnCase, record: dict[str, Any]) -> FrozenVerdict:
        if self._reference is None:
            pytest.skip(NO_REFERENCE)
        record.update(setting=case.setting.id, turn=case.turn, reference=self.reference.source)
        if case.turn > 0:
            reference_passed = self._reference_passed(case.task, self._turn(case))
            record["reference_passed"] = reference_passed
            if reference_passed:
                record.update(settled=True, target_passed=None, solved_at=case.turn)
                return FrozenVerdict(True, f"settled: the reference's turn {case.turn - 1} passed")
        record["settled"] = False
        attempt = self._own_turn(case) if case.turn == 0 else self._attempt(self.request(case))
        record.update(request_fields(attempt.answer))
        passed = attempt.evaluation.passed
        record.update(program=attempt.program, target_passed=passed, solved_at=case.turn if passed else None)
        explanation = attempt.evaluation.explanation or "the tests did not pass"
        if not passed:
            record["failure"] = explanation
        return FrozenVerdict(passed, "passed" if passed else explanation)

    def _own_turn(self, case: TurnCase) -> _Attempt:
        """The task's turn 0: the first setting to ask has its answer, the others reuse it."""
        with self._lock:
            shared = self._own.get(case.task_id)
        if shared is not None:
            return _Attempt(shared.answer.reused(), shared.program, shared.evaluation)
        attempt = self._attempt(self.request(case))
        with self._lock:
            self._own.setdefault(case.task_id, attempt)
        return attempt

    def _attempt(self, request: Request) -> _Attempt:
        answer = self.services.generator.answers(request)[0]
        program = program_of(answer, request.task)
        return _Attempt(answer, program, explained(self._evaluate(request.task, program), answer))

    def _evaluate(self, task: Problem, program: str) -> Evaluation:
        evaluation = self.tester.evaluate(task, program)
        if evaluation.environment_error:
            raise EnvironmentProblem(evaluation.environment_error)
        return evaluation

    def _reference_passed(self, task: Problem, turn: ReferenceTurn) -> bool:
        """The reference's verdict on its program: the log's, else judged here once per program."""
        if turn.passed is not None:
            return turn.passed
        key = (task.task_id, turn.code)
        with self._lock:
            known = self._verdicts.get(key)
        if known is None:
            known = self._evaluate(task, turn.code).passed
            with self._lock:
                self._verdicts[key] = known
        return known

    def close(self) -> None:
        pass


def convcodebench_scores(records: Sequence[Record]) -> dict[str, Any]:
    summary = summarize_convcodebench(records)
    for entry in summary.values():
        entry["label"] = Setting.from_id(entry["setting"]).label
    return {"convcodebench": summary}


KINDS.register(CONVCODEBENCH)(
    SuiteKind(
        CONVCODEBENCH,
        accepts=lambda tests, conversational: False,  # only a suite module that names it: KIND = "convcodebench"
        open=FrozenSuite,
        scores=convcodebench_scores,
    )
)
