"""Benchmark data sets: the registry (``registry.py``), the reading of data files (``files.py``)
and one module of loaders per family (EvalPlus, BigCodeBench, code reasoning), which register
themselves when this package is imported."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..tasks import Dataset, UnitDataset
from . import bigcodebench, evalplus, multipl_e  # noqa: F401  (register their loaders)
from .files import DATA_DIR, DatasetError, read_jsonl, read_tasks, reference_costs, require
from .reasoning import ReasoningDataset
from .registry import DATASETS, DatasetEntry, DataSource, LoadedDataset, TaskKind

__all__ = [
    "DATASETS",
    "DATA_DIR",
    "DataSource",
    "DatasetEntry",
    "DatasetError",
    "LoadedDataset",
    "TaskKind",
    "entry",
    "load",
    "load_reasoning",
    "load_unit",
    "read_jsonl",
    "read_tasks",
    "reference_costs",
    "require",
]


def entry(suite: str) -> DatasetEntry:
    """A suite's data set entry (known without loading it); an unknown name lists the known ones."""
    return DATASETS.get(suite)


def load(suite: str, version: str | None = None, path: Path | None = None) -> Dataset:
    """A data set whose tests are calls (HumanEval+, MBPP+)."""
    dataset = entry(suite).load(DataSource(version, path))
    if not isinstance(dataset, Dataset):
        raise UsageError(f"data set {suite!r} holds {entry(suite).tests} tasks: load it with datasets.load_unit()")
    return dataset


def load_unit(suite: str, version: str | None = None, path: Path | None = None) -> UnitDataset:
    """A data set whose tests are unittest modules (BigCodeBench)."""
    dataset = entry(suite).load(DataSource(version, path))
    if not isinstance(dataset, UnitDataset):
        raise UsageError(f"data set {suite!r} holds call-based tasks: load it with datasets.load()")
    return dataset


def load_reasoning(suite: str, path: Path | None = None, rag_path: Path | None = None) -> ReasoningDataset:
    """A code reasoning data set (CRUXEval, CodeGlance)."""
    dataset = entry(suite).load(DataSource(path=path, rag_path=rag_path))
    if not isinstance(dataset, ReasoningDataset):
        raise UsageError(f"data set {suite!r} holds {entry(suite).tests} tasks, not code reasoning")
    return dataset
