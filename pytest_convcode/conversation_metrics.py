"""Scores of multi-turn conversations: ConvCodeWorld's per-turn pass curve, MRR and Recall, and
ConvCodeBench's variant of both, scored against a frozen reference conversation.

A conversation has turns 0..``max_turns``: turn 0 is the model's own single-turn answer, each later
turn answers one round of feedback; turn ``t`` has rank ``t + 1``. A task is judged by its first
passing turn only (``None`` when no turn passes), so that a flaky test passing after the task was
solved cannot change the score. Aggregates are means over tasks, x100; round to one decimal only
when reporting (``report``), never before combining.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .metrics import EXCLUDING_ERRORS

MAX_TURNS = 10  # feedback rounds after turn 0: 11 attempts in all


def first_pass(turns: Sequence[bool]) -> int | None:
    """The first turn whose code passed, from a conversation's per-turn verdicts."""
    for turn, passed in enumerate(turns):
        if passed:
            return turn
    return None


def first_passes(conversations: Iterable[Sequence[bool]]) -> list[int | None]:
    """``first_pass`` of each task's per-turn verdicts."""
    return [first_pass(turns) for turns in conversations]


def _solved_by(first: int | None, max_turns: int) -> bool:
    if first is not None and first < 0:
        raise ValueError(f"a turn cannot be negative: {first}")
    return first is not None and first <= max_turns


def reciprocal_rank(first: int | None, max_turns: int = MAX_TURNS) -> float:
    """1 / (t + 1) for a task first solved at turn t, 0 when unsolved within the turn budget."""
    return 1.0 / (first + 1) if first is not None and _solved_by(first, max_turns) else 0.0


def _mean_x100(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no tasks to score")
    return 100.0 * sum(values) / len(values)


def mrr(first_turns: Sequence[int | None], max_turns: int = MAX_TURNS) -> float:
    """Mean reciprocal rank over tasks, x100: rewards solving early, not only solving."""
    return _mean_x100([reciprocal_rank(first, max_turns) for first in first_turns])


def recall(first_turns: Sequence[int | None], max_turns: int = MAX_TURNS) -> float:
    """Share of tasks solved at any turn within the budget, x100."""
    return _mean_x100([float(_solved_by(first, max_turns)) for first in first_turns])


def pass_curve(first_turns: Sequence[int | None], max_turns: int = MAX_TURNS) -> list[float]:
    """For each turn t in 0..max_turns, the share of tasks (x100) solved at some turn <= t.

    Cumulative, so that the curve never falls and its last point is the Recall.
    """
    if not first_turns:
        raise ValueError("no tasks to score")
    solved = [0] * (max_turns + 1)
    for first in first_turns:
        if first is not None and _solved_by(first, max_turns):
            solved[first] += 1
    curve: list[float] = []
    running = 0
    for count in solved:
        running += count
        curve.append(100.0 * running / len(first_turns))
    return curve


def mrr_from_curve(curve: Sequence[float]) -> float:
    """The MRR implied by a cumulative pass curve (x100): sum over t of (pass_t - pass_{t-1}) / (t + 1).

    Lets a published curve be checked against its published MRR; from a rounded curve the result
    can differ from the exact MRR by a few hundredths.
    """
    total = 0.0
    previous = 0.0
    for turn, value in enumerate(curve):
        total += (value - previous) / (turn + 1)
        previous = value
    return total


def recall_from_curve(curve: Sequence[float]) -> float:
    """The Recall implied by a cumulative pass curve: its last point."""
    return curve[-1] if curve else 0.0


def report(value: float) -> float:
    """A score as tables show it: one decimal."""
    return round(value, 1)


@dataclass(frozen=True)
class ConversationScores:
    """MRR, Recall and the pass curve of one run over many tasks (unrounded, x100)."""

    tasks: int
    mrr: float
    recall: float
    curve: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "mrr": report(self.mrr),
            "recall": report(self.recall),
            "curve": [report(value) for value in self.curve],
        }


def score_conversations(first_turns: Sequence[int | None], max_turns: int = MAX_TURNS) -> ConversationScores:
    """All of a run's ConvCodeWorld scores at once."""
    return ConversationScores(
        tasks=len(first_turns),
        mrr=mrr(first_turns, max_turns),
        recall=recall(first_turns, max_turns),
        curve=tuple(pass_curve(first_turns, max_turns)),
    )


# ---------------------------------------------------------------- ConvCodeBench


def _at(statuses: Sequence[bool], turn: int) -> bool:
    # A log stops at its first pass and a target is not run past its own: a missing turn did not pass.
    return turn < len(statuses) and bool(statuses[turn])


def convcodebench_rank(reference: Sequence[bool], target: Sequence[bool], max_turns: int = MAX_TURNS) -> int | None:
    """The rank at which a ConvCodeBench task ends, or None when it never does.

    ``reference[j]``: whether the frozen reference's code at turn j passed; ``target[i]``: whether the
    target's code at turn i passed, turn i being regenerated from the reference's turn i-1 (turn 0:
    the target's own single-turn answer). The reference passing first ends the conversation: the
    target could not have been asked again, so it is credited with that rank (1 if ``reference[0]``
    passes, else i when ``reference[i-1]`` passes). Otherwise the target's first pass at turn i
    gives rank i + 1.
    """
    if _at(reference, 0):
        return 1
    for turn in range(max_turns + 1):
        if turn > 0 and _at(reference, turn - 1):
            return turn
        if _at(target, turn):
            return turn + 1
    return None


def convcodebench_score(reference: Sequence[bool], target: Sequence[bool], max_turns: int = MAX_TURNS) -> float:
    """One task's ConvCodeBench reciprocal rank: 1 / rank, or 0."""
    rank = convcodebench_rank(reference, target, max_turns)
    return 1.0 / rank if rank is not None else 0.0


