"""The data set registry: each suite's data set by name, with how its tasks are tested.

A leaf module, so that each loader module registers itself here without importing back the
package that looks data sets up (``datasets/__init__.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ..registry import Registry

# how a data set's tasks are tested: calls judged against the reference's outputs (HumanEval+),
# unittest modules (BigCodeBench), predictions of what code does (CRUXEval), a repository's own
# tests (repository tasks), or programs compiled and run with their tests appended (MultiPL-E)
TaskKind = Literal["calls", "unittest", "reasoning", "repository", "programs"]


class LoadedDataset(Protocol):
    """What every data set says of itself: summary.json records it, caches are keyed by it."""

    @property
    def name(self) -> str: ...  # "HumanEval+"

    @property
    def suite(self) -> str: ...  # "humaneval": the suite's name and score prefix

    @property
    def version(self) -> str: ...

    @property
    def source(self) -> str: ...  # the file it was read from

    @property
    def digest(self) -> str: ...  # sha256 of that file


@dataclass(frozen=True)
class DataSource:
    """Which copy of a data set to load: ``--dataset-version``, ``--dataset-path``, ``--rag-path``,
    ``--dataset`` (``hf:NAME@VERSION``, read through ``datasets``), ``--repo-tasks`` (None: the
    bundled default)."""

    version: str | None = None
    path: Path | None = None
    rag_path: Path | None = None
    hub: str | None = None
    repo_tasks: str | None = None


@dataclass(frozen=True)
class DatasetEntry:
    tests: TaskKind
    load: Callable[[DataSource], LoadedDataset]


DATASETS: Registry[DatasetEntry] = Registry("data set")
