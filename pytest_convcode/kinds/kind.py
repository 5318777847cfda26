"""What a suite kind is, and the registry of kinds.

A suite module names its data set (``SUITE = "humaneval"``) and, for conversations, its feedback
settings (``FEEDBACK = "all"``). Which kind of suite that makes is decided here, from how the data
set's tasks are tested and whether the run converses: each registered ``SuiteKind`` says which it
accepts. The kind then owns everything particular to it: its cases (one pytest item each), how an
item is judged and what its record holds, and how a run's records of that kind are scored. The
plugin only goes through this interface: a new kind is a module of its own plus its registration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pytest

from ..datasets import LoadedDataset, TaskKind, entry
from ..errors import UsageError
from ..feedback import Setting
from ..metrics import summarize
from ..models import Answer, Request
from ..records import Record
from ..registry import Registry
from ..services import Services

C = TypeVar("C", contravariant=True)
T = TypeVar("T")


class Verdict(Protocol):
    """What a suite module's test gets from ``convcode_verdict``: passed or not, and why."""

    @property
    def passed(self) -> bool: ...

    @property
    def explanation(self) -> str: ...


class Case(Protocol):
    """One item: its id (``HumanEval/12``, ``BigCodeBench/13-cf-ef_full-expert-turn3``) and task."""

    @property
    def id(self) -> str: ...

    @property
    def task_id(self) -> str: ...


class Suite(Protocol[C]):
    """One suite's items of one kind, in one pytest process (each xdist worker has its own)."""

    @property
    def name(self) -> str: ...  # the suite module's SUITE: its data set's name

    @property
    def dataset(self) -> LoadedDataset: ...

    def cases(self, settings: tuple[Setting, ...] | None) -> tuple[Sequence[Case], list[str]]:
        """The items, and notes on what was left out (shown as warnings)."""
        ...

    def start(self, cases: Sequence[C], everything: bool) -> None:
        """The collected items, in the order they will run: start work ahead of them (requests,
        conversations). ``everything``: this process runs all of them."""
        ...

    def cost(self, case: C) -> float:
        """What judging the case is expected to cost, in CPU seconds: under xdist the dearest
        items start first. 0 keeps the collection order."""
        ...

    def judge(self, case: C, record: dict[str, Any]) -> Verdict:
        """Answer and judge the case, adding the kind's fields to its ``record`` as they become
        known (so that a record of an item that errored keeps what was learnt before). Trouble
        the candidate could not have caused raises: the item is an error (E)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SuiteKind:
    """A kind of suite, as it registers: its name (every record's ``"kind"``), which data sets it
    runs (how their tasks are tested, in one turn or with ``--feedback``), its ``Suite`` for one
    suite in one process, and summary.json's sections (``scores``, ``conversations``,
    ``features``) from its records."""

    name: str
    accepts: Callable[[TaskKind, bool], bool]  # (tests, conversational)
    open: Callable[[Services, str], Suite[Any]]  # (services, suite name)
    scores: Callable[[Sequence[Record]], dict[str, Any]]


def one_turn_scores(records: Sequence[Record]) -> dict[str, Any]:
    """pass@k per score group: the scores of a kind that judges each sample once."""
    return {"scores": summarize(records)}


KINDS: Registry[SuiteKind] = Registry("suite kind")


def kind_for(suite: str, settings: tuple[Setting, ...] | None) -> SuiteKind:
    """The kind a suite runs as: the one that accepts its data set's tests, in one turn or in
    conversations (``settings``)."""
    tests = entry(suite).tests
    conversational = settings is not None
    for name in KINDS:
        kind = KINDS.get(name)
        if kind.accepts(tests, conversational):
            return kind
    how = "with --feedback" if conversational else "in one turn: give --feedback to converse"
    raise UsageError(f"{suite} holds {tests} tasks, which no suite kind runs {how}")


@dataclass
class Answers:
    """A suite's answers by the id its samples share: all samples of a task are asked for in one
    request, the first time one of its items needs them."""

    services: Services
    _got: dict[str, list[Answer]] = field(default_factory=dict)

    def sample(self, key: str, request: Request, index: int) -> Answer:
        if key not in self._got:
            self._got[key] = self.services.generator.answers(request)
        return self._got[key][index]


def selected(suite: str, tasks: Mapping[str, T], wanted: frozenset[str] | None) -> list[T]:
    """The tasks that ``--tasks`` leaves, in data set order; naming a task the suite lacks is a
    usage error."""
    if wanted is None:
        return list(tasks.values())
    unknown = sorted(wanted - set(tasks))
    if unknown:
        raise UsageError(f"--tasks names {len(unknown)} tasks that {suite} lacks, e.g. {unknown[0]!r}")
    return [task for task_id, task in tasks.items() if task_id in wanted]


def expect_pass(verdict: Verdict) -> None:
    """Fail the item with the verdict's explanation (no traceback of the harness): what a suite
    module's test does with its ``convcode_verdict``."""
    if not verdict.passed:
        pytest.fail(verdict.explanation, pytrace=False)


def timed(record: dict[str, Any], started: float, generated: float) -> None:
    """Add the item's seconds getting its answer (from ``started``) and judging it (from
    ``generated`` until now) to its record."""
    record["generate_s"] = round(generated - started, 4)
    record["judge_s"] = round(time.perf_counter() - generated, 4)


def request_fields(answer: Answer, prefix: str = "") -> dict[str, Any]:
    """Which request gave the answer (``request_id``: shared by its samples, and by the items that
    reuse it), what it cost and how it ended: summary.json's ``generation`` totals are summed from
    these, counting a ``cached`` answer where it was made. ``prefix``: "user_" for the simulator's."""
    fields = {
        "usage": answer.usage,
        "latency_s": answer.latency,
        "queue_s": answer.queue_s,
        "retries": answer.retries,
        "cached": answer.cached,
        "request_id": answer.request_id,
        "finish_reason": answer.finish_reason,
    }
    return {prefix + name: value for name, value in fields.items()}
