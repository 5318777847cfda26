"""Reading data files: JSON lines with errors that name the file, line and field, and the
bundled files' folder."""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..errors import UsageError

DATA_DIR = Path(__file__).with_name("data")


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
    """The tasks of a data file by id, each built by ``parse(record, "file:line")``."""
    return collect_tasks(((f"{path}:{lineno}", record) for lineno, record in read_jsonl(path)), parse, str(path))


def collect_tasks(
    records: Iterable[tuple[str, dict[str, Any]]], parse: Callable[[dict[str, Any], str], TaskT], source: str
) -> dict[str, TaskT]:
    """The tasks of (where, record) pairs by id, each built by ``parse(record, where)``; a
    repeated id or a source with no task is a DatasetError."""
    tasks: dict[str, TaskT] = {}
    for where, record in records:
        task = parse(record, where)
        if task.task_id in tasks:
            raise DatasetError(f"{where}: task_id {task.task_id!r} appears twice")
        tasks[task.task_id] = task
    if not tasks:
        raise DatasetError(f"{source}: holds no tasks")
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
    """The seconds a bundled data file's slow tasks took their reference solution when the file
    was added (``bench/reference_costs.py``), by task id: which tasks to start first on a machine
    that has not yet measured its own (a cold run), or where the tasks' time is not measured."""
    bundled = json.loads((DATA_DIR / "reference_costs.json").read_text())
    seconds: dict[str, float] = bundled["files"].get(digest, {}).get("seconds", {})
    return seconds
