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
from .feedback import compilation_feedback
from .reference_log import SETTINGS, TURNS, ReferenceLog, ReferenceTurn

FIELDS = ("task_id", "previous_code", "compilation_feedback", "execution_feedback", "verbal_feedback", "label")
INSTALL = "pip install 'pytest-convcode[convcodebench]'"


def read_official_log(spec: str, tasks: Collection[str], settings: Collection[str]) -> ReferenceLog:
    """A local parquet file, or "hf:NAME" (a data set on the model hub, or a local folder in its
    layout), as the reference for these tasks and settings."""
    row = _load(spec)
    turns: dict[tuple[str, str], tuple[ReferenceTurn, ...]] = {}
    for setting in settings:
        column = SETTINGS[setting]
        iterations = row.get(column)
        if not isinstance(iterations, Mapping):
            raise UsageError(f"--reference-log {spec}: no column {column} (setting {setting}); {_expected()}")
        by_turn = [_entries(spec, column, iterations, turn) for turn in range(1, TURNS + 1)]
        for task in tasks:
            turns[(task, setting)] = tuple(
                _reference_turn(spec, column, turn, task, entries) for turn, entries in enumerate(by_turn, 1)
            )
    return ReferenceLog(source=spec, model="", turns=turns)


def write_official_log(log: ReferenceLog, out: Path) -> None:
    """The log in the official format: one column per setting it holds."""
    datasets = _datasets()
    settings = {setting for _, setting in log.turns}
    row: dict[str, dict[str, list[dict[str, str]]]] = {}
    for setting, column in SETTINGS.items():
        if setting not in settings:
            continue
        conversations = [(task, turns) for (task, at), turns in sorted(log.turns.items()) if at == setting]
        row[column] = {
            f"ITER={index + 1}": [_entry(task, turns[index]) for task, turns in conversations] for index in range(TURNS)
        }
    datasets.Dataset.from_list([row]).to_parquet(str(out))


def _entry(task: str, turn: ReferenceTurn) -> dict[str, str]:
    return {
        "task_id": task,
        "previous_code": turn.code,
        "compilation_feedback": compilation_feedback(turn.code),
        "execution_feedback": turn.execution,
        "verbal_feedback": turn.verbal,
        "label": str(turn.passed),
    }


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
                f"--reference-log {spec}: no such file or folder; give a ConvCodeWorld run folder, "
                "an official-format parquet file, or hf:NAME"
            )
    except UsageError:
        raise
    except Exception as exc:  # datasets raises many kinds: missing, offline, not parquet
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"--reference-log {spec}: could not be read ({message}); {_expected()}") from None
    if len(data) != 1:
        raise UsageError(f"--reference-log {spec}: {len(data)} rows, not 1; {_expected()}")
    row: Mapping[str, Any] = data[0]
    return row


def _entries(spec: str, column: str, iterations: Mapping[str, Any], turn: int) -> dict[str, Mapping[str, Any]]:
    """ITER=turn's entries by task id, each checked for the six string fields."""
    entries = iterations.get(f"ITER={turn}")
    if not isinstance(entries, Sequence):
        raise UsageError(f"--reference-log {spec}: {column} has no ITER={turn}; {_expected()}")
    by_task: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        wrong = [name for name in FIELDS if not isinstance(entry, Mapping) or not isinstance(entry.get(name), str)]
        if wrong:
            raise UsageError(
                f"--reference-log {spec}: {column} ITER={turn} has an entry without the string field {wrong[0]}; "
                f"{_expected()}"
            )
        by_task[entry["task_id"]] = entry
    return by_task


def _reference_turn(
    spec: str, column: str, turn: int, task: str, entries: Mapping[str, Mapping[str, Any]]
) -> ReferenceTurn:
    entry = entries.get(task)
    if entry is None:
        raise UsageError(
            f"--reference-log {spec}: {column} ITER={turn} has no {task}; "
            "use a reference log that covers every task of the run (or select fewer tasks with -k)"
        )
    return ReferenceTurn(
        code=entry["previous_code"],
        passed=None,
        execution=entry["execution_feedback"],
        verbal=entry["verbal_feedback"],
    )


def _expected() -> str:
    return (
        f"expected one row with struct columns of ITER=1..ITER={TURNS}, "
        f"each a list of {{{', '.join(FIELDS)}}} (docs/conversation-log.md)"
    )


def _datasets() -> Any:
    """The ``datasets`` library, imported only when a log is read or written."""
    try:
        import datasets
    except ImportError:
        raise UsageError(f"the official ConvCodeBench format needs the datasets library: {INSTALL}") from None
    return datasets
