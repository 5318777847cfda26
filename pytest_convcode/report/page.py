"""What the page's template shows, worked out from a run: metadata rows, headline cells (with the
baseline and delta of a comparison), and the charts.

Every value here is plain text; the template escapes it. Only the SVG of the charts goes in as
markup, and ``plots`` escapes each label it draws.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from ..gates import RAN
from ..metrics import EXCLUDING_ERRORS
from . import plots
from .data import RunData
from .problems import PASSED, SETTING_ORDER


@dataclass(frozen=True)
class Cell:
    """A score with, when compared, the baseline's and the change (``direction``: up/down/same)."""

    value: str
    baseline: str = ""
    delta: str = ""
    direction: str = ""


@dataclass(frozen=True)
class Chart:
    title: str
    svg: Markup


def _number(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) and not isinstance(value, bool) else "–"


def cell(value: Any, metric: str, comparison: Mapping[str, Any] | None) -> Cell:
    """A headline cell: the value in percent and, from the comparison (also in percent, see
    docs/summary.md), the baseline's value and the change in points."""
    compared = ((comparison or {}).get("metrics") or {}).get(metric)
    if not isinstance(compared, dict):
        return Cell(_number(value))
    delta = compared.get("delta")
    if not isinstance(delta, int | float):
        return Cell(_number(value), _number(compared.get("baseline")), "–", "")
    direction = "up" if delta >= 0.05 else "down" if delta <= -0.05 else "same"
    arrow = {"up": "▲ +", "down": "▼ ", "same": "= "}[direction]
    return Cell(_number(value), _number(compared.get("baseline")), f"{arrow}{delta:.1f}", direction)


def _pass_cells(
    entry: Mapping[str, Any], ks: list[str], group: str, suffix: str, comparison: Mapping[str, Any] | None
) -> list[Cell]:
    """An entry's pass@k cells in percent, compared as ``<group>:pass@k<suffix>``."""
    return [cell(100.0 * entry[k], f"{group}:{k}{suffix}", comparison) if k in entry else Cell("–") for k in ks]


