"""Single-turn code generation (HumanEval+, MBPP+): one item per task and sample, judged by the
differential judge against the reference's outputs, base and plus tests as EvalPlus runs them."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..errors import UsageError
from ..feedback import Setting
from ..judge import Verdict
from ..models import Request
from ..records import SINGLE
from ..services import Services
from ..tasks import Dataset, Task
from .kind import KINDS, Answers, SuiteKind, one_turn_scores, request_fields, selected, timed


class SandboxIsolationWarning(UserWarning):
    """This machine cannot provide part of the sandbox's isolation."""


@dataclass(frozen=True)
class Case:
    """One item: a task and the index of the sample being judged."""

    task: Task
    sample: int
    samples: int  # how many the model gives for this task

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def id(self) -> str:
        return self.task_id if self.samples == 1 else f"{self.task_id}-s{self.sample}"

    @property
    def request(self) -> Request:
        """What is asked of the model: all samples of the task at once."""
        return Request(self.task, n=self.samples)


@dataclass
class SingleTurnSuite:
    services: Services
    name: str

    def __post_init__(self) -> None:
        self.answers = Answers(self.services)

    @cached_property
    def dataset(self) -> Dataset:
        dataset = self.services.dataset(self.name)
        assert isinstance(dataset, Dataset)  # the kind accepts call-tested data sets only
        return dataset

    def cases(self, settings: tuple[Setting, ...] | None) -> tuple[list[Case], list[str]]:
        """The items of the suite, and notes on samples that do not fit the data set."""
        data = self.services.data
        if data.subset is not None:
            raise UsageError(f"--subset {data.subset} is for BigCodeBench; {self.name} has no subsets")
        dataset, model = self.dataset, self.services.model
        cases: list[Case] = []
        for task in selected(self.name, dataset.tasks, data.tasks):
            n = model.samples(task)
            cases.extend(Case(task, i, n) for i in range(n))
        notes = []
        covered = {c.task_id for c in cases}
        if data.tasks is None and len(covered) < len(dataset.tasks):
            notes.append(f"{model.name} answers {len(covered)} of the {len(dataset.tasks)} {dataset.name} tasks")
        unknown = sorted(set(getattr(model, "answers", {})) - set(dataset.tasks))
        if unknown:
            notes.append(
                f"{len(unknown)} samples name tasks that {dataset.name} {dataset.version} lacks "
                f"(e.g. {unknown[0]}): is --dataset-version right?"
            )
        return cases, notes

    def start(self, cases: Sequence[Case], everything: bool) -> None:
        self.services.prefetch(list({c.task_id: c.request for c in cases}.values()))

    def cost(self, case: Case) -> float:
        return self.services.judge(self.name).expected_cost(case.task)

    def judge(self, case: Case, record: dict[str, Any]) -> Verdict:
        """The case's answer, judged; harness trouble raises here (an E)."""
        record["sample"] = case.sample
        started = time.perf_counter()
        answer = self.answers.sample(case.task_id, case.request, case.sample)
        generated = time.perf_counter()
        if self.services.model.cacheable:
            record.update(request_fields(answer))
            if answer.reply is not None:
                record["reply"] = answer.reply
        judge = self.services.judge(self.name)
        for text in self.services.sandbox_warnings():
            warnings.warn(SandboxIsolationWarning(text), stacklevel=1)
        if answer.why:  # no program, or one cut short at max_tokens: not a syntax error
            verdict = judge.unanswered(case.task, answer.why)
        else:
            verdict = judge.judge(case.task, answer.program(case.task))
        record["phases"] = {
            name: {"passed": p.passed, "n_passed": p.n_passed, "n": len(p.statuses), "tests": p.statuses}
            for name, p in verdict.phases.items()
        }
        if not verdict.passed:
            record["failure"] = verdict.explanation
        record["program"] = verdict.program
        timed(record, started, generated)
        return verdict

    def close(self) -> None:
        pass


KINDS.register(SINGLE)(
    SuiteKind(
        SINGLE,
        accepts=lambda tests, conversational: tests == "calls" and not conversational,
        open=SingleTurnSuite,
        scores=one_turn_scores,
    )
)
