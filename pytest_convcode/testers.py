"""How each kind of data set is posed and tested in a conversation (``conversation.Tester``).

BigCodeBench's tests are unittest classes, run in the sandbox test by test; HumanEval+ and MBPP+
are judged by the differential judge, their "base" tests being the public ones.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, get_args

from . import env
from .conversation import Evaluation
from .datasets.bigcodebench import CPU_BUDGET, WALL_BUDGET, imported_modules, job_for
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
EXPLANATION_LINES = 12  # of the first failure's traceback, in an item's failure message


@dataclass(frozen=True)
class Reference:
    """The task's reference solution on this machine: why it fails its tests ("" when it
    passes them), and the tests it skips (a test it skips is left out for every program)."""

    failure: str
    skipped: frozenset[str]


@dataclass
class UnitTester:
    """BigCodeBench: the instruct prompt (or the complete one) and the task's unittest class.

    A failure is the program's only if the task can pass here at all: when a program fails, the
    reference solution is run too (once per task, the result kept in ``cache_dir``), and if it
    fails as well the task cannot be judged on this machine (it needs the network, data files a
    library downloads, ...): an environment error, not the model's failure. A test the program
    skipped fails, unless the reference skips it here too: then it is left out.
    """

    sandbox: Sandbox
    cache_dir: Path
    prompt: PromptKind = "instruct"
    cpu_budget: float = CPU_BUDGET  # per task, the reference's run too
    wall_budget: float = WALL_BUDGET
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
            explanation=_explain(result),
        )

    def reference(self, problem: UnitTask) -> Reference:
        """How the reference solution does on this machine (run once per task, then cached)."""
        # not the ``.reference`` files of earlier versions: they held the failure alone; a budget
        # other than ConvCodeWorld's is in the name (what fails in 121 s may pass in 241 s)
        budget = "" if self.wall_budget == WALL_BUDGET else f"-{self.wall_budget:g}s"
        path = self.cache_dir / f"{problem.task_id.replace('/', '_')}.reference{budget}.json"
        with self._lock:
            if problem.task_id in self._references:
                return self._references[problem.task_id]
        if path.exists():
            cached = json.loads(path.read_text())
        else:
            result = self.sandbox.run_tests(self._job(problem, problem.reference_program))
            skipped = [o.name for o in result.outcomes if o.status == "skipped"]
            result = replace(result, outcomes=[o for o in result.outcomes if o.status != "skipped"])
            cached = {"failure": _explain(result), "skipped": skipped}
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cached))
            os.replace(tmp, path)  # xdist workers may race: either write is right
        why = cached["failure"]
        if why:
            why = f"{problem.task_id} cannot be judged here: its reference solution fails too; " + why
        reference = Reference(why, frozenset(cached["skipped"]))
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


def _explain(result: SuiteResult) -> str:
    if result.passed:
        return ""
    if result.load_error is not None:
        return "the program did not load:\n" + _tail(result.load_error)
    failures = result.failures
    if not failures:
        return f"the tests did not finish: {result.how_it_ended}"
    first = failures[0]
    return f"{len(failures)} of {len(result.outcomes)} tests did not pass; first, {first.name} ({first.status}):\n" + (
        _tail(first.detail)
    )


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-EXPLANATION_LINES:])


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
