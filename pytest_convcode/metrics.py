"""Scores computed from result records: unbiased pass@k per score group.

Every score is strict: an item that errored (E) counts as a sample that did not pass, so that
harness trouble can never raise a model's score. Beside it, under ``excluding_errors``, the same
score over the samples that ran (tasks with none left out), which says how the model did where
it could be judged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .records import score_groups

KS = (1, 5, 10, 100)
EXCLUDING_ERRORS = "excluding_errors"


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of 1 - C(n-c, k) / C(n, k), in product form (no huge binomials)."""
    if n - c < k:
        return 1.0
    result = 1.0
    for i in range(n - c + 1, n + 1):
        result *= 1.0 - k / i
    return 1.0 - result


@dataclass
class Tally:
    """One task's samples in a score group: every one planned (errored or not), those that ran,
    and those that passed."""

    samples: int = 0
    ran: int = 0
    passed: int = 0

    def add(self, passed: bool) -> None:
        self.samples += 1
        self.ran += 1
        self.passed += passed

    def add_error(self) -> None:
        self.samples += 1


def _pass_at(tasks: list[tuple[int, int]], ks: Iterable[int]) -> dict[str, Any]:
    """tasks, samples and pass@k (mean over tasks, for each k every task has n >= k samples for)
    from each task's (n, c)."""
    entry: dict[str, Any] = {"tasks": len(tasks), "samples": sum(n for n, _ in tasks)}
    for k in ks:
        if tasks and min(n for n, _ in tasks) >= k:
            entry[f"pass@{k}"] = sum(pass_at_k(n, c, k) for n, c in tasks) / len(tasks)
    return entry


def figures(tallies: Collection[Tally], ks: Iterable[int] = KS) -> dict[str, Any]:
    """A score group's entry: tasks, samples (errored ones included), passed, errors and the
    strict pass@k; under ``excluding_errors`` the tasks, samples and pass@k of what ran."""
    strict = _pass_at([(t.samples, t.passed) for t in tallies], ks)
    ran = _pass_at([(t.ran, t.passed) for t in tallies if t.ran], ks)
    counts = {
        "tasks": strict["tasks"],
        "samples": strict["samples"],
        "passed": sum(t.passed for t in tallies),
        "errors": strict["samples"] - ran["samples"],
    }
    return counts | strict | {EXCLUDING_ERRORS: ran}


def summarize(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per score group, its ``figures``. An errored item counts in every group of its suite
    (``humaneval`` and ``humaneval+``), as a sample that did not pass."""
    tallies: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    errored = []
    for record in records:
        if record["outcome"] == "error":
            errored.append(record)
            continue
        for group, passed in score_groups(record).items():
            tallies[group][record["task_id"]].add(passed)
    for record in errored:
        suite = next(iter(score_groups(record)))  # the base group: "humaneval", "cruxeval-input"
        for group in [g for g in tallies if g.rstrip("+") == suite] or [suite]:
            tallies[group][record["task_id"]].add_error()
    return {group: figures(tasks.values()) for group, tasks in sorted(tallies.items())}


# ---------------------------------------------------------------- summaries of schema 1


def upgrade(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A summary.json of schema 1 in the current shape, for ``--compare`` and the report. Schema 1
    left errors out of the scores: its figures are the ones excluding errors, and the strict ones
    are known only where its group had no error (they are the same then)."""
    if summary.get("schema_version") != 1:
        return dict(summary)
    scores = summary.get("scores") or {}
    errors = {group: entry.get("errors", 0) for group, entry in scores.items()}
    return {
        **summary,
        "scores": {group: _v1(entry, ("tasks", "samples"), errors[group]) for group, entry in scores.items()},
        "conversations": {
            group: _v1(entry, ("tasks", "mrr", "recall", "curve"), entry.get("errors", 0))
            for group, entry in (summary.get("conversations") or {}).items()
        },
        "features": {  # a bucket had errors only if its group had
            group: {
                feature: [_v1(bucket, ("tasks", "samples"), errors.get(group, 1)) for bucket in buckets]
                for feature, buckets in by_feature.items()
            }
            for group, by_feature in (summary.get("features") or {}).items()
        },
    }


def _v1(entry: Mapping[str, Any], fields: tuple[str, ...], errors: int) -> dict[str, Any]:
    if EXCLUDING_ERRORS in entry:  # upgraded already
        return dict(entry)
    ran = {key: value for key, value in entry.items() if key in fields or key.startswith("pass@")}
    strict = {key: value for key, value in entry.items() if not errors or key not in ran}
    return {**strict, EXCLUDING_ERRORS: ran}
