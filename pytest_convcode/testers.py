"""How each kind of data set is posed and tested in a conversation (``conversation.Tester``).

BigCodeBench's tests are unittest classes, run in the sandbox test by test; HumanEval+ and MBPP+
are judged by the differential judge, their "base" tests being the public ones.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, get_args

from . import env
from .conversation import Evaluation
from .datasets.bigcodebench import CPU_BUDGET, WALL_BUDGET, imported_modules, job_for
from .env import references
from .env.references import Reference, explain
from .errors import UsageError
from .feedback import Outcome, public_tests
from .feedback.execution import Rule
from .judge import DifferentialJudge
from .sandbox import Sandbox, SuiteResult, TestJob, TestOutcome
from .tasks import Task, UnitTask

PromptKind = Literal["instruct", "complete"]
COMPLETE = "Complete the following Python code so that it does what its docstring says.\n\n```python\n{prompt}\n```"
CALLS = "Complete the following Python function so that it passes its tests.\n\n```python\n{prompt}\n```"
_MISSING = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")


@dataclass
class UnitTester:
    """BigCodeBench: the instruct prompt (or the complete one) and the task's unittest class.

    A failure is the program's only if the task can pass here at all: when a program fails, the
    reference solution's verdict is read (from ``known``, the environment check's, or from
    ``cache_dir``) or run once and kept in ``cache_dir``; if it fails as well the task cannot be
    judged on this machine (it needs the network, data files a library downloads, ...): an
    environment error, not the model's failure. A test the program skipped fails, unless the
    reference skips it here too: then it is left out.
    """

    sandbox: Sandbox
    cache_dir: Path
    prompt: PromptKind = "instruct"
    cpu_budget: float = CPU_BUDGET  # per task, the reference's run too
    wall_budget: float = WALL_BUDGET
    known: Path | None = None  # the environment check's verdicts (``env/references.py``)
    _references: dict[str, Reference] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.prompt not in get_args(PromptKind):
            raise UsageError(f"unknown prompt {self.prompt!r}; use one of {get_args(PromptKind)}")

    def statement(self, problem: UnitTask) -> str:
        if self.prompt == "instruct":
            return problem.instruct_prompt
        return COMPLETE.format(prompt=problem.complete_prompt.strip())

    def ground_truth(self, problem: UnitTask) -> str:
        return problem.reference_program

    def public_tests(self, problem: UnitTask, rule: Rule) -> tuple[str, ...]:
        return public_tests(problem.test, rule)

    def evaluate(self, problem: UnitTask, program: str) -> Evaluation:
        result = self.sandbox.run_tests(self._job(problem, program))
        if any(o.status == "skipped" for o in result.outcomes):
            result = replace(result, outcomes=_judge_skips(result.outcomes, self.reference(problem).skipped))
        outcomes = tuple(Outcome(o.name, o.status, o.detail) for o in result.outcomes)
        environment_error = ""
        if not result.passed:
            environment_error = _missing_library(problem, result) or self.reference(problem).failure
        return Evaluation(
            passed=result.passed,
            outcomes=outcomes,
            run_error=result.load_error or "",
            environment_error=environment_error,
            explanation=explain(result),
        )

    def reference(self, problem: UnitTask) -> Reference:
        """How the reference solution does on this machine (run once per task, then kept)."""
        with self._lock:
            if problem.task_id in self._references:
                return self._references[problem.task_id]
        path = self.cache_dir / references.file_name(problem.task_id, self.wall_budget)
        found = references.read(path)
        if found is None and self.known is not None:
            found = references.read(self.known / path.name)
        if found is None:
            found = references.verdict(self.sandbox.run_tests(self._job(problem, problem.reference_program)))
            references.write(path, found)
        why = (
            found.failure
            and f"{problem.task_id} cannot be judged here: its reference solution fails too; {found.failure}"
        )
        reference = Reference(why, found.skipped)
        with self._lock:
            self._references[problem.task_id] = reference
        return reference

    def _job(self, problem: UnitTask, program: str) -> TestJob:
        return job_for(problem, program, cpu_budget=self.cpu_budget, wall_budget=self.wall_budget)


def _judge_skips(outcomes: list[TestOutcome], allowed: frozenset[str]) -> list[TestOutcome]:
    """A test the reference skips too is left out; any other skip is the program's doing: a failure."""
    kept = [o for o in outcomes if o.status != "skipped" or o.name not in allowed]
    return [o if o.status != "skipped" else replace(o, status="failed", detail=_skipped(o)) for o in kept]


def _skipped(outcome: TestOutcome) -> str:
    return f"{outcome.name} was skipped by the program: {outcome.detail or '(no reason given)'}"


def _missing_library(task: UnitTask, result: SuiteResult) -> str:
    """Why the machine, not the program, failed the task: a module that the task itself (its
    reference or its tests) imports is not installed. A module only the candidate imports is
    the candidate's mistake."""
    texts = [result.load_error or ""] + [o.detail for o in result.failures]
    needed = set(task.libs) | imported_modules(task.reference_program + "\n" + task.test)
    for text in texts:
        for name in _MISSING.findall(text):
            if name.partition(".")[0] in needed:
                return (
                    f"{task.task_id} needs the module {name!r}, which the sandbox's Python cannot import: "
                    f"make BigCodeBench's environment with `{env.MAKE_COMMAND}` and pass --sandbox-python auto"
                )
    return ""


@dataclass
class CallTester:
    """HumanEval+ / MBPP+: the prompt's function, judged against the reference's outputs.
    The base tests are public (OpenCodeInterpreter's execution feedback); plus tests stay hidden."""

    judge: DifferentialJudge

    def statement(self, problem: Task) -> str:
        return CALLS.format(prompt=problem.prompt.strip())

    def ground_truth(self, problem: Task) -> str:
        return problem.program(problem.canonical_solution)

    def public_tests(self, problem: Task, rule: Rule) -> tuple[str, ...]:
        return ("base",)

    def evaluate(self, problem: Task, program: str) -> Evaluation:
        verdict = self.judge.judge(problem, program)
        outcomes = tuple(
            Outcome(name, "passed" if phase.passed else "failed", phase.failure)
            for name, phase in verdict.phases.items()
        )
        return Evaluation(verdict.passed, outcomes, explanation="" if verdict.passed else verdict.explanation)
