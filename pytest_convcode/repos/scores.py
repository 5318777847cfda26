"""Scores of repository tasks, as the seed reports them and more: per kind ("repotasks method_gen",
"... completion", "... repair"), the pass rate (all selected tests pass), for method generation
cumulative by turn with its MRR (ConvCodeWorld's curve and MRR, ``conversation_metrics``); the
average share of tests passed, cumulative by turn (a task's best turn so far); chrF and the
common-prefix ratio of each task's last answer against the ground truth; and the answers whose
tests crashed or were not run (not a method), counted apart from failures."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..conversation_metrics import report, summarize_conversations
from ..metrics import EXCLUDING_ERRORS

Record = Mapping[str, Any]


def similarity(prediction: str, reference: str) -> tuple[float, float]:
    """chrF (sacrebleu's, 0..100) and the common-prefix ratio (the share of the reference that the
    prediction starts with, 0..1) of an answer against its ground truth."""
    from sacrebleu.metrics.chrf import CHRF

    common = 0
    for a, b in zip(prediction, reference, strict=False):
        if a != b:
            break
        common += 1
    ratio = common / len(reference) if reference else float(not prediction)
    return CHRF().sentence_score(prediction, [reference]).score, ratio


def summarize_repotasks(records: Iterable[Record]) -> dict[str, dict[str, Any]]:
    """Per suite and kind: the scores above (percent, one decimal), from each item's record."""
    records = list(records)
    by_group: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_group[f"{record['suite']} {record['setting']}"].append(record)
    conversations = summarize_conversations(records)
    return {group: _entry(conversations[group], by_group[group]) for group in sorted(by_group)}


def _entry(conversation: Mapping[str, Any], records: Sequence[Record]) -> dict[str, Any]:
    last_turn = conversation["turns"] - 1
    shares: dict[str, dict[int, float]] = defaultdict(dict)  # task -> turn -> share of its tests passed
    last: dict[str, Record] = {}  # each task's last answer that was scored
    for record in sorted(records, key=lambda r: r["turn"]):
        task = record["task_id"]
        turns = shares[task]  # every task counts: one with no turn scored (errored) at 0
        if "share_passed" in record:
            turns[record["turn"]] = float(record["share_passed"])
        if "chrf" in record:
            last[task] = record
    share_curve = _share_curve(shares.values(), last_turn)
    ran = conversation[EXCLUDING_ERRORS]
    return {
        "kind": conversation["setting"],
        "tasks": conversation["tasks"],
        "turns": last_turn,
        "pass_rate": conversation.get("recall", 0.0),
        "mrr": conversation.get("mrr", 0.0),
        "curve": conversation.get("curve", []),
        "share": share_curve[-1],
        "share_curve": share_curve,
        "chrf": _mean(r["chrf"] for r in last.values()),
        "prefix_ratio": _mean(100.0 * r["prefix_ratio"] for r in last.values()),
        "crashed": sum(bool(r.get("crashed")) for r in records),
        "not_run": sum(bool(r.get("not_run")) for r in records),
        "errors": conversation["errors"],
        EXCLUDING_ERRORS: {"tasks": ran["tasks"], "pass_rate": ran.get("recall", 0.0), "mrr": ran.get("mrr", 0.0)},
    }


def _share_curve(tasks: Iterable[Mapping[int, float]], last_turn: int) -> list[float]:
    """For each turn, the mean over tasks of the best share of tests passed at any turn so far
    (a task solved earlier keeps its 1.0; a task with none scored counts 0), x100."""
    tasks = list(tasks)
    if not tasks:
        return [0.0] * (last_turn + 1)
    curve = []
    for turn in range(last_turn + 1):
        best = [max((s for t, s in shares.items() if t <= turn), default=0.0) for shares in tasks]
        curve.append(report(100.0 * sum(best) / len(best)))
    return curve


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return report(sum(values) / len(values)) if values else 0.0


def table(section: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The terminal's lines: one per kind, then the curves by turn of the multi-turn ones."""
    width = max(len(group) for group in section) + 2
    lines = [
        f"{'repository tasks':<{width}}{'tasks':>6}{'pass':>7}{'MRR':>7}{'tests':>7}{'chrF':>7}{'prefix':>8}"
        f"{'crashed':>9}{'not run':>9}{'errors':>8}"
    ]
    for group, e in section.items():
        lines.append(
            f"{group:<{width}}{e['tasks']:>6}{e['pass_rate']:>7.1f}{e['mrr']:>7.1f}{e['share']:>7.1f}{e['chrf']:>7.1f}"
            f"{e['prefix_ratio']:>8.1f}{e['crashed']:>9}{e['not_run']:>9}{e['errors']:>8}"
        )
    for group, e in section.items():
        if e["turns"]:
            lines.append(f"{group}: pass by turn {' '.join(f'{v:.1f}' for v in e['curve'])}")
            lines.append(f"{group}: tests passed by turn {' '.join(f'{v:.1f}' for v in e['share_curve'])}")
    return lines
