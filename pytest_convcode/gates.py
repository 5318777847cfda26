"""``--gate "pass@1>=0.8"``: release gates checked against the run's scores."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_GATE = re.compile(r"^\s*(?:(?P<group>[\w+.-]+):)?(?P<metric>[\w@]+)\s*(?P<op>>=|<=|==|>|<)\s*(?P<value>[0-9.]+)\s*$")


@dataclass(frozen=True)
class Gate:
    text: str
    metric: str
    op: str
    value: float
    group: str | None = None  # None: the headline group of every suite in the run

    def failures(self, summary: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """One reason per score group where the gate does not hold; empty when it holds."""
        groups = [self.group] if self.group else headline_groups(summary)
        reasons = []
        for group in groups:
            value = summary.get(group, {}).get(self.metric)
            if value is None:
                reasons.append(f"{group}: {self.metric} was not measured")
            elif not _OPS[self.op](value, self.value):
                reasons.append(f"{group}: {self.metric} = {value:.4f}, needs {self.op} {self.value}")
        if not groups:
            reasons.append("no scores were measured")
        return reasons


def parse(text: str) -> Gate:
    match = _GATE.match(text)
    if not match:
        raise UsageError(
            f"cannot read gate {text!r}; write METRIC OP VALUE, e.g. 'pass@1>=0.8' or 'humaneval:pass@1>=0.7'"
        )
    value = float(match["value"])
    return Gate(text.strip(), match["metric"], match["op"], value, match["group"])


def headline_groups(summary: Mapping[str, Any]) -> list[str]:
    """The strictest group of each suite: ``humaneval+`` where plus tests ran, else ``humaneval``."""
    return [g for g in summary if not g.endswith("+") and f"{g}+" not in summary] + [
        g for g in summary if g.endswith("+")
    ]
