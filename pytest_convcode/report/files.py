"""Reading a run folder's files: JSON-lines files (results and conversation logs) and summaries,
the compared baseline's included. Every error is a ``ReportError`` naming the file (and line), and
a cut last line (a kill landed mid-write) is skipped with a note rather than refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


class ReportError(Exception):
    """The run folder cannot be reported on; the message names the file and what is wrong."""


def read_jsonl(path: Path, required: Iterable[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The objects of a JSON-lines file, and notes on what was skipped.

    A bad last line is what a kill mid-write leaves: skipped, with a note. A bad line anywhere
    else, or an object without a required field, is an error naming the file and line.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from exc
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    for position, (n, line) in enumerate(numbered):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError(f"a JSON {type(record).__name__}, not an object")
        except ValueError as exc:
            if position == len(numbered) - 1 and position > 0:
                notes.append(f"{path}:{n}: skipped a cut last line ({exc})")
                continue
            raise ReportError(f"{path}:{n}: not a JSON object: {exc}") from exc
        for name in required:
            if name not in record:
                raise ReportError(f"{path}:{n}: field {name!r} is missing")
        records.append(record)
    return records, notes


def read_summary(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: not a readable summary: {exc}") from exc
    if not isinstance(summary, dict):
        raise ReportError(f"{path}: not a summary: a JSON {type(summary).__name__}, not an object")
    return summary


def find_baseline(comparison: Mapping[str, Any], run_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """The compared baseline's summary (for its curves), from the path the comparison gives."""
    baseline = comparison.get("baseline") or {}
    where = baseline.get("path") if isinstance(baseline, dict) else None
    if not where:
        return None, ""
    # as given (relative to where the run was started: usually the reports folder's parent), or
    # beside this run in the same reports folder
    for candidate in (Path(where), run_dir.parent.parent / where, run_dir.parent / Path(where).name):
        path = candidate / "summary.json" if candidate.is_dir() else candidate
        if path.is_file():
            try:
                summary = read_summary(path)
            except ReportError as exc:
                return None, f"baseline: {exc}"
            return summary, ""
    return None, f"baseline summary not found at {where}: its curves are not drawn"
