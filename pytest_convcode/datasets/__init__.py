"""Benchmark data sets: a registry of loaders and the reading of JSON-lines files."""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import UsageError
from ..registry import Registry
from ..tasks import Dataset, UnitDataset

if TYPE_CHECKING:
    from ..reasoning import ReasoningDataset

DATA_DIR = Path(__file__).with_name("data")

# loader(version or None for the default, path or None for the bundled file) -> a data set:
# a Dataset (calls, judged by outputs) or a UnitDataset (unittest modules)
DatasetLoader = Callable[[str | None, Path | None], Dataset | UnitDataset]
DATASETS: Registry[DatasetLoader] = Registry("data set")
UNIT_SUITES: set[str] = set()  # the registered data sets whose tests are unittest modules
# loader(data file or None for the bundled one, API documentation file or None) -> code reasoning questions
ReasoningLoader = Callable[[Path | None, Path | None], "ReasoningDataset"]
REASONING: Registry[ReasoningLoader] = Registry("code reasoning data set")


class DatasetError(UsageError):
    """A data or samples file that cannot be used, naming the file, line and field."""


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) from a .jsonl or .jsonl.gz file, with clear errors."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for lineno, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise DatasetError(f"{path}:{lineno}: not valid JSON ({exc})") from None
                if not isinstance(record, dict):
                    raise DatasetError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
                yield lineno, record
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from None


class _HasTaskId(Protocol):
    @property
    def task_id(self) -> str: ...


TaskT = TypeVar("TaskT", bound=_HasTaskId)


def read_tasks(path: Path, parse: Callable[[dict[str, Any], str], TaskT]) -> dict[str, TaskT]:
    """The tasks of a data file by id, each built by ``parse(record, "file:line")``; a
    repeated id or a file with no task is a DatasetError."""
    tasks: dict[str, TaskT] = {}
    for lineno, record in read_jsonl(path):
        task = parse(record, f"{path}:{lineno}")
        if task.task_id in tasks:
            raise DatasetError(f"{path}:{lineno}: task_id {task.task_id!r} appears twice")
        tasks[task.task_id] = task
    if not tasks:
        raise DatasetError(f"{path}: holds no tasks")
    return tasks


def require(record: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """Return ``record[name]``, or raise a DatasetError naming the file, line and field."""
    if name not in record:
        raise DatasetError(f"{where}: field {name!r} is missing")
    value = record[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        expected = " or ".join(k.__name__ for k in _as_tuple(kind))
        raise DatasetError(f"{where}: field {name!r} must be {expected}, got {type(value).__name__}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


@functools.cache
def reference_costs(digest: str) -> dict[str, float]:
    """The CPU seconds a bundled data file's slow tasks took their reference solution when the
    file was added (``bench/reference_costs.py``), by task id: which tasks to start first on a
    machine that has not yet measured its own (a cold run)."""
    bundled = json.loads((DATA_DIR / "reference_costs.json").read_text())
    seconds: dict[str, float] = bundled["files"].get(digest, {}).get("seconds", {})
    return seconds


def load(suite: str, version: str | None = None, path: Path | None = None) -> Dataset:
    """A data set whose tests are calls (HumanEval+, MBPP+)."""
    dataset = _load(suite, version, path)
    if not isinstance(dataset, Dataset):
        raise UsageError(f"data set {suite!r} holds unittest tasks: load it with datasets.load_unit()")
    return dataset


def load_unit(suite: str, version: str | None = None, path: Path | None = None) -> UnitDataset:
    """A data set whose tests are unittest modules (BigCodeBench)."""
    dataset = _load(suite, version, path)
    if not isinstance(dataset, UnitDataset):
        raise UsageError(f"data set {suite!r} holds call-based tasks: load it with datasets.load()")
    return dataset


def holds_unit_tasks(suite: str) -> bool:
    """Whether a suite's data set is tested by unittest modules (known without loading it)."""
    _register()
    DATASETS.get(suite)  # an unknown name is an error here too
    return suite in UNIT_SUITES


def holds_reasoning_tasks(suite: str) -> bool:
    """Whether a suite asks to predict what code does (CRUXEval, CodeGlance) rather than to write it."""
    _register()
    return suite in REASONING


def load_reasoning(suite: str, path: Path | None = None, rag_path: Path | None = None) -> ReasoningDataset:
    _register()
    return REASONING.get(suite)(path, rag_path)


def _load(suite: str, version: str | None, path: Path | None) -> Dataset | UnitDataset:
    _register()
    return DATASETS.get(suite)(version, path)


def _register() -> None:
    from . import bigcodebench, evalplus, reasoning_sets  # noqa: F401  (register their loaders)
