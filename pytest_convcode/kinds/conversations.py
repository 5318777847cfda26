"""Conversations (ConvCodeWorld, or any code suite with ``--feedback``): one item per task,
feedback setting and turn, each waiting for its turn of a conversation that runs ahead in
``conversation.Conversations``. BigCodeBench's tasks are tested by their unittest classes,
HumanEval+ / MBPP+ by the differential judge (``testers.py``)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pytest

from ..conversation import ConversationLog, Conversations, TurnResult
from ..conversation_metrics import summarize_conversations
from ..datasets import LoadedDataset
from ..datasets.bigcodebench import stdlib_only
from ..errors import UsageError
from ..feedback import Setting
from ..records import CONVERSATION, Record
from ..services import Services, asker
from ..tasks import Dataset, Problem, UnitDataset
from .kind import KINDS, SuiteKind, request_fields, selected


@dataclass(frozen=True)
class TurnCase:
    """One item of a conversation: a task, a feedback setting and a turn. Its id names the
    setting in words that ``-k`` selects ("BigCodeBench/13-cf-ef_full-expert-turn3")."""

    task: Problem
    setting: Setting
    turn: int

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def id(self) -> str:
        return f"{self.task_id}-{self.setting.id}-turn{self.turn}"


@dataclass
class ConversationSuite:
    services: Services
    name: str
    # task id -> the selected conversations of the task not started yet
    _waiting: dict[str, dict[Setting, Problem]] = field(default_factory=dict)

    @cached_property
    def dataset(self) -> LoadedDataset:
        return self.services.dataset(self.name)

    def problems(self) -> list[Problem]:
        """The suite's tasks that --tasks and --subset leave, in data set order."""
        dataset, data = self.dataset, self.services.data
        if isinstance(dataset, UnitDataset):
            tasks = selected(self.name, dataset.tasks, data.tasks)
            return [t for t in tasks if data.subset != "stdlib" or stdlib_only(t)]
        if data.subset is not None:
            raise UsageError(f"--subset {data.subset} is for BigCodeBench; {self.name} has no subsets")
        assert isinstance(dataset, Dataset)
        return list(selected(self.name, dataset.tasks, data.tasks))

    def cases(self, settings: tuple[Setting, ...] | None) -> tuple[list[TurnCase], list[str]]:
        assert settings is not None  # the kind accepts conversational suites only
        turns = range(self.services.conversations.max_turns + 1)
        return [TurnCase(task, s, t) for task in self.problems() for s in settings for t in turns], []

    @cached_property
    def conversations(self) -> Conversations:
        services, place = self.services, self.services.place
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        user = services.user_generator
        return Conversations(
            services.tester(self.name),
            ask_model=asker(services.generator),
            ask_user=asker(user) if user is not None else None,
            options=services.conversations,
            log=ConversationLog(
                place.reports_dir / place.run_id / "conversations" / f"{self.name}-{worker}.jsonl",
                place.run_id,
                services.model.name,
            ),
            evaluations=max(1, (os.cpu_count() or 1) // workers),
        )

    def start(self, cases: Sequence[TurnCase], everything: bool) -> None:
        """Note which conversations were selected; when this process runs them all, start them
        all now, else each task's as its first item asks (xdist keeps a task's items together)."""
        for case in cases:
            self._waiting.setdefault(case.task_id, {})[case.setting] = case.task
        if everything:
            for task_id in list(self._waiting):
                self._start(task_id)

    def _start(self, task_id: str) -> None:
        for setting, task in self._waiting.pop(task_id, {}).items():
            if setting.user == "none" or self.services.user_model is not None:
                self.conversations.start(task, setting)

    def cost(self, case: TurnCase) -> float:
        return 0.0  # turns keep their order: each waits for the one before

    def judge(self, case: TurnCase, record: dict[str, Any]) -> TurnResult:
        """Wait for the case's turn of its conversation, starting the task's conversations first."""
        record.update(setting=case.setting.id, turn=case.turn)
        if case.setting.user != "none" and self.services.user_model is None:
            pytest.skip(f"{case.setting.id} simulates a user: give --user-model, e.g. --user-model openai:gpt-4o")
        self._start(case.task_id)
        started = time.perf_counter()
        result = self.conversations.result(case.task, case.setting, case.turn)
        record["wait_s"] = round(time.perf_counter() - started, 4)
        record["solved_at"] = result.solved_at
        turn = result.turn
        if turn is not None:
            record.update(request_fields(turn.answer))
            if turn.user_answer is not None:  # the simulated user's request, for the feedback this turn answers
                record.update(request_fields(turn.user_answer, "user_"))
            record["program"] = turn.program
            if not result.passed:
                record["failure"] = result.explanation
            user = turn.feedback.user if turn.feedback is not None else None
            if user is not None:
                record["leaked"] = user.leaked
        return result

    def close(self) -> None:
        if "conversations" in self.__dict__:  # started
            self.conversations.close()


def conversation_scores(records: Sequence[Record]) -> dict[str, Any]:
    return {"conversations": summarize_conversations(records)}


KINDS.register(CONVERSATION)(
    SuiteKind(
        CONVERSATION,
        accepts=lambda tests, conversational: tests in ("calls", "unittest") and conversational,
        open=ConversationSuite,
        scores=conversation_scores,
    )
)
