"""One-turn code generation on tasks tested by unittest classes (BigCodeBench): one item per task
and sample; the program runs with the task's tests in the sandbox, as ConvCodeWorld's turn 0
does (the same request, so the two share cached answers). A task that cannot be judged on this
machine (a library it needs is missing, its own reference fails here) is an error (E)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest

from ..conversation import Evaluation, Tester
from ..datasets import reference_costs
from ..datasets.bigcodebench import LEADERBOARD_BUDGET, hard_ids, stdlib_only
from ..datasets.bigcodebench_formats import calibrate
from ..feedback import Setting
from ..models import Message, Request
from ..records import UNITTEST
from ..services import Services
from ..tasks import UnitDataset, UnitTask
from .kind import KINDS, Answers, SuiteKind, one_turn_scores, request_fields, selected, timed

DEFAULT_SPLIT = "instruct"  # of the full set: scored as plain ``bigcodebench``


@dataclass(frozen=True)
class UnitCase:
    task: UnitTask
    sample: int
    samples: int
    statement: str  # what the model is asked: the instruct prompt, or the code to complete

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def id(self) -> str:
        return self.task_id if self.samples == 1 else f"{self.task_id}-s{self.sample}"

    @property
    def request(self) -> Request:
        return Request(self.task, (Message("user", self.statement),), n=self.samples)


@dataclass
class UnitTestSuite:
    services: Services
    name: str

    def __post_init__(self) -> None:
        self.answers = Answers(self.services)

    @cached_property
    def dataset(self) -> UnitDataset:
        dataset = self.services.dataset(self.name)
        assert isinstance(dataset, UnitDataset)  # the kind accepts unittest-tested data sets only
        return dataset

    @cached_property
    def tester(self) -> Tester[Any]:
        """The data set's tester under BigCodeBench 0.2's per-task budget (ConvCodeWorld keeps its own)."""
        return self.services.tester(self.name, LEADERBOARD_BUDGET)

    @cached_property
    def split(self) -> str:
        """BigCodeBench's name of what was asked (its score group, ``bigcodebench-<split>``, except
        the default full instruct set's, plain ``bigcodebench``): ``instruct`` or ``complete``, after
        the subset where it is not the full set (``hard-complete``)."""
        data = self.services.data
        prompt = data.prompt or "instruct"
        return prompt if data.subset in (None, "full") else f"{data.subset}-{prompt}"

    @property
    def calibrated(self) -> bool:
        """Programs are calibrated as BigCodeBench's evaluator does it by default (since 0.2), unless
        ``--no-calibrate``: the leaderboard's scores are calibrated ones."""
        return self.services.data.calibrate is not False

    def cases(self, settings: tuple[Setting, ...] | None) -> tuple[list[UnitCase], list[str]]:
        data, model, tester = self.services.data, self.services.model, self.tester
        hard = hard_ids() if data.subset == "hard" else None
        cases: list[UnitCase] = []
        for task in selected(self.name, self.dataset.tasks, data.tasks):
            if (data.subset == "stdlib" and not stdlib_only(task)) or (hard is not None and task.task_id not in hard):
                continue
            n = model.samples(task)
            cases.extend(UnitCase(task, i, n, tester.statement(task)) for i in range(n))
        return cases, []

    def start(self, cases: Sequence[UnitCase], everything: bool) -> None:
        self.services.prefetch(list({c.task_id: c.request for c in cases}.values()))

    def cost(self, case: UnitCase) -> float:
        """The bundled wall seconds of the task's reference: its tasks that sleep or serve (461 waits
        100 s) hold a worker as long as those that compute, and started last they would end the run."""
        return reference_costs(self.dataset.digest).get(case.task_id, 0.0)

    def judge(self, case: UnitCase, record: dict[str, Any]) -> Evaluation:
        record["sample"] = case.sample
        if self.split != DEFAULT_SPLIT:  # the default keeps the suite's own group, as older runs have it
            record["split"] = self.split
        started = time.perf_counter()
        answer = self.answers.sample(case.task_id, case.request, case.sample)
        generated = time.perf_counter()
        if self.services.model.cacheable:
            record.update(request_fields(answer), reply=answer.reply if answer.reply is not None else answer.text)
        program = answer.program(case.task) if answer.text else ""
        if self.calibrated:
            program = calibrate(case.task, program)
        evaluation = self.tester.evaluate(case.task, program)
        timed(record, started, generated)
        if evaluation.environment_error:
            pytest.fail(evaluation.environment_error, pytrace=False)
        if answer.why:  # no program, or one cut short at max_tokens
            evaluation = Evaluation(False, evaluation.outcomes, explanation=f"the reply held no program: {answer.why}")
        record["tests"] = {o.name: o.status for o in evaluation.outcomes}
        record["details"] = {o.name: o.detail for o in evaluation.outcomes if o.status not in ("passed", "skipped")}
        if not evaluation.passed:
            record["failure"] = evaluation.explanation
        record["program"] = program
        return evaluation

    def close(self) -> None:
        pass


KINDS.register(UNITTEST)(
    SuiteKind(
        UNITTEST,
        accepts=lambda tests, conversational: tests == "unittest" and not conversational,
        open=UnitTestSuite,
        scores=one_turn_scores,
    )
)
