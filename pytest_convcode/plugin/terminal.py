"""The terminal's end of a run: the score tables (pass@k per score group, MRR / Recall and the pass
curve per conversation setting, pass@1 by code feature), the comparison and the gates.

Every score is strict (an errored item counts as not passed); where a table had errors, the
scores excluding them follow, headed ``(ran)``, with the tasks that ran."""

from __future__ import annotations

from typing import Any

import pytest

from ..gates import RAN
from ..metrics import EXCLUDING_ERRORS
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
    ran = f'; "{RAN}": the scores without them' if items["error"] else ""
    tr.write_line(
        f"items: {items['passed']} passed, {items['failed']} failed (wrong answers), "
        f"{items['error']} errors (harness trouble, scored as not passed{ran})"
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


def _pass_cells(entry: dict[str, Any], ks: list[str], width: int) -> str:
    return "".join(f"{100 * entry[k]:>{width}.1f}" if k in entry else f"{'-':>{width}}" for k in ks)


def _write_scores(tr: Any, scores: dict[str, dict[str, Any]]) -> None:
    """pass@k per score group; with errors, the tasks that ran and pass@k over them."""
    ks = sorted(
        {key for entry in scores.values() for key in entry if key.startswith("pass@")}, key=lambda k: int(k[5:])
    )
    errors = any(entry["errors"] for entry in scores.values())
    width = max(14, *(len(group) + 2 for group in scores))
    header = f"{'score':<{width}}{'tasks':>7}{'samples':>9}{'passed':>8}{'errors':>8}" + "".join(f"{k:>9}" for k in ks)
    if errors:
        header += f"{'ran':>6}" + "".join(f"{f'{k} {RAN}':>15}" for k in ks)
    tr.write_line(header)
    for group, entry in scores.items():
        line = f"{group:<{width}}{entry['tasks']:>7}{entry['samples']:>9}{entry['passed']:>8}{entry['errors']:>8}"
        line += _pass_cells(entry, ks, 9)
        if errors:
            ran = entry[EXCLUDING_ERRORS]
            line += f"{ran['tasks']:>6}" + _pass_cells(ran, ks, 15)
        tr.write_line(line)


def _rates(entry: dict[str, Any], widths: tuple[int, int] = (7, 8)) -> str:
    """A conversation entry's MRR and Recall, or dashes where it scored no task."""
    mrr, recall = widths
    if not entry["tasks"]:
        return f"{'-':>{mrr}}{'-':>{recall}}"
    return f"{entry['mrr']:>{mrr}.1f}{entry['recall']:>{recall}.1f}"


def _write_conversations(tr: Any, conversations: dict[str, dict[str, Any]]) -> None:
    """MRR, Recall and the pass curve per setting, as ConvCodeWorld reports them; with errors,
    the tasks that ran and MRR and Recall over them."""
    errors = any(entry["errors"] for entry in conversations.values())
    width = max(len(group) for group in conversations) + 2
    ran_header = f"{'ran':>6}{f'MRR {RAN}':>11}{f'Recall {RAN}':>13}" if errors else ""
    tr.write_line(
        f"{'conversation':<{width}}{'tasks':>6}{'MRR':>7}{'Recall':>8}{'errors':>8}{'leaks':>7}{ran_header}"
        "  pass by turn"
    )
    for group, entry in conversations.items():
        leaks = f"{entry['leaks']}/{entry['user_feedback']}" if entry["user_feedback"] else "-"
        line = f"{group:<{width}}{entry['tasks']:>6}{_rates(entry)}{entry['errors']:>8}{leaks:>7}"
        if errors:
            ran = entry[EXCLUDING_ERRORS]
            line += f"{ran['tasks']:>6}{_rates(ran, (11, 13))}"
        curve = " ".join(f"{value:.1f}" for value in entry.get("curve", []))
        tr.write_line(f"{line}  {curve}")


def _write_features(tr: Any, features: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    """pass@1 by code feature: one line per feature, ``bucket: pass@1 (tasks)`` for each bucket,
    and where the group had errors ``/ pass@1 (tasks)`` excluding them."""
    for group, by_feature in features.items():
        errors = any(b["errors"] for buckets in by_feature.values() for b in buckets)
        ran = f" / pass@1 {RAN} (tasks that ran)" if errors else ""
        tr.write_line(f"{group} pass@1 by code feature, bucket: pass@1 (tasks){ran}")
        for feature, buckets in by_feature.items():
            cells = " | ".join(f"{b['bucket']}: {_feature_cell(b, errors)}" for b in buckets if "pass@1" in b)
            tr.write_line(f"  {feature:<26}{cells}")


def _feature_cell(bucket: dict[str, Any], errors: bool) -> str:
    cell = f"{100 * bucket['pass@1']:.1f} ({bucket['tasks']})"
    if errors:
        ran = bucket[EXCLUDING_ERRORS]
        value = f"{100 * ran['pass@1']:.1f}" if "pass@1" in ran else "-"
        cell += f" / {value} ({ran['tasks']})"
    return cell


def _write_comparison(tr: Any, comparison: dict[str, Any], shown: int = 20) -> None:
    """Deltas of the metrics both runs measured, and the problems that flipped (the first few)."""
    base = comparison["baseline"]
    tr.write_line(f"compared with run {base['run_id']} ({base['model']}):")
    metrics = comparison["metrics"]
    for name, m in metrics.items():
        if name.endswith(RAN) and m == metrics.get(name.removesuffix(RAN)):
            continue  # neither run had errors here: the strict line says the same
        if m["delta"] is not None:
            tr.write_line(f"  {name:<40}{m['value']:>7.1f}{m['delta']:>+8.1f}  (was {m['baseline']:.1f})")
    for label, key, colour in (("now passing", "now_passing", "green"), ("now failing", "now_failing", "red")):
        problems = comparison[key]
        more = f", and {len(problems) - shown} more (summary.json)" if len(problems) > shown else ""
        listed = ", ".join(problems[:shown]) or "none"
        tr.write_line(f"  {label} ({len(problems)}): {listed}{more}", **({colour: True} if problems else {}))
