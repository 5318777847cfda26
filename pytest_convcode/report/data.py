"""A run folder read into plain data for the report: the summary, and one ``Problem`` per table
row with its turns.

Only the run's own files are read (``summary.json``, ``results.jsonl``, ``conversations/*.jsonl``),
so a report can be made anywhere the folder was copied to. A run that was killed has no summary:
its scores are computed here from the records it left, with the project's own scoring functions,
and a cut last line (the kill landed mid-write) is skipped with a note rather than refused.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..comparison import problem_key
from ..conversation_metrics import summarize_conversations
from ..feedback.settings import ALL_SETTINGS
from ..metrics import summarize

PASSED, FAILED, ERROR = "passed", "failed", "error"
SETTING_ORDER = {setting.id: i for i, setting in enumerate(ALL_SETTINGS)}
# what the page uses of a conversation log's line (docs/conversation-log.md)
LOG_FIELDS = ("program", "passed", "tests", "run_error", "feedback", "usage", "latency_s", "cached")


class ReportError(Exception):
    """The run folder cannot be reported on; the message names the file and what is wrong."""


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
        for name in ("failure", "run_error", "error", "tests", "phases", "leaked", "usage"):
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


@dataclass
class RunData:
    """Everything the page shows of a run."""

    directory: Path
    summary: dict[str, Any]
    finished: bool  # summary.json was written (the run ended)
    problems: list[Problem]
    records: int
    notes: list[str] = field(default_factory=list)  # lines skipped, a baseline not found, ...
    datasets: dict[str, str] = field(default_factory=dict)  # suite -> "HumanEval+ 0.1.10", from the records
    baseline_summary: dict[str, Any] | None = None

    @property
    def conversational(self) -> bool:
        return any(p.setting is not None for p in self.problems)


# ---------------------------------------------------------------- reading files


def read_jsonl(path: Path, required: Iterable[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The objects of a JSON-lines file, and notes on what was skipped.

    A bad last line is what a kill mid-write leaves: skipped, with a note. A bad line anywhere
    else, or an object without a required field, is an error naming the file and line.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from exc
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    for position, (n, line) in enumerate(numbered):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError(f"a JSON {type(record).__name__}, not an object")
        except ValueError as exc:
            if position == len(numbered) - 1 and position > 0:
                notes.append(f"{path}:{n}: skipped a cut last line ({exc})")
                continue
            raise ReportError(f"{path}:{n}: not a JSON object: {exc}") from exc
        for name in required:
            if name not in record:
                raise ReportError(f"{path}:{n}: field {name!r} is missing")
        records.append(record)
    return records, notes


def _read_summary(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: not a readable summary: {exc}") from exc
    if not isinstance(summary, dict):
        raise ReportError(f"{path}: not a summary: a JSON {type(summary).__name__}, not an object")
    return summary


def _summary_from_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``summary.json`` would have said of the records a killed run left (no gates)."""
    first = records[0]
    return {
        "run_id": first.get("run_id"),
        "model": first.get("model"),
        "items": {o: sum(r["outcome"] == o for r in records) for o in (PASSED, FAILED, ERROR)},
        "scores": summarize(r for r in records if "setting" not in r),
        "conversations": summarize_conversations(r for r in records if "setting" in r),
    }


