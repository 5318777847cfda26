"""``summary.json``: a run's scores and everything needed to say what produced them.

Its shape is versioned: ``summary.schema.json`` beside this module is the contract (see
docs/summary.md); bump ``SCHEMA_VERSION`` when a field changes meaning or goes away.
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .comparison import Baseline, compare
from .gates import Gate

# 2: errors count in the scores; the scores without them under excluding_errors
# 3: "complete" and the items planned; "generation" per request, the coder's and the simulator's apart
SCHEMA_VERSION = 3
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
    items: Items,
    gates: Sequence[Gate],
    baseline: Baseline | None,
) -> dict[str, Any]:
    """The summary of a run. ``settings``: the options that change what was measured or how;
    ``sections``: the scores each suite kind computed from its records (``scores``,
    ``conversations``, ``features``); ``suites`` describes each data set that was scored;
    ``items``: how far the run got."""
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
        "complete": items.complete,
        "items": {
            "planned": max(items.planned, len(records) + items.skipped),
            "done": len(records),
            "skipped": items.skipped,
            **{o: sum(r["outcome"] == o for r in records) for o in ("passed", "failed", "error")},
        },
        "scores": sections.get("scores", {}),
        "conversations": sections.get("conversations", {}),
        "features": sections.get("features", {}),
        **({"convcodebench": sections["convcodebench"]} if "convcodebench" in sections else {}),
        **({"repotasks": sections["repotasks"]} if "repotasks" in sections else {}),
        "generation": generation_totals(records),
    }
    if baseline is not None:
        summary["comparison"] = compare(summary, records, baseline)
    summary["gates"] = gate_results(gates, summary, baseline)
    return summary


@dataclass(frozen=True)
class Items:
    """How far a run got: the benchmark items it planned, and whether it ran them all (it was not
    stopped, and each has a record or was skipped). ``planned`` may count a few that a resumed
    run's earlier records cover: summary.json says the greater of it and what is there."""

    planned: int
    complete: bool
    skipped: int = 0


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


ROLES = {"coder": "", "simulator": "user_"}  # summary.json's name -> the prefix of the records' fields


def generation_totals(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the run asked of the coder and of the simulated user, each request counted once."""
    return {role: _requests_totals(_requests(records, prefix)) for role, prefix in ROLES.items()}


def _requests(records: Sequence[Mapping[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """One entry per request (``usage``, ``latency_s``, ``queue_s``, ``retries``, ``cached``), from
    the records' fields of a role (``prefix``). The records of one request share its
    ``request_id``: a task's samples (its cost is on sample 0), turn 0 in each feedback setting, an
    answer reused; it was made in this run if one of them says it was not cached. A record without
    an id (an older run) is a request of its own, where it has a usage (its sample 0)."""
    by_request: dict[Any, list[dict[str, Any]]] = {}
    for n, record in enumerate(records):
        if f"{prefix}usage" not in record:
            continue
        request = {f: record.get(f"{prefix}{f}") for f in ("usage", "latency_s", "queue_s", "retries", "cached")}
        key = record.get(f"{prefix}request_id")
        if key is None and (request["usage"] or request["cached"]):
            key = ("record", n)
        if key is not None:
            by_request.setdefault(key, []).append(request)
    entries = []
    for group in by_request.values():
        made = [r for r in group if not r["cached"]]
        entries.append(max(made or group, key=lambda r: bool(r["usage"])))  # the first with the cost
    return entries


def _requests_totals(requests: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts of requests; tokens, retries and seconds of those made in this run (not cached)."""
    made = [r for r in requests if not r["cached"]]
    completion = sum((r["usage"] or {}).get("completion_tokens", 0) for r in made)
    at_server = sum(r["latency_s"] or 0.0 for r in made)
    return {
        "requests": len(requests),
        "requests_cached": len(requests) - len(made),
        "prompt_tokens": sum((r["usage"] or {}).get("prompt_tokens", 0) for r in made),
        "completion_tokens": completion,
        "retries": sum(r["retries"] or 0 for r in made),
        "seconds_at_server": round(at_server, 3),
        "seconds_queued": round(sum(r["queue_s"] or 0.0 for r in made), 3),
        "tokens_per_second": round(completion / at_server, 1) if at_server > 0 else None,
    }


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(seconds))
