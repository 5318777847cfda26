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
from .conversation_metrics import summarize_conversations
from .gates import Gate
from .metrics import summarize
from .reasoning import feature_scores
from .run import Options

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("summary.schema.json")


def build_summary(
    *,
    run_id: str,
    model: str,
    model_identity: Mapping[str, Any],
    options: Options,
    records: Sequence[Mapping[str, Any]],
    suites: Mapping[str, Mapping[str, str]],
    started: float,
    workers: int,
    baseline: Baseline | None,
) -> dict[str, Any]:
    """The summary of a finished run; ``suites`` describes each data set that was scored."""
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
        "settings": settings(options, workers),
        "versions": versions(),
        "items": {o: sum(r["outcome"] == o for r in records) for o in ("passed", "failed", "error")},
        "scores": summarize(r for r in records if "setting" not in r),
        "conversations": summarize_conversations(r for r in records if "setting" in r),
        "features": {g: f for g, f in feature_scores(r for r in records if r.get("features")).items() if f},
        "generation": generation_totals(records),
    }
    if baseline is not None:
        summary["comparison"] = compare(summary, records, baseline)
    summary["gates"] = gate_results(options.gates, summary, baseline)
    return summary


def gate_results(gates: Sequence[Gate], summary: Mapping[str, Any], baseline: Baseline | None) -> list[dict[str, Any]]:
    base = baseline.summary if baseline is not None else None
    return [
        {"gate": g.text, "passed": not reasons, "reasons": reasons}
        for g in gates
        for reasons in [g.failures(summary, base)]
    ]


def settings(options: Options, workers: int) -> dict[str, Any]:
    """The options that change what was measured or how."""
    conversation = options.conversation
    return {
        "model": options.model,
        "samples": options.model_settings.samples,
        "temperature": options.model_settings.temperature,
        "max_tokens": options.model_settings.max_tokens,
        "dataset_version": options.dataset_version,
        "dataset_path": str(options.dataset_path) if options.dataset_path else None,
        "base_only": options.base_only,
        "tasks": sorted(options.task_ids) if options.task_ids is not None else None,
        "subset": options.subset,
        "feedback": [s.id for s in options.feedback] if options.feedback is not None else None,
        "max_turns": conversation.max_turns,
        "context": conversation.context,
        "partial_rule": conversation.partial_rule,
        "prompt": options.prompt,
        "rag_path": str(options.rag_path) if options.rag_path else None,
        "user_model": options.user_model.name if options.user_model is not None else None,
        "sandbox": options.sandbox,
        "sandbox_python": options.sandbox_python,
        "time_factor": options.time_factor,
        "min_time": options.min_time,
        "memory_limit_mib": options.limits.memory_bytes // 2**20,
        "cache": options.generation.cache,
        "max_concurrency": options.generation.max_concurrency,
        "workers": workers,
    }


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
