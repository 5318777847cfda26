"""ConvCodeBench's frozen reference: a reference model's conversations, one internal form read from
a ConvCodeWorld run folder or from the official parquet format (``official_log.py``).

The target model answers turn j+1 from the reference's turn j code and the feedback logged on it,
so a conversation here is the reference's turns 0..9 (docs/conversation-log.md).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .official_log import ITERATIONS, Entry, read_official

TURNS = ITERATIONS  # the reference's turns 0..9 feed the target's turns 1..10 (ITER=1..10)

# our setting id -> the official format's column: the five settings with a simulated user
SETTINGS: dict[str, str] = {
    "cf-ef_partial-novice": "CF_EF_UNIT_SNF",
    "cf-ef_full-novice": "CF_EF_FULL_SNF",
    "cf-expert": "CF_SEF",
    "cf-ef_partial-expert": "CF_EF_UNIT_SEF",
    "cf-ef_full-expert": "CF_EF_FULL_SEF",
}


@dataclass(frozen=True)
class ReferenceTurn:
    """The reference model's turn j of one conversation."""

    code: str  # its program at turn j ("" when its reply held none)
    passed: bool | None  # its verdict on the full hidden tests; None: not in the log (judged again)
    execution: str  # the execution feedback on this code, as logged ("" for settings without)
    verbal: str  # the simulated user's feedback on this code, as logged (ours: feedback.user of turn j+1)


@dataclass(frozen=True)
class ReferenceLog:
    """A reference model's conversations, per task and setting: what ConvCodeBench replays."""

    source: str  # what was read: a folder, a file, or "hf:NAME"
    model: str  # the reference model's name, where known ("" for the official file)
    turns: Mapping[tuple[str, str], tuple[ReferenceTurn, ...]]  # (task_id, setting) -> turns 0..9

    def conversation(self, task_id: str, setting: str) -> tuple[ReferenceTurn, ...]:
        """The ten turns; a UsageError naming the task, setting and source when missing."""
        try:
            return self.turns[(task_id, setting)]
        except KeyError:
            raise UsageError(
                f"reference log {self.source}: no conversation of {task_id} in setting {setting}; "
                "use a reference log that covers the tasks and settings of the run"
            ) from None


def load_reference_log(spec: str, tasks: Collection[str], settings: Collection[str]) -> ReferenceLog:
    """From a ConvCodeWorld run folder, an official-format parquet file, or "hf:NAME"; a
    UsageError (one line) naming what is missing (task, setting, turn) or malformed."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise UsageError(
            f"--reference-log: ConvCodeBench has no reference for setting {unknown[0]}; "
            f"use one of {', '.join(SETTINGS)}"
        )
    if spec.startswith("hf:") or not Path(spec).is_dir():
        return read_official_log(spec, tasks, settings)
    return read_run_folder(Path(spec), tasks, settings)


def read_official_log(spec: str, tasks: Collection[str], settings: Collection[str]) -> ReferenceLog:
    """The official format (official_log.py): ITER=j+1 is the reference's turn j. Its ``label``
    is not trusted (passed None): the kind judges the code again."""
    columns = read_official(spec, [SETTINGS[setting] for setting in settings])
    turns = {
        (task, setting): tuple(
            _official_turn(spec, SETTINGS[setting], iteration, task, entries)
            for iteration, entries in enumerate(columns[SETTINGS[setting]], 1)
        )
        for task in tasks
        for setting in settings
    }
    return ReferenceLog(source=spec, model="", turns=turns)


def _official_turn(spec: str, column: str, iteration: int, task: str, entries: Mapping[str, Entry]) -> ReferenceTurn:
    entry = entries.get(task)
    if entry is None:
        raise UsageError(
            f"reference log {spec}: {column} ITER={iteration} has no {task}; "
            "use a reference log that covers every task of the run"
        )
    return ReferenceTurn(
        code=entry["previous_code"], passed=None, execution=entry["execution_feedback"], verbal=entry["verbal_feedback"]
    )


def read_run_folder(
    folder: Path, tasks: Collection[str] | None = None, settings: Collection[str] | None = None
) -> ReferenceLog:
    """A ConvCodeWorld run's conversations/*.jsonl as the reference (docs/conversation-log.md):
    these tasks and settings, or (None) every task and setting of the five that it logged.

    A run resumed under its --run-id logs its conversations again from turn 0: of a
    conversation's attempts, the one that got furthest is read (the latest of equals)."""
    attempts: dict[tuple[str, str], list[dict[int, dict[str, Any]]]] = {}
    model = ""
    for entry in _log_lines(folder):
        key = (entry["task_id"], entry["setting"])
        if (tasks is None or key[0] in tasks) and key[1] in (SETTINGS if settings is None else settings):
            tries = attempts.setdefault(key, [])
            if not tries or entry["turn"] in tries[-1]:
                tries.append({})
            tries[-1][entry["turn"]] = entry
            model = model or entry.get("model", "")
    lines = {key: max(reversed(tries), key=_progress) for key, tries in attempts.items()}
    tasks = sorted({task for task, _ in lines}) if tasks is None else tasks
    settings = sorted({setting for _, setting in lines}) if settings is None else settings
    turns = {
        (task, setting): _conversation(folder, task, setting, lines.get((task, setting), {}))
        for task in tasks
        for setting in settings
    }
    return ReferenceLog(source=str(folder), model=model, turns=turns)