def _find_baseline(comparison: Mapping[str, Any], run_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """The compared baseline's summary (for its curves), from the path the comparison gives."""
    baseline = comparison.get("baseline") or {}
    where = baseline.get("path") if isinstance(baseline, dict) else None
    if not where:
        return None, ""
    # as given (relative to where the run was started: usually the reports folder's parent), or
    # beside this run in the same reports folder
    for candidate in (Path(where), run_dir.parent.parent / where, run_dir.parent / Path(where).name):
        path = candidate / "summary.json" if candidate.is_dir() else candidate
        if path.is_file():
            try:
                summary = _read_summary(path)
            except ReportError as exc:
                return None, f"baseline: {exc}"
            return summary, ""
    return None, f"baseline summary not found at {where}: its curves are not drawn"


# ---------------------------------------------------------------- problems


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort "HumanEval/2" before "HumanEval/10"."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def unified_diff(before: str, after: str, before_name: str, after_name: str, context: int = 3) -> str:
    """The change from one turn's program to the next, as ``diff -u`` shows it ("" when equal).

    difflib's matcher, run only on what lies between the first and the last changed line: a
    turn usually edits a few lines of its program, and a full run has ~100k turns to diff.
    """
    a, b = before.splitlines(), after.splitlines()
    lines: list[str] = []
    for group in _grouped(_opcodes(a, b), context):
        if not lines:
            lines += [f"--- {before_name}", f"+++ {after_name}"]
        first, last = group[0], group[-1]
        lines.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [" " + line for line in a[i1:i2]]
                continue
            if tag in ("replace", "delete"):
                lines += ["-" + line for line in a[i1:i2]]
            if tag in ("replace", "insert"):
                lines += ["+" + line for line in b[j1:j2]]
    return "\n".join(lines)


Opcode = tuple[str, int, int, int, int]


def _opcodes(a: list[str], b: list[str]) -> list[Opcode]:
    """``SequenceMatcher.get_opcodes`` of a and b, with their common first and last lines set aside."""
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    codes: list[Opcode] = [("equal", 0, head, 0, head)] if head else []
    inner = difflib.SequenceMatcher(None, a[head : len(a) - tail], b[head : len(b) - tail], autojunk=False)
    codes += [(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2 in inner.get_opcodes()]
    if tail:
        codes.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    merged: list[Opcode] = []
    for code in codes:
        if code[0] == "equal" and code[1] == code[2]:
            continue
        if merged and code[0] == merged[-1][0] == "equal":
            merged[-1] = ("equal", merged[-1][1], code[2], merged[-1][3], code[4])
        else:
            merged.append(code)
    return merged


def _grouped(codes: list[Opcode], n: int) -> list[list[Opcode]]:
    """The changes in hunks with up to n lines of context (``SequenceMatcher.get_grouped_opcodes``)."""
    if not codes or all(code[0] == "equal" for code in codes):
        return []
    codes = list(codes)
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)
    groups: list[list[Opcode]] = []
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * n:
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            groups.append(group)
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        groups.append(group)
    return groups


def _range(start: int, stop: int) -> str:
    """A hunk header's line range, as ``diff -u`` writes it (difflib's ``_format_range_unified``)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if not length else start + 1},{length}"


def _prediction(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _single_problem(record: dict[str, Any], samples: int) -> Problem:
    suite, task_id, variant = record["suite"], record["task_id"], record.get("mode")
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
    problem.variant = str(variant) if variant else None
    return problem


def _conversation_problem(
    suite: str, task_id: str, setting: str, records: dict[int, dict[str, Any]], logged: dict[int, dict[str, Any]]
) -> Problem:
    """A conversation from its turn records and its log lines (either may lack turns)."""
    solved = [r["solved_at"] for r in records.values() if r.get("solved_at") is not None]
    solved_at = min(solved, default=None)
    status = ERROR if any(r["outcome"] == ERROR for r in records.values()) else PASSED if solved else FAILED
    ran = set(logged) | {t for t, r in records.items() if "program" in r or "error" in r}
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
        )
        previous = next((t for t in reversed(turns) if t.program is not None), None)
        if previous is not None and previous.program is not None and program is not None:
            turn.diff_from = previous.index
            turn.diff = unified_diff(previous.program, program, f"turn {previous.index}", f"turn {index}")
        turns.append(turn)
    key = problem_key({"suite": suite, "task_id": task_id, "setting": setting})
    return Problem(key, key, suite, task_id, setting, None, status, solved_at, turns)


def _log_suite(path: Path) -> str:
    """The suite a conversation log belongs to, from its name ("bigcodebench-gw0.jsonl")."""
    return path.stem.rsplit("-", 1)[0]


def _problems(
    records: list[dict[str, Any]], logs: dict[tuple[str, str, str], dict[int, dict[str, Any]]]
) -> list[Problem]:
    samples: dict[tuple[str, str, Any], set[int]] = defaultdict(set)
    conversations: dict[tuple[str, str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    single: list[dict[str, Any]] = []
    for record in records:
        if "setting" in record:
            conversations[record["suite"], record["task_id"], record["setting"]][int(record["turn"])] = record
        else:
            samples[record["suite"], record["task_id"], record.get("mode")].add(int(record.get("sample", 0)))
            single.append(record)
    problems = [_single_problem(r, len(samples[r["suite"], r["task_id"], r.get("mode")])) for r in single]
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
    # an item recorded twice (results appended by a rerun with the same --run-id): keep both rows
    seen: dict[str, int] = defaultdict(int)
    for problem in problems:
        seen[problem.row_id] += 1
        if seen[problem.row_id] > 1:
            problem.row_id += f" ({seen[problem.row_id]})"
    return problems


# ---------------------------------------------------------------- the run


def load_run(run_dir: Path) -> RunData:
    """Read a run folder (``reports/<run-id>``); a ``ReportError`` naming the file when it holds
    no results or a file cannot be read."""
    results = run_dir / "results.jsonl"
    if not results.is_file():
        hint = "" if run_dir.is_dir() else f" ({run_dir} is not a folder)"
        raise ReportError(f"{results}: no such file: not a run folder with results{hint}")
    records, notes = read_jsonl(results, ("suite", "task_id", "outcome"))
    if not records:
        raise ReportError(f"{results}: holds no results (the run reported no item)")
    for n, record in enumerate(records, 1):
        if "setting" in record and not isinstance(record.get("turn"), int):
            raise ReportError(f"{results}: record {n} ({record['task_id']}) has a setting but no integer 'turn'")
    logs: dict[tuple[str, str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    for path in sorted((run_dir / "conversations").glob("*.jsonl")):
        entries, skipped = read_jsonl(path, ("task_id", "setting", "turn"))
        notes += skipped
        suite = _log_suite(path)
        for entry in entries:
            # the messages and the reply are most of a log's bytes; the page shows neither (the
            # reply only when it held no program)
            kept = {key: entry[key] for key in LOG_FIELDS if key in entry}
            if not entry.get("program") and "reply" in entry:
                kept["reply"] = entry["reply"]
            logs[suite, entry["task_id"], entry["setting"]][int(entry["turn"])] = kept
        del entries
    summary = _read_summary(run_dir / "summary.json")
    finished = summary is not None
    if summary is None:
        summary = _summary_from_records(records)
    problems = _problems(records, logs)
    comparison = summary.get("comparison")
    baseline_summary = None
    if isinstance(comparison, dict):
        flips = {key: "now passing" for key in comparison.get("now_passing") or []}
        flips |= {key: "now failing" for key in comparison.get("now_failing") or []}
        for problem in problems:
            problem.flip = flips.get(problem.key)
        baseline_summary, note = _find_baseline(comparison, run_dir)
        if note:
            notes.append(note)
    datasets = {r["suite"]: str(r["dataset"]) for r in records if "dataset" in r}
    return RunData(run_dir, summary, finished, problems, len(records), notes, datasets, baseline_summary)
