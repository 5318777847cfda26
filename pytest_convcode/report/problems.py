"""The report table's rows: one ``Problem`` per single-turn task and sample, or per conversation
(task and setting), each with its ``Turn``s, built from a run's records and conversation logs.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..feedback.settings import ALL_SETTINGS
from ..records import CONVCODEBENCH, CONVERSATION, is_conversation, problem_key, variant
from .diff import unified_diff

PASSED, FAILED, ERROR = "passed", "failed", "error"
SETTING_ORDER = {setting.id: i for i, setting in enumerate(ALL_SETTINGS)}


@dataclass
class Turn:
    """One attempt at a problem: the program tested, how it fared, and the feedback it answered."""

    index: int
    status: str  # passed / failed / error
    program: str | None = None
    diff: str | None = None  # unified diff against the previous turn's program
    diff_from: int | None = None  # that previous turn (an earlier one when turns are missing)
    failure: str = ""  # the harness's explanation of the failure
    run_error: str = ""  # the program did not load
    error: str = ""  # the item errored (harness trouble): pytest's report, cut
    tests: dict[str, str] = field(default_factory=dict)
    phases: dict[str, Any] = field(default_factory=dict)
    feedback: dict[str, Any] | None = None
    leaked: bool = False
    reference: str = ""  # ConvCodeBench: what of the turn came from the frozen reference
    reply: str | None = None
    prediction: str | None = None  # code reasoning suites: the model's predicted value
    usage: dict[str, Any] = field(default_factory=dict)
    latency_s: float | None = None
    cached: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """The turn as the page's script reads it: empty fields left out to keep the page small."""
        data: dict[str, Any] = {"turn": self.index, "status": self.status}
        for name in ("program", "diff", "diff_from", "feedback", "reply", "prediction", "latency_s", "cached"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        for name in ("failure", "run_error", "error", "tests", "phases", "leaked", "reference", "usage"):
            value = getattr(self, name)
            if value:
                data[name] = value
        return data


@dataclass
class Problem:
    """A table row: one single-turn task and sample, or one conversation (task and setting)."""

    row_id: str  # unique in the run: the key, plus "#sample" when a task has several samples
    key: str  # as a comparison names it (comparison.problem_key): "suite/task_id", with a setting or mode
    suite: str
    task_id: str
    setting: str | None
    sample: int | None
    status: str  # passed / failed / error (a solved conversation passed)
    solved_at: int | None = None
    turns: list[Turn] = field(default_factory=list)
    flip: str | None = None  # "now passing" / "now failing" against the compared baseline
    variant: str | None = None  # code reasoning: the mode predicted ("input" / "output")

    @property
    def label(self) -> str:
        """The status as the table shows it."""
        if self.setting is None or self.status == ERROR:
            return self.status
        return f"solved at turn {self.solved_at}" if self.status == PASSED else "unsolved"


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort "HumanEval/2" before "HumanEval/10"."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def _prediction(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _single_problem(record: dict[str, Any], samples: int) -> Problem:
    suite, task_id, mode = record["suite"], record["task_id"], variant(record)
    key = problem_key(record)
    sample = int(record.get("sample", 0))
    turn = Turn(
        index=0,
        status=record["outcome"],
        program=record.get("program"),
        failure=record.get("failure", ""),
        error=record.get("error", ""),
        phases=record.get("phases") or {},
        reply=record.get("reply"),
        prediction=_prediction(record.get("prediction")),
        usage=record.get("usage") or {},
        latency_s=record.get("latency_s"),
        cached=record.get("cached"),
    )
    row_id = key + (f"#{sample}" if samples > 1 else "")
    problem = Problem(row_id, key, suite, task_id, None, sample, record["outcome"], turns=[turn])
    problem.variant = mode
    return problem


def _conversation_problem(
    suite: str, task_id: str, setting: str, records: dict[int, dict[str, Any]], logged: dict[int, dict[str, Any]]
) -> Problem:
    """A conversation from its turn records and its log lines (either may lack turns)."""
    solved = [r["solved_at"] for r in records.values() if r.get("solved_at") is not None]
    solved_at = min(solved, default=None)
    status = ERROR if any(r["outcome"] == ERROR for r in records.values()) else PASSED if solved else FAILED
    ran = set(logged) | {t for t, r in records.items() if "program" in r or "error" in r or r.get("settled")}
    turns: list[Turn] = []
    for index in sorted(ran):
        entry, record = logged.get(index), records.get(index, {})
        feedback = entry.get("feedback") if entry else None
        if entry is not None:
            turn_status = PASSED if entry.get("passed") else FAILED
        elif record.get("outcome") == ERROR:
            turn_status = ERROR
        else:
            turn_status = PASSED if record.get("solved_at") == index else FAILED
        program = entry.get("program") if entry else record.get("program")
        turn = Turn(
            index=index,
            status=turn_status,
            program=program,
            failure=record.get("failure", ""),
            run_error=entry.get("run_error", "") if entry else "",
            error=record.get("error", ""),
            tests=(entry.get("tests") or {}) if entry else {},
            feedback=feedback if isinstance(feedback, dict) else None,
            leaked=bool(record.get("leaked") or (isinstance(feedback, dict) and feedback.get("leaked"))),
            reply=entry.get("reply") if entry and not program else None,
            usage=(entry or record).get("usage") or {},
            latency_s=(entry or record).get("latency_s"),
            cached=(entry or record).get("cached"),
            reference=_from_reference(record, index),
        )
        if turn.reference:  # answers the reference's program, not the one before it: no diff
            turns.append(turn)
            continue
        previous = next((t for t in reversed(turns) if t.program is not None), None)
        if previous is not None and previous.program is not None and program is not None:
            turn.diff_from = previous.index
            turn.diff = unified_diff(previous.program, program, f"turn {previous.index}", f"turn {index}")
        turns.append(turn)
    key = problem_key({"kind": CONVERSATION, "suite": suite, "task_id": task_id, "setting": setting})
    return Problem(key, key, suite, task_id, setting, None, status, solved_at, turns)


def _from_reference(record: dict[str, Any], index: int) -> str:
    """A ConvCodeBench turn's note: the reference's program it answered, or that settled it."""
    if record.get("kind") != CONVCODEBENCH or index == 0:
        return ""
    if record.get("settled"):
        return f"settled by the reference: its turn {index - 1} program passed, so the model was not asked"
    return f"from the reference: its turn {index - 1} program and the feedback logged on it"


def build_problems(
    records: list[dict[str, Any]], logs: dict[tuple[str, str, str], dict[int, dict[str, Any]]]
) -> list[Problem]:
    """The table's rows, in its order: one per single-turn record, one per conversation."""
    samples: dict[tuple[str, str, Any], set[int]] = defaultdict(set)
    conversations: dict[tuple[str, str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    single: list[dict[str, Any]] = []
    for record in records:
        if is_conversation(record):
            conversations[record["suite"], record["task_id"], record["setting"]][int(record["turn"])] = record
        else:
            samples[record["suite"], record["task_id"], variant(record)].add(int(record.get("sample", 0)))
            single.append(record)
    problems = [_single_problem(r, len(samples[r["suite"], r["task_id"], variant(r)])) for r in single]
    for (suite, task_id, setting), turns in conversations.items():
        problems.append(_conversation_problem(suite, task_id, setting, turns, logs.get((suite, task_id, setting), {})))
    problems.sort(
        key=lambda p: (
            p.suite,
            natural_key(p.task_id),
            SETTING_ORDER.get(p.setting or "", len(SETTING_ORDER)),
            p.setting or "",
            p.variant or "",
            p.sample or 0,
        )
    )
    return problems