def _progress(attempt: dict[int, dict[str, Any]]) -> tuple[bool, int]:
    return any(entry["passed"] for entry in attempt.values()), len(attempt)


def _log_lines(folder: Path) -> Iterator[dict[str, Any]]:
    """Each logged turn, checked for the fields the reference needs."""
    files = sorted((folder / "conversations").glob("*.jsonl"))
    if not files:
        raise UsageError(
            f"reference log {folder}: no conversations/*.jsonl; "
            "give the folder of a ConvCodeWorld run (reports/<run-id>) or an official-format parquet file"
        )
    for path in files:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    _check_line(entry)
                except (ValueError, TypeError, KeyError) as exc:
                    raise UsageError(f"reference log {path}:{number}: {exc}; not a conversation log line") from None
                yield _needed(entry)


def _needed(entry: dict[str, Any]) -> dict[str, Any]:
    """What the reference needs of a logged turn: a real run's line also holds the whole
    conversation sent, which kept for every line cost a collecting process gigabytes."""
    kept = {name: entry[name] for name in ("task_id", "setting", "turn", "program", "passed")}
    kept["model"] = entry.get("model", "")
    feedback = entry.get("feedback") or {}
    kept["feedback"] = {name: feedback[name] for name in ("execution", "user") if name in feedback}
    return kept


def _check_line(entry: Any) -> None:
    if not isinstance(entry, dict):
        raise TypeError("a line must be a JSON object")
    for name, kind in (("task_id", str), ("setting", str), ("turn", int), ("program", str), ("passed", bool)):
        if not isinstance(entry.get(name), kind):
            raise TypeError(f"field {name!r} missing or not a {kind.__name__}")
    if entry["turn"] > 0 and not isinstance(entry.get("feedback"), dict):
        raise TypeError(f"turn {entry['turn']} has no feedback object")


def _conversation(folder: Path, task: str, setting: str, lines: dict[int, dict[str, Any]]) -> tuple[ReferenceTurn, ...]:
    """Turns 0..9 from the logged turns 0..10 (turn j+1's feedback is the feedback on turn j's
    code). A solved conversation's later turns repeat its passing turn, which settles every later
    target turn, as the original does."""
    turns: list[ReferenceTurn] = []
    for index in range(TURNS):
        if turns and turns[-1].passed:
            turns.append(turns[-1])
            continue
        entry = _turn(folder, task, setting, lines, index)
        feedback = _turn(folder, task, setting, lines, index + 1)["feedback"] if not entry["passed"] else {}
        execution, verbal = feedback.get("execution"), feedback.get("user")
        turns.append(
            ReferenceTurn(
                code=entry["program"],
                passed=entry["passed"],
                execution=execution if isinstance(execution, str) else "",
                verbal=verbal if isinstance(verbal, str) else "",
            )
        )
    return tuple(turns)


def _turn(folder: Path, task: str, setting: str, lines: dict[int, dict[str, Any]], index: int) -> dict[str, Any]:
    try:
        return lines[index]
    except KeyError:
        raise UsageError(
            f"reference log {folder}: {task} in setting {setting} has no turn {index}; "
            f"use a ConvCodeWorld run with --max-turns {TURNS} or more that covers every task and setting of this run"
        ) from None