def convcodebench_mrr(tasks: Iterable[tuple[Sequence[bool], Sequence[bool]]], max_turns: int = MAX_TURNS) -> float:
    """ConvCodeBench MRR over (reference statuses, target statuses) pairs, x100."""
    return _mean_x100([convcodebench_score(ref, tgt, max_turns) for ref, tgt in tasks])


def convcodebench_recall(tasks: Iterable[tuple[Sequence[bool], Sequence[bool]]], max_turns: int = MAX_TURNS) -> float:
    """ConvCodeBench Recall over (reference statuses, target statuses) pairs, x100: the same
    walk, crediting 1 wherever the MRR credits a reciprocal."""
    return _mean_x100([float(convcodebench_rank(ref, tgt, max_turns) is not None) for ref, tgt in tasks])


def convcodebench_pass_at_turn(
    tasks: Sequence[tuple[Sequence[bool], Sequence[bool]]], max_turns: int = MAX_TURNS
) -> list[float]:
    """ConvCodeBench's per-turn pass@1, x100, for turns 0..max_turns: a task counts at turn k when
    the target's code passed there or the reference's turn 0 did (``tgt_k or ref_0``), as the
    original's table has it: not cumulative, so it may fall."""
    if not tasks:
        raise ValueError("no tasks to score")
    return [100.0 * sum(_at(tgt, k) or _at(ref, 0) for ref, tgt in tasks) / len(tasks) for k in range(max_turns + 1)]


# ---------------------------------------------------------------- a run's records


def summarize_conversations(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per suite and setting ("bigcodebench cf-ef_full-expert"): MRR, Recall and the pass curve up
    to the last turn selected, from each turn record's ``solved_at`` (exact even when early turns
    were not selected). A task with an errored turn counts as unsolved; under ``excluding_errors``
    the same scores over the tasks without one. ``leaks`` counts the simulated user's feedback
    turns that shared code with the ground truth."""
    firsts: dict[str, dict[str, int | None]] = defaultdict(dict)
    last_turn: dict[str, int] = defaultdict(int)
    errors: dict[str, set[str]] = defaultdict(set)
    leaks: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # [user feedback turns, leaked]
    for record in records:
        group = f"{record['suite']} {record['setting']}"
        task = record["task_id"]
        last_turn[group] = max(last_turn[group], record["turn"])
        if record["outcome"] == "error":
            errors[group].add(task)
            continue
        solved = [turn for turn in (firsts[group].get(task), record.get("solved_at")) if turn is not None]
        firsts[group][task] = min(solved, default=None)
        if "leaked" in record:
            leaks[group][0] += 1
            leaks[group][1] += bool(record["leaked"])
    summary: dict[str, dict[str, Any]] = {}
    for group in sorted(last_turn):
        ran = [first for task, first in firsts[group].items() if task not in errors[group]]
        unsolved: list[int | None] = [None] * len(errors[group])
        entry: dict[str, Any] = {"setting": group.split(" ", 1)[1], "turns": last_turn[group] + 1}
        entry.update(_scores(ran + unsolved, last_turn[group]))
        entry.update(errors=len(errors[group]), user_feedback=leaks[group][0], leaks=leaks[group][1])
        entry[EXCLUDING_ERRORS] = _scores(ran, last_turn[group])
        summary[group] = entry
    return summary


def _scores(first_turns: list[int | None], max_turns: int) -> dict[str, Any]:
    return score_conversations(first_turns, max_turns).to_json() if first_turns else {"tasks": 0}


def summarize_convcodebench(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per suite and setting ("bigcodebench cf-ef_full-expert"): ConvCodeBench's MRR, Recall and
    per-turn pass@1 beside the target's own turn-0 pass@1, from each turn record's
    ``target_passed`` (tgt_k), ``reference_passed`` (ref_(k-1)) and ``settled``. A settled turn
    counts as passed (its code is the reference's passing one); a turn not selected, or one that
    errored, as not passed."""
    target: dict[str, dict[str, dict[int, bool]]] = defaultdict(lambda: defaultdict(dict))
    reference: dict[str, dict[str, dict[int, bool]]] = defaultdict(lambda: defaultdict(dict))
    last_turn: dict[str, int] = defaultdict(int)
    first: dict[str, Mapping[str, Any]] = {}
    errors: dict[str, set[str]] = defaultdict(set)
    for record in records:
        group = f"{record['suite']} {record['setting']}"
        task, turn = record["task_id"], record["turn"]
        first.setdefault(group, record)
        last_turn[group] = max(last_turn[group], turn)
        if record["outcome"] == "error":
            errors[group].add(task)
        target[group][task][turn] = bool(record.get("target_passed") or record.get("settled"))
        if turn > 0 and record.get("reference_passed") is not None:
            reference[group][task][turn - 1] = bool(record["reference_passed"])
    summary: dict[str, dict[str, Any]] = {}
    for group in sorted(last_turn):
        turns = last_turn[group]
        tasks = [
            (
                [reference[group][task].get(j, False) for j in range(turns)],
                [tgt.get(k, False) for k in range(turns + 1)],
            )
            for task, tgt in target[group].items()
        ]
        summary[group] = {
            "setting": first[group]["setting"],
            "reference": first[group].get("reference", ""),
            "turns": turns,
            "mrr": report(convcodebench_mrr(tasks, turns)),
            "recall": report(convcodebench_recall(tasks, turns)),
            "pass_at_turn": [report(value) for value in convcodebench_pass_at_turn(tasks, turns)],
            "turn0": report(_mean_x100([float(_at(tgt, 0)) for _, tgt in tasks])),
            "tasks": len(tasks),
            "errors": len(errors[group]),
        }
    return summary
