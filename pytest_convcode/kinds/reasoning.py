"""Code reasoning (CRUXEval, CodeGlance): one item per task, mode and sample; the model's
prediction is checked in the sandbox against the data set's answer (``reasoning/``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import pytest

from ..datasets.reasoning import ReasoningDataset
from ..errors import UsageError
from ..feedback import Setting
from ..metrics import summarize
from ..models import Message, Request
from ..reasoning import STYLES, PromptStyle, Question, ReasoningVerdict, extract, feature_scores
from ..records import REASONING, Record
from ..services import Services
from .kind import KINDS, Answers, SuiteKind, request_fields, selected, timed


@dataclass(frozen=True)
class ReasoningCase:
    """One item of a code reasoning suite: a question (task and mode) and a sample index.
    Its id names the mode, so that ``-k output`` selects output prediction."""

    task: Question
    sample: int
    samples: int

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def base_id(self) -> str:
        """The id its samples share."""
        return f"{self.task_id}-{self.task.mode}"

    @property
    def id(self) -> str:
        return self.base_id if self.samples == 1 else f"{self.base_id}-s{self.sample}"

    @property
    def request(self) -> Request:
        """The prompt goes out as written (no alias instruction around it); replies come back whole."""
        return Request(self.task, (Message("user", self.task.prompt),), n=self.samples, verbatim=True)


@dataclass
class ReasoningSuite:
    services: Services
    name: str

    def __post_init__(self) -> None:
        self.answers = Answers(self.services)

    @cached_property
    def dataset(self) -> ReasoningDataset:
        dataset = self.services.dataset(self.name)
        assert isinstance(dataset, ReasoningDataset)  # the kind accepts reasoning data sets only
        return dataset

    def cases(self, settings: tuple[Setting, ...] | None) -> tuple[list[ReasoningCase], list[str]]:
        """Every selected task in each mode its data set allows, each sample an item; and a
        note for each record of the data file that was left out."""
        if settings is not None:
            raise UsageError(f"{self.name} predicts what code does, in one turn: --feedback is for code generation")
        style = cast(PromptStyle, self.services.data.prompt or "direct")
        if style not in STYLES:
            raise UsageError(f"--prompt {style} is not a code reasoning prompt; use one of {', '.join(STYLES)}")
        dataset, model = self.dataset, self.services.model
        cases: list[ReasoningCase] = []
        for task in selected(self.name, dataset.tasks, self.services.data.tasks):
            for mode in dataset.modes:
                question = Question(task, mode, style)
                n = model.samples(question)
                cases.extend(ReasoningCase(question, i, n) for i in range(n))
        return cases, [f"left out: {why}" for why in dataset.skipped]

    def start(self, cases: Sequence[ReasoningCase], everything: bool) -> None:
        self.services.prefetch(list({c.base_id: c.request for c in cases}.values()))

    def cost(self, case: ReasoningCase) -> float:
        return 0.0

    def judge(self, case: ReasoningCase, record: dict[str, Any]) -> ReasoningVerdict:
        """The model's prediction, run against the data set's answer in the sandbox. Code of the
        task that cannot run here (a missing library) is an error (E)."""
        question = case.task
        record.update(
            mode=question.mode, style=question.style, sample=case.sample, features=dict(question.task.features)
        )
        started = time.perf_counter()
        answer = self.answers.sample(case.base_id, case.request, case.sample)
        generated = time.perf_counter()
        if self.services.model.cacheable:
            record.update(request_fields(answer))
            record["reply"] = answer.text
        prediction = extract(answer.text, question, cut=answer.finish_reason == "length")
        verdict = self.services.reasoning_judge.judge(question, prediction)
        timed(record, started, generated)
        if verdict.environment:
            pytest.fail(f"the task's code cannot run here: {verdict.explanation}", pytrace=False)
        record["prediction"] = verdict.prediction
        if not verdict.passed:
            record["failure"] = verdict.explanation
        return verdict

    def close(self) -> None:
        pass


def reasoning_scores(records: Sequence[Record]) -> dict[str, Any]:
    """pass@k per mode, and by code feature. (With --feedback too, ``accepts`` takes the suite:
    its ``cases`` say why that cannot be.)"""
    features = {group: f for group, f in feature_scores(r for r in records if r.get("features")).items() if f}
    return {"scores": summarize(records), "features": features}


KINDS.register(REASONING)(
    SuiteKind(
        REASONING,
        accepts=lambda tests, conversational: tests == "reasoning",
        open=ReasoningSuite,
        scores=reasoning_scores,
    )
)
