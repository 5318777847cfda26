"""``--gate`` expressions: release gates over any reported metric, absolute or relative to a
baseline run (``--compare``).

A gate reads ``METRIC OP VALUE``. METRIC is a name of ``reported()``: ``pass@1``,
``humaneval:pass@1``, ``mrr[cf-ef_full-expert]``, ``bigcodebench:recall[cf]``; without the
``group:`` prefix it is checked in every group that reports it (for pass@k: each suite's strictest
group). Each is the strict score, errored items counted as not passed; with ``(ran)`` after it,
the score excluding errors (``pass@1(ran)``, ``mrr[cf](ran)``). VALUE is a number, or ``baseline``
plus or minus a number (``pass@1 >= baseline - 1.0``).

Every metric is a rate compared in percent, as the tables show it. A bare number up to 1 is read
as a fraction (``pass@1>=0.8`` means 80%), a larger one or one with ``%`` as a percent; an offset
from the baseline is in percentage points.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UsageError
from .metrics import EXCLUDING_ERRORS, upgrade

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_GATE = re.compile(
    rf"""^\s*(?:(?P<group>[\w+.-]+):)?(?P<name>pass@\d+|mrr|recall)(?:\[(?P<setting>[\w-]+)\])?
    (?:\s*(?P<ran>\(ran\)))?
    \s*(?P<op>>=|<=|==|>|<)\s*
    (?:(?P<baseline>baseline)\s*(?:(?P<sign>[+-])\s*(?P<offset>{_NUMBER})\s*%?)?|(?P<value>{_NUMBER})\s*(?P<percent>%)?)
    \s*$""",
    re.VERBOSE,
)
USAGE = (
    "write METRIC OP VALUE, e.g. 'pass@1>=0.8', 'humaneval:pass@1>=70%', 'mrr[cf-ef_full]>=40', "
    "'pass@1(ran)>=0.8' (excluding errors) or 'pass@1>=baseline-1.0' (with --compare)"
)
RAN = "(ran)"  # after a metric's name: the score excluding errors


def reported(summary: Mapping[str, Any]) -> dict[str, float]:
    """Every gateable metric of a summary, in percent: ``<group>:pass@k`` from the scores,
    ``<suite>:mrr[<setting>]`` and ``<suite>:recall[<setting>]`` from the conversations; each the
    strict score, and with ``(ran)`` the one excluding errors. Of a schema-1 summary, what it
    measured (``metrics.upgrade``)."""
    summary = upgrade(summary)
    metrics: dict[str, float] = {}
    for group, entry in summary.get("scores", {}).items():
        for suffix, scores in (("", entry), (RAN, entry.get(EXCLUDING_ERRORS, {}))):
            for key, value in scores.items():
                if key.startswith("pass@"):
                    metrics[f"{group}:{key}{suffix}"] = 100.0 * value
    for entry_name, entry in summary.get("conversations", {}).items():
        suite = entry_name.split(" ", 1)[0]
        for suffix, scores in (("", entry), (RAN, entry.get(EXCLUDING_ERRORS, {}))):
            for key in ("mrr", "recall"):
                if key in scores:
                    metrics[f"{suite}:{key}[{entry['setting']}]{suffix}"] = float(scores[key])
    return metrics


def headline_groups(scores: Mapping[str, Any]) -> list[str]:
    """The strictest group of each suite: ``humaneval+`` where plus tests ran, else ``humaneval``."""
    return [g for g in scores if not g.endswith("+") and f"{g}+" not in scores] + [g for g in scores if g.endswith("+")]


@dataclass(frozen=True)
class Gate:
    text: str
    name: str  # pass@1, mrr, recall
    op: str
    value: float  # percent; with ``relative``, the offset in points from the baseline
    relative: bool = False
    group: str | None = None  # None: every group that reports the metric (pass@k: headline groups)
    setting: str | None = None  # mrr / recall: the feedback setting
    ran: bool = False  # the score excluding errors

    def metric(self, group: str) -> str:
        return f"{group}:{self.name}" + (f"[{self.setting}]" if self.setting else "") + (RAN if self.ran else "")

    def groups(self, summary: Mapping[str, Any]) -> list[str]:
        if self.group is not None:
            return [self.group]
        if self.name.startswith("pass@"):
            return headline_groups(summary.get("scores", {}))
        suites = {name.split(" ", 1)[0] for name in summary.get("conversations", {})}
        return sorted(suites)

    def failures(self, summary: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> list[str]:
        """One reason per group where the gate does not hold; empty when it holds."""
        ours, theirs = reported(summary), reported(baseline) if baseline is not None else {}
        reasons = []
        groups = self.groups(summary)
        for group in groups:
            metric = self.metric(group)
            value = ours.get(metric)
            if value is None:
                reasons.append(f"{metric} was not measured")
                continue
            threshold, why = self.value, ""
            if self.relative:
                base = theirs.get(metric)
                if base is None:
                    older = f"{metric}{RAN}" in theirs  # schema 1, with errors: its scores left them out
                    why = f" (an older summary, which left errors out: it has {metric}{RAN})" if older else ""
                    reasons.append(f"{metric} = {value:.1f}%, but the baseline did not measure it{why}")
                    continue
                threshold = base + self.value
                why = f" (baseline {base:.1f}% {self.value:+.1f})"
            if not _OPS[self.op](round(value, 6), round(threshold, 6)):
                reasons.append(f"{metric} = {value:.1f}%, needs {self.op} {threshold:.1f}%{why}")
        if not groups:
            reasons.append(f"no {self.name} was measured")
        return reasons


def parse(text: str) -> Gate:
    match = _GATE.match(text)
    if not match:
        raise UsageError(f"cannot read gate {text!r}; {USAGE}")
    if match["setting"] and match["name"].startswith("pass@"):
        raise UsageError(f"gate {text!r}: pass@k has no feedback setting; {USAGE}")
    if not match["setting"] and not match["name"].startswith("pass@"):
        raise UsageError(f"gate {text!r}: {match['name']} needs its feedback setting, e.g. {match['name']}[cf]")
    if match["baseline"]:
        offset = float(match["offset"] or 0.0)
        value, relative = (-offset if match["sign"] == "-" else offset), True
    else:
        number = float(match["value"])
        value, relative = (number if match["percent"] or number > 1 else 100.0 * number), False
    return Gate(
        text.strip(), match["name"], match["op"], value, relative, match["group"], match["setting"], bool(match["ran"])
    )