def score_table(summary: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The pass@k table: its k columns, and a row per score group with its strict scores and
    those excluding errors (``ran_tasks``, ``ran_cells``)."""
    scores: Mapping[str, Mapping[str, Any]] = summary.get("scores") or {}
    comparison = summary.get("comparison")
    figures = [part for entry in scores.values() for part in (entry, entry.get(EXCLUDING_ERRORS) or {})]
    ks = sorted({key for part in figures for key in part if key.startswith("pass@")}, key=lambda k: int(k[5:]))
    rows = []
    for group, entry in scores.items():
        ran = entry.get(EXCLUDING_ERRORS) or {}
        rows.append(
            {
                "group": group,
                "tasks": entry.get("tasks", "–"),
                "samples": entry.get("samples", "–"),
                "passed": entry.get("passed", ""),
                "errors": entry.get("errors", ""),
                "cells": _pass_cells(entry, ks, group, "", comparison),
                "ran_tasks": ran.get("tasks", "–"),
                "ran_cells": _pass_cells(ran, ks, group, RAN, comparison),
            }
        )
    return ks, rows


def with_errors(rows: list[dict[str, Any]]) -> bool:
    """Whether a table's rows had errors: then it shows the scores excluding them too."""
    return any(isinstance(row["errors"], int) and row["errors"] > 0 for row in rows)


def ordered_groups(summary: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The summary's conversation groups ("suite setting") by suite, then in the paper's setting order."""
    groups: Mapping[str, Any] = summary.get("conversations") or {}

    def order(group: str) -> tuple[str, int, str]:
        suite, _, setting = group.partition(" ")
        return suite, SETTING_ORDER.get(setting, len(SETTING_ORDER)), setting

    return [(group, groups[group]) for group in sorted(groups, key=order) if isinstance(groups[group], dict)]


def _rates(entry: Mapping[str, Any], group: str, suffix: str, comparison: Mapping[str, Any] | None) -> list[Cell]:
    """MRR and Recall cells of a conversation group ("suite setting"), compared as
    ``<suite>:mrr[<setting>]<suffix>``."""
    if not entry.get("tasks") or "mrr" not in entry:  # none scored, or a schema-1 group with errors
        return [Cell("–"), Cell("–")]
    suite, _, setting = group.partition(" ")
    return [cell(entry[name], f"{suite}:{name}[{setting}]{suffix}", comparison) for name in ("mrr", "recall")]


def conversation_table(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A row per suite and feedback setting: MRR, Recall, errors and leaked user feedback, and
    MRR and Recall excluding errors (``ran_*``)."""
    comparison = summary.get("comparison")
    rows = []
    for group, entry in ordered_groups(summary):
        suite, _, setting = group.partition(" ")
        user = entry.get("user_feedback", 0)
        ran = entry.get(EXCLUDING_ERRORS) or {}
        mrr, recall = _rates(entry, group, "", comparison)
        ran_mrr, ran_recall = _rates(ran, group, RAN, comparison)
        rows.append(
            {
                "suite": suite,
                "setting": entry.get("setting", setting),
                "tasks": entry.get("tasks", "–"),
                "turns": entry.get("turns", ""),
                "mrr": mrr,
                "recall": recall,
                "errors": entry.get("errors", 0),
                "leaks": f"{entry.get('leaks', 0)}/{user}" if user else "–",
                "ran_tasks": ran.get("tasks", "–"),
                "ran_mrr": ran_mrr,
                "ran_recall": ran_recall,
            }
        )
    return rows


def convcodebench_table(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A row per suite and setting of ConvCodeBench: MRR and Recall against the frozen reference,
    beside the target's own turn-0 pass@1."""
    groups: Mapping[str, Any] = summary.get("convcodebench") or {}
    rows = []
    for group in sorted(groups, key=lambda g: (g.partition(" ")[0], SETTING_ORDER.get(g.partition(" ")[2], 99))):
        entry = groups[group]
        cells = {name: _number(entry.get(name)) for name in ("mrr", "recall", "turn0")}
        rows.append(
            {
                "suite": group.partition(" ")[0],
                "label": entry.get("label", ""),
                "tasks": entry.get("tasks"),
                "reference": entry.get("reference", ""),
                **cells,
            }
        )
    return rows


def feature_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Code reasoning scores by code feature: one row per group, feature and bucket, with pass@k
    excluding errors under ``ran``."""
    rows = []
    for group, by_feature in (summary.get("features") or {}).items():
        for feature, buckets in by_feature.items():
            for b in buckets:
                ran = b.get(EXCLUDING_ERRORS) or {}
                row = {"group": group, "feature": feature, "bucket": b["bucket"], "tasks": b.get("tasks", "–")}
                row |= {"errors": b.get("errors", 0), "ran_tasks": ran.get("tasks", "–"), "ran": _percents(ran)}
                rows.append(row | _percents(b))
    return rows


def _percents(entry: Mapping[str, Any]) -> dict[str, str]:
    return {k: _number(100.0 * v) for k, v in entry.items() if k.startswith("pass@")}


def comparison_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every compared metric, including those the headline tables have no cell for."""
    comparison = summary.get("comparison") or {}
    return [
        {"metric": m, "cell": cell(c.get("value"), m, comparison)} for m, c in (comparison.get("metrics") or {}).items()
    ]


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or "–"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def duration(seconds: Any) -> str:
    """1 h 02 min 03 s, from seconds."""
    if not isinstance(seconds, int | float):
        return ""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"


def _generation_facts(generation: dict[str, Any]) -> list[tuple[str, str]]:
    """What the coder's and the simulated user's requests cost (schema 3), or the totals of an
    older summary."""
    if "coder" not in generation:
        if not generation:
            return []
        return [
            (
                "tokens",
                f"{generation.get('prompt_tokens', 0):,} prompt + {generation.get('completion_tokens', 0):,} "
                f"completion; {generation.get('request_seconds', 0)} s of requests, "
                f"{generation.get('retries', 0)} retries, {generation.get('cached_answers', 0)} answers from the cache",
            )
        ]
    facts = []
    for role in ("coder", "simulator"):
        g = generation.get(role) or {}
        if not g.get("requests"):
            continue
        speed = f" ({g['tokens_per_second']} tokens/s)" if g.get("tokens_per_second") is not None else ""
        facts.append(
            (
                f"{role} tokens",
                f"{g.get('prompt_tokens', 0):,} prompt + {g.get('completion_tokens', 0):,} completion in "
                f"{g['requests']:,} requests ({g.get('requests_cached', 0):,} from the cache); "
                f"{g.get('seconds_at_server', 0)} s at the server{speed}, {g.get('seconds_queued', 0)} s queued, "
                f"{g.get('retries', 0)} retries",
            )
        )
    return facts


def _incomplete(summary: dict[str, Any]) -> str:
    items = summary.get("items") or {}
    if summary.get("complete") is not False:
        return ""
    return f"; INCOMPLETE: {items.get('done', 0)} of {items.get('planned', 0)} items"


def metadata(run: RunData) -> dict[str, Any]:
    """The run's description: who, when, with what, at what cost."""
    summary = run.summary
    generation = summary.get("generation") or {}
    items = summary.get("items") or {}
    suites = []
    for suite, info in (summary.get("suites") or {}).items():
        info = info if isinstance(info, dict) else {}
        suites.append(
            {
                "suite": suite,
                "dataset": _text(info.get("dataset")),
                "version": _text(info.get("version")),
                "source": _text(info.get("source")),
                "sha256": str(info.get("sha256") or ""),
            }
        )
    if not suites:  # an older or unfinished run: the data set each record names
        suites = [
            {"suite": s, "dataset": d, "version": "", "source": "", "sha256": ""}
            for s, d in sorted(run.datasets.items())
        ]
    facts = [
        ("run", _text(summary.get("run_id") or run.directory.name)),
        ("model", _text(summary.get("model"))),
        ("started", _text(summary.get("started")) if summary.get("started") else ""),
        ("finished", _text(summary.get("finished")) if run.finished and summary.get("finished") else ""),
        ("duration", duration(summary.get("duration_s"))),
        ("items", ", ".join(f"{items.get(o, 0)} {o}" for o in ("passed", "failed", "error")) + _incomplete(summary)),
        ("records", str(run.records)),
    ]
    facts += _generation_facts(generation)
    if "schema_version" in summary:
        facts.append(("summary schema", _text(summary["schema_version"])))
    return {
        "facts": [(name, value) for name, value in facts if value],
        "suites": suites,
        "settings": [(name, _text(value)) for name, value in (summary.get("settings") or {}).items()],
        "versions": [(name, _text(value)) for name, value in (summary.get("versions") or {}).items()],
        "identity": [(name, _text(value)) for name, value in (summary.get("model_identity") or {}).items()],
        "gates": summary.get("gates") or [],
    }


def _series_name(group: str, suites: set[str]) -> str:
    """A conversation group as a legend names it: the setting alone when there is one suite."""
    return group.partition(" ")[2] if len(suites) == 1 else group


def charts(run: RunData) -> list[Chart]:
    """pass@k bars, the per-turn recall curves and the histogram of solving turns, as they apply."""
    summary = run.summary
    comparison = summary.get("comparison")
    result: list[Chart] = []
    scores: Mapping[str, Mapping[str, Any]] = summary.get("scores") or {}
    values: dict[str, float | None] = {}
    baseline: dict[str, float | None] = {}
    for group, entry in scores.items():
        for key, value in entry.items():
            if key.startswith("pass@") and isinstance(value, int | float):
                values[f"{group} {key}"] = 100.0 * value
                compared = ((comparison or {}).get("metrics") or {}).get(f"{group}:{key}") or {}
                base = compared.get("baseline") if isinstance(compared, dict) else None  # percent
                baseline[f"{group} {key}"] = float(base) if isinstance(base, int | float) else None
    if values:
        title = "pass@k by score group" + (" (hatched: baseline)" if comparison else "")
        svg = plots.bar_chart(values, baseline if comparison else None, title=title, x_label="score group")
        result.append(Chart(title, Markup(svg)))
    conversations = dict(ordered_groups(summary))
    suites = {group.partition(" ")[0] for group in conversations}
    curves = {_series_name(g, suites): list(e["curve"]) for g, e in conversations.items() if e.get("curve")}
    if curves:
        base_groups = ((run.baseline_summary or {}).get("conversations") or {}) if comparison else {}
        base_curves = {
            _series_name(g, suites): list(e["curve"])
            for g, e in base_groups.items()
            if g in conversations and isinstance(e, dict) and e.get("curve")
        }
        title = "Recall by turn, per feedback setting" + (" (dashed: baseline)" if base_curves else "")
        svg = plots.line_chart(curves, base_curves or None, title=title)
        result.append(Chart(title, Markup(svg)))
    for group, by_feature in (summary.get("features") or {}).items():
        for feature, buckets in by_feature.items():
            bars = {str(b["bucket"]): 100.0 * b["pass@1"] for b in buckets if "pass@1" in b}
            if bars:
                title = f"{group}: pass@1 by {feature}"
                result.append(Chart(title, Markup(plots.bar_chart(bars, title=title, x_label=feature))))
    bench: Mapping[str, Any] = summary.get("convcodebench") or {}
    bench_suites = {group.partition(" ")[0] for group in bench}
    by_turn = {_series_name(g, bench_suites): list(e["pass_at_turn"]) for g, e in bench.items() if "pass_at_turn" in e}
    if by_turn:
        title = "ConvCodeBench: pass@1 by turn (turn k or reference turn 0)"
        result.append(Chart(title, Markup(plots.line_chart(by_turn, title=title, y_label="pass@1 (%)"))))
    if run.conversational:
        turns = max((int(e.get("turns", 0)) for e in conversations.values()), default=0)
        turns = max([turns, *(p.solved_at + 1 for p in run.problems if p.solved_at is not None)])
        # every setting in the legend, in the summary's order, solved or not
        counts = {_series_name(group, suites): [0] * turns for group in conversations}
        for problem in run.problems:
            if problem.setting is not None and problem.status == PASSED and problem.solved_at is not None:
                name = _series_name(f"{problem.suite} {problem.setting}", suites)
                counts.setdefault(name, [0] * turns)[problem.solved_at] += 1
        title = "Turn at which conversations were solved"
        result.append(Chart(title, Markup(plots.stacked_histogram(counts, title=title))))
    return result
