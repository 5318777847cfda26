"""The terminal's end of a run: the score tables (pass@k per score group, MRR / Recall and the pass
curve per conversation setting, pass@1 by code feature), the comparison and the gates."""

from __future__ import annotations

from typing import Any

import pytest

from .session import RUN


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash[RUN]
    summary = run.results.summary
    if not summary or run.log is None:
        return
    tr = terminalreporter
    tr.write_sep("=", f"convcode: {summary['model']} · run {summary['run_id']}")
    if summary["scores"]:
        _write_scores(tr, summary["scores"])
    if summary["conversations"]:
        _write_conversations(tr, summary["conversations"])
    if summary["features"]:
        _write_features(tr, summary["features"])
    items = summary["items"]
    tr.write_line(
        f"items: {items['passed']} passed, {items['failed']} failed (wrong answers), "
        f"{items['error']} errors (harness, not counted in scores)"
    )
    tr.write_line(f"results: {run.log.results_path}")
    if run.results.report is not None:
        tr.write_line(f"report: {run.results.report}")
    if run.results.report_problem:
        tr.write_line(f"report: not written: {run.results.report_problem}", red=True)
    if "comparison" in summary:
        _write_comparison(tr, summary["comparison"])
    for gate in summary["gates"]:
        if gate["passed"]:
            tr.write_line(f"gate {gate['gate']}: passed", green=True)
        else:
            tr.write_line(f"gate {gate['gate']}: FAILED: {'; '.join(gate['reasons'])}", red=True, bold=True)


def _write_scores(tr: Any, scores: dict[str, dict[str, Any]]) -> None:
    ks = sorted(
        {key for entry in scores.values() for key in entry if key.startswith("pass@")}, key=lambda k: int(k[5:])
    )
    width = max(14, *(len(group) + 2 for group in scores))
    header = f"{'score':<{width}}{'tasks':>7}{'samples':>9}{'passed':>8}{'errors':>8}" + "".join(f"{k:>9}" for k in ks)
    tr.write_line(header)
    for group, entry in scores.items():
        cells = "".join(f"{100 * entry[k]:>9.1f}" if k in entry else f"{'-':>9}" for k in ks)
        tr.write_line(
            f"{group:<{width}}{entry['tasks']:>7}{entry['samples']:>9}{entry['passed']:>8}{entry['errors']:>8}{cells}"
        )


def _write_conversations(tr: Any, conversations: dict[str, dict[str, Any]]) -> None:
    """MRR, Recall and the pass curve per setting, as ConvCodeWorld reports them."""
    width = max(len(group) for group in conversations) + 2
    tr.write_line(
        f"{'conversation':<{width}}{'tasks':>6}{'MRR':>7}{'Recall':>8}{'errors':>8}{'leaks':>7}  pass by turn"
    )
    for group, entry in conversations.items():
        mrr = f"{entry['mrr']:>7.1f}{entry['recall']:>8.1f}" if entry["tasks"] else f"{'-':>7}{'-':>8}"
        curve = " ".join(f"{value:.1f}" for value in entry.get("curve", []))
        leaks = f"{entry['leaks']}/{entry['user_feedback']}" if entry["user_feedback"] else "-"
        tr.write_line(f"{group:<{width}}{entry['tasks']:>6}{mrr}{entry['errors']:>8}{leaks:>7}  {curve}")


def _write_features(tr: Any, features: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    """pass@1 by code feature: one line per feature, ``bucket: pass@1 (tasks)`` for each bucket."""
    for group, by_feature in features.items():
        tr.write_line(f"{group} pass@1 by code feature, bucket: pass@1 (tasks)")
        for feature, buckets in by_feature.items():
            scored = [b for b in buckets if "pass@1" in b]
            cells = " | ".join(f"{b['bucket']}: {100 * b['pass@1']:.1f} ({b['tasks']})" for b in scored)
            tr.write_line(f"  {feature:<26}{cells}")


def _write_comparison(tr: Any, comparison: dict[str, Any], shown: int = 20) -> None:
    """Deltas of the metrics both runs measured, and the problems that flipped (the first few)."""
    base = comparison["baseline"]
    tr.write_line(f"compared with run {base['run_id']} ({base['model']}):")
    for name, m in comparison["metrics"].items():
        if m["delta"] is not None:
            tr.write_line(f"  {name:<40}{m['value']:>7.1f}{m['delta']:>+8.1f}  (was {m['baseline']:.1f})")
    for label, key, colour in (("now passing", "now_passing", "green"), ("now failing", "now_failing", "red")):
        problems = comparison[key]
        more = f", and {len(problems) - shown} more (summary.json)" if len(problems) > shown else ""
        listed = ", ".join(problems[:shown]) or "none"
        tr.write_line(f"  {label} ({len(problems)}): {listed}{more}", **({colour: True} if problems else {}))
