"""ConvCodeBench's official log format, read and written with ``datasets``.

One row; per setting a struct column (``reference_log.SETTINGS``) keyed ``ITER=1`` ... ``ITER=10``,
each a list of ``{task_id, previous_code, compilation_feedback, execution_feedback,
verbal_feedback, label}``, all strings. ``ITER=i`` is what the target reads at its turn i: the
reference's turn i-1 code and the feedback on it. ``label`` is not documented, so it is written
(the reference's verdict) but never trusted when read: the kind judges the code again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import UsageError

ITERATIONS = 10  # ITER=1..10
FIELDS = ("task_id", "previous_code", "compilation_feedback", "execution_feedback", "verbal_feedback", "label")
INSTALL = "pip install 'pytest-convcode[convcodebench]'"

Entry = Mapping[str, str]  # the six FIELDS


def read_official(spec: str, columns: Collection[str]) -> dict[str, list[dict[str, Entry]]]:
    """Per column, its ITER=1..10 entries by task id, from a local parquet file or "hf:NAME" (a
    data set on the model hub, or a local folder in its layout); a UsageError naming the column,
    ITER or field that is missing."""
    row = _load(spec)
    read: dict[str, list[dict[str, Entry]]] = {}
    for column in columns:
        iterations = row.get(column)
        if not isinstance(iterations, Mapping):
            raise UsageError(f"reference log {spec}: no column {column}; {_expected()}")
        read[column] = [_entries(spec, column, iterations, turn) for turn in range(1, ITERATIONS + 1)]
    return read


def write_official(columns: Mapping[str, Sequence[Sequence[Entry]]], out: Path) -> None:
    """One row: per column, ITER=i from its i-th list of entries."""
    datasets = _datasets()
    out.parent.mkdir(parents=True, exist_ok=True)
    row = {
        column: {f"ITER={turn}": [dict(entry) for entry in entries] for turn, entries in enumerate(iterations, 1)}
        for column, iterations in columns.items()
    }
    datasets.Dataset.from_list([row]).to_parquet(str(out))


def _load(spec: str) -> Mapping[str, Any]:
    """The log's one row."""
    datasets = _datasets()
    try:
        if spec.startswith("hf:"):
            data = datasets.load_dataset(spec.removeprefix("hf:"), split="train")
        elif Path(spec).is_file():
            data = datasets.load_dataset("parquet", data_files=spec, split="train")
        else:
            raise UsageError(
                f"reference log {spec}: no such file or folder; give a ConvCodeWorld run folder, "
                "an official-format parquet file, or hf:NAME"
            )
    except UsageError:
        raise
    except Exception as exc:  # datasets raises many kinds: missing, offline, not parquet
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"reference log {spec}: could not be read ({message}); {_expected()}") from None
    if len(data) != 1:
        raise UsageError(f"reference log {spec}: {len(data)} rows, not 1; {_expected()}")
    row: Mapping[str, Any] = data[0]
    return row


def _entries(spec: str, column: str, iterations: Mapping[str, Any], turn: int) -> dict[str, Entry]:
    """ITER=turn's entries by task id, each checked for the six string fields."""
    entries = iterations.get(f"ITER={turn}")
    if not isinstance(entries, Sequence):
        raise UsageError(f"reference log {spec}: {column} has no ITER={turn}; {_expected()}")
    by_task: dict[str, Entry] = {}
    for entry in entries:
        wrong = [name for name in FIELDS if not isinstance(entry, Mapping) or not isinstance(entry.get(name), str)]
        if wrong:
            raise UsageError(
                f"reference log {spec}: {column} ITER={turn} has an entry without the string field {wrong[0]}; "
                f"{_expected()}"
            )
        by_task[entry["task_id"]] = entry
    return by_task


def _expected() -> str:
    return (
        f"expected one row with struct columns of ITER=1..ITER={ITERATIONS}, "
        f"each a list of {{{', '.join(FIELDS)}}} (docs/conversation-log.md)"
    )


def _datasets() -> Any:
    """The ``datasets`` library, imported only when a log is read or written."""
    try:
        import datasets
    except ImportError:
        raise UsageError(f"the official ConvCodeBench format needs the datasets library: {INSTALL}") from None
    datasets.disable_progress_bars()  # one small row: its bars would only clutter pytest's output
    return datasets
