"""Scores by code feature: how pass@k changes with a program's size, branching, trace length...

CodeGlance's question is which properties of code make it hard to reason about,
so the tasks are bucketed by each numeric feature of their data set. The buckets
come from the tasks' own values, not from fixed thresholds that suit one data set:
a feature with few distinct values gets one bucket per value, any other is cut at
its quartiles.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..metrics import Tally, figures

MAX_DISCRETE = 6  # a feature with at most this many distinct values gets one bucket per value
FEATURE_KS = (1, 5)


@dataclass
class _Task:
    features: dict[str, float] = field(default_factory=dict)
    samples: Tally = field(default_factory=Tally)


@dataclass(frozen=True)
class _Bucket:
    label: str
    low: float  # values v with low <= v < high (high inclusive for the last bucket)
    high: float
    last: bool

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high if self.last else self.low <= value < self.high


def feature_scores(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per group ("cruxeval-output", "codeglance-output"...) and feature, one entry per
    bucket in ascending order: its label ("2", "3-5", "10+"), the tasks' value range,
    and the ``metrics.figures`` of its tasks at k = 1 and 5: an errored sample counts as
    one that did not pass, and ``excluding_errors`` leaves it out.

    A task's feature values place it whatever its outcomes, so the buckets do not move
    with harness trouble.
    """
    groups: dict[str, dict[str, _Task]] = defaultdict(dict)
    for record in records:
        group = f"{record['suite']}-{record['mode']}"
        task = groups[group].setdefault(str(record["task_id"]), _Task())
        for name, value in (record.get("features") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                task.features.setdefault(name, value)
        if record["outcome"] == "error":
            task.samples.add_error()
        else:
            task.samples.add(record["outcome"] == "passed")
    scores: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for group, tasks in sorted(groups.items()):
        names = sorted({name for task in tasks.values() for name in task.features})
        scores[group] = {name: _feature(name, list(tasks.values())) for name in names}
    return scores


def _feature(name: str, tasks: Sequence[_Task]) -> list[dict[str, Any]]:
    placed = [t for t in tasks if name in t.features]
    buckets = _buckets([t.features[name] for t in placed])
    entries = []
    for bucket in buckets:
        members = [t for t in placed if bucket.holds(t.features[name])]
        if not members:  # quartile cuts that fall between two values leave a range empty
            continue
        values = [t.features[name] for t in members]
        span = {"bucket": bucket.label, "low": _number(min(values)), "high": _number(max(values))}
        entries.append(span | figures([t.samples for t in members], FEATURE_KS))
    return entries


def _buckets(values: Sequence[float]) -> list[_Bucket]:
    """One bucket per value for a discrete feature; else ranges cut at the quartiles."""
    distinct = sorted(set(values))
    if len(distinct) <= MAX_DISCRETE:
        return [_Bucket(_show(v), v, v, last=True) for v in distinct]
    integral = all(float(v).is_integer() for v in distinct)
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    cuts = sorted({math.ceil(q) if integral else q for q in quartiles})
    lowest, highest = distinct[0], distinct[-1]
    cuts = [c for c in cuts if lowest < c <= highest]  # no empty first bucket, none past the data
    edges = [lowest, *cuts]
    buckets = []
    for i, low in enumerate(edges):
        last = i == len(edges) - 1
        high = highest if last else edges[i + 1]
        if last:
            label = _show(low) if low == highest else f"{_show(low)}+"
        elif integral:
            top = high - 1
            label = _show(low) if top == low else f"{_show(low)}-{_show(top)}"
        else:
            label = f"{_show(low)}-{_show(high)}"  # low <= v < high
        buckets.append(_Bucket(label, low, high, last))
    return buckets


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
