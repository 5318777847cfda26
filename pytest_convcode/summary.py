"""``summary.json``: a run's scores and everything needed to say what produced them.

Its shape is versioned: ``summary.schema.json`` beside this module is the contract (see
docs/summary.md); bump ``SCHEMA_VERSION`` when a field changes meaning or goes away.
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from .comparison import Baseline, compare
from .gates import Gate

SCHEMA_VERSION = 2  # 2: errors count in the scores; the scores without them under excluding_errors
SCHEMA_PATH = Path(__file__).with_name("summary.schema.json")


def build_summary(
    *,
    run_id: str,
    model: str,
    model_identity: Mapping[str, Any],
    settings: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    sections: Mapping[str, Any],
    suites: Mapping[str, Mapping[str, str]],
    started: float,
    gates: Sequence[Gate],
    baseline: Baseline | None,
) -> dict[str, Any]:
    """The summary of a finished run. ``settings``: the options that change what was measured or
    how; ``sections``: the scores each suite kind computed from its records (``scores``,
    ``conversations``, ``features``); ``suites`` describes each data set that was scored."""
    finished = time.time()
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "model": model,
        "model_identity": dict(model_identity),
        "started": _iso(started),
        "finished": _iso(finished),
        "duration_s": round(finished - started, 3),
        "suites": {name: dict(info) for name, info in sorted(suites.items())},
        "settings": dict(settings),
        "versions": versions(),
        "items": {o: sum(r["outcome"] == o for r in records) for o in ("passed", "failed", "error")},
        "scores": sections.get("scores", {}),
        "conversations": sections.get("conversations", {}),
        "features": sections.get("features", {}),
        "generation": generation_totals(records),
    }
    if baseline is not None:
        summary["comparison"] = compare(summary, records, baseline)
    summary["gates"] = gate_results(gates, summary, baseline)
    return summary


def gate_results(gates: Sequence[Gate], summary: Mapping[str, Any], baseline: Baseline | None) -> list[dict[str, Any]]:
    base = baseline.summary if baseline is not None else None
    return [
        {"gate": g.text, "passed": not reasons, "reasons": reasons}
        for g in gates
        for reasons in [g.failures(summary, base)]
    ]


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "pytest": pytest.__version__}
    for package in ("pytest-convcode", "pytest-xdist", "openai", "numpy"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def generation_totals(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Tokens and request time of the answers requested in this run (cached ones apart)."""
    fresh = [r for r in records if "usage" in r and not r.get("cached")]
    return {
        "prompt_tokens": sum(r["usage"].get("prompt_tokens", 0) for r in fresh),
        "completion_tokens": sum(r["usage"].get("completion_tokens", 0) for r in fresh),
        "request_seconds": round(sum(r.get("latency_s", 0.0) for r in fresh), 3),
        "retries": sum(r.get("retries", 0) for r in fresh),
        "cached_answers": sum(bool(r.get("cached")) for r in records),
    }


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(seconds))
