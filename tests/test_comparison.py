"""Problem status and flips between two runs' records (pure; the plugin's --compare is in test_summary.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_convcode.comparison import Baseline, compare, problem_status


def turn(task: str, setting: str, t: int, solved_at: int | None, outcome: str = "passed") -> dict[str, Any]:
    return {"suite": "bigcodebench", "task_id": task, "setting": setting, "turn": t, "solved_at": solved_at,
            "outcome": outcome}  # fmt: skip


def single(task: str, sample: int, base: bool, plus: bool) -> dict[str, Any]:
    phases = {"base": {"passed": base}, "plus": {"passed": plus}}
    return {"suite": "humaneval", "task_id": task, "sample": sample, "phases": phases, "outcome": "passed"}


def test_a_conversation_is_solved_when_any_turn_passed_and_an_error_taints_it() -> None:
    records = [
        turn("B/1", "cf", 0, None, "failed"),
        turn("B/1", "cf", 1, 1),
        turn("B/2", "cf", 0, None, "failed"),
        turn("B/2", "cf", 1, None, "error"),
        turn("B/2", "cf", 2, 2),
        turn("B/3", "cf-ef_full", 0, None, "failed"),
    ]
    assert problem_status(records) == {
        "bigcodebench/B/1 cf": True,
        "bigcodebench/B/2 cf": None,
        "bigcodebench/B/3 cf-ef_full": False,
    }


def test_a_single_turn_task_is_solved_when_some_sample_passed_every_phase() -> None:
    records = [single("H/1", 0, True, False), single("H/1", 1, True, True), single("H/2", 0, True, False)]
    assert problem_status(records) == {"humaneval/H/1": True, "humaneval/H/2": False}


def test_only_problems_both_runs_scored_can_flip() -> None:
    before = [turn("B/1", "cf", 0, None, "failed"), turn("B/2", "cf", 0, 0), turn("B/3", "cf", 0, 0)]
    after = [turn("B/1", "cf", 0, 0), turn("B/2", "cf", 0, None, "failed"), turn("B/3", "cf", 0, None, "error")]
    after.append(turn("B/4", "cf", 0, 0))
    baseline = Baseline(Path("before"), {"run_id": "b", "model": "m"}, problem_status(before))
    result = compare({}, after, baseline)
    assert (result["now_passing"], result["now_failing"]) == (["bigcodebench/B/1 cf"], ["bigcodebench/B/2 cf"])
    assert (result["only_here"], result["only_baseline"]) == (1, 0)
