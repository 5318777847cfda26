"""Scores computed from result records: unbiased pass@k per score group."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from .records import score_groups

KS = (1, 5, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of 1 - C(n-c, k) / C(n, k), in product form (no huge binomials)."""
    if n - c < k:
        return 1.0
    result = 1.0
    for i in range(n - c + 1, n + 1):
        result *= 1.0 - k / i
    return 1.0 - result


def summarize(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per score group: tasks, samples, pass@k where every task has n >= k, errors apart."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    errors: dict[str, int] = defaultdict(int)
    for record in records:
        if record["outcome"] == "error":
            errors[next(iter(score_groups(record)))] += 1  # the base group: "humaneval", "cruxeval-input"
            continue
        for group, passed in score_groups(record).items():
            tally = counts[group][record["task_id"]]
            tally[0] += 1
            tally[1] += passed
    summary: dict[str, dict[str, Any]] = {}
    for group, tasks in sorted(counts.items()):
        ns = [n for n, _ in tasks.values()]
        entry: dict[str, Any] = {
            "tasks": len(tasks),
            "samples": sum(ns),
            "passed": sum(c for _, c in tasks.values()),
            "errors": errors.get(group.rstrip("+"), 0),
        }
        for k in KS:
            if min(ns) >= k:
                entry[f"pass@{k}"] = sum(pass_at_k(n, c, k) for n, c in tasks.values()) / len(tasks)
        summary[group] = entry
    for suite, n_errors in errors.items():  # a suite whose every item errored still shows
        summary.setdefault(suite, {"tasks": 0, "samples": 0, "passed": 0, "errors": n_errors})
    return summary
