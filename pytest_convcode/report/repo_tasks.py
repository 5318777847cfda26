"""The report's part for repository tasks: a row per kind (pass rate, MRR, tests passed, chrF,
common prefix, crashed and not-run answers) and the pass and tests-passed curves by turn of
method generation. Each task's turns are in the problems table with the rest, as conversations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from . import plots
from .page import Chart

FIGURES = ("pass_rate", "mrr", "share", "chrf", "prefix_ratio")


def repotasks_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    section: Mapping[str, Any] = summary.get("repotasks") or {}
    rows = []
    for group, entry in section.items():
        cells = {name: f"{entry[name]:.1f}" for name in FIGURES if isinstance(entry.get(name), int | float)}
        counts = {name: entry.get(name, 0) for name in ("tasks", "turns", "crashed", "not_run", "errors")}
        rows.append({"suite": group.partition(" ")[0], "kind": entry.get("kind", ""), **counts, **cells})
    return rows


def repotasks_charts(summary: Mapping[str, Any]) -> list[Chart]:
    """The curves by turn of each multi-turn kind (method generation)."""
    section: Mapping[str, Any] = summary.get("repotasks") or {}
    curves = {
        f"{group} {label}": list(entry[name])
        for group, entry in section.items()
        if entry.get("turns")
        for name, label in (("curve", "passed"), ("share_curve", "tests passed"))
    }
    if not curves:
        return []
    title = "Repository tasks: passed and tests passed by turn"
    return [Chart(title, Markup(plots.line_chart(curves, title=title, y_label="tasks / tests (%)")))]
