"""``--compare PATH``: this run against an earlier one, metric by metric (``gates.reported``: strict
with strict, excluding errors with excluding errors) and problem by problem.

A problem is a single-turn task (``humaneval/HumanEval/12``: solved when any of its samples passed
every phase), a conversation (``bigcodebench/BigCodeBench/13 cf-ef_full``: solved when some turn
passed) or a prediction task in one mode (``cruxeval/sample_3 output``). Problems that errored in
either run, or ran in only one, cannot flip.

A baseline that stopped early (``"complete": false``) is refused: its scores are of part of its
items. ``--allow-incomplete-baseline`` takes it, and the comparison says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .gates import reported
from .records import latest, problem_key, solved


@dataclass(frozen=True)
class Baseline:
    path: Path  # the run's folder
    summary: dict[str, Any]
    problems: dict[str, bool | None]  # problem -> solved (None: errored)

    @property
    def complete(self) -> bool:
        return self.summary.get("complete") is not False  # before schema 3: not known to be incomplete


def load_baseline(path: Path, allow_incomplete: bool = False) -> Baseline:
    """An earlier run, from its folder or its ``summary.json`` (``results.jsonl`` beside it); one
    that stopped early only when ``allow_incomplete``."""
    folder = path.parent if path.name == "summary.json" else path
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise UsageError(f"--compare {path}: no summary.json there; give an earlier run's folder or its summary.json")
    try:
        summary = json.loads(summary_path.read_text())
        results = folder / "results.jsonl"
        records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise UsageError(f"--compare {path}: results.jsonl is missing beside summary.json") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--compare {path}: cannot read the run ({exc})") from None
    baseline = Baseline(folder, summary, problem_status(records))
    if not baseline.complete and not allow_incomplete:
        items = summary.get("items", {})
        raise UsageError(
            f"--compare {path}: that run is incomplete ({items.get('done')} of {items.get('planned')} items): "
            "compare with a complete run, or give --allow-incomplete-baseline"
        )
    return baseline


def problem_status(records: Iterable[Mapping[str, Any]]) -> dict[str, bool | None]:
    """Each problem's outcome: solved, unsolved, or None when any of its items errored."""
    status: dict[str, bool | None] = {}
    for record in latest(records):
        key = problem_key(record)
        if record["outcome"] == "error" or (key in status and status[key] is None):
            status[key] = None
            continue
        status[key] = status.get(key, False) or solved(record)
    return status


def compare(summary: Mapping[str, Any], records: Iterable[Mapping[str, Any]], baseline: Baseline) -> dict[str, Any]:
    """The ``comparison`` entry of summary.json: each metric's value, baseline and delta, and
    the problems that flipped either way, sorted."""
    ours, theirs = reported(summary), reported(baseline.summary)
    metrics = {
        name: {
            "value": ours.get(name),
            "baseline": theirs.get(name),
            "delta": ours[name] - theirs[name] if name in ours and name in theirs else None,
        }
        for name in sorted(ours.keys() | theirs.keys())
    }
    now = problem_status(records)
    shared = [key for key in now.keys() & baseline.problems.keys() if None not in (now[key], baseline.problems[key])]
    return {
        "baseline": {
            "run_id": baseline.summary.get("run_id"),
            "model": baseline.summary.get("model"),
            "path": str(baseline.path),
            "complete": baseline.complete,
        },
        "metrics": metrics,
        "now_passing": sorted(k for k in shared if now[k] and not baseline.problems[k]),
        "now_failing": sorted(k for k in shared if baseline.problems[k] and not now[k]),
        "only_here": len(now.keys() - baseline.problems.keys()),
        "only_baseline": len(baseline.problems.keys() - now.keys()),
    }
