"""A run folder read into plain data for the report (``RunData``): the summary, and one ``Problem``
per table row with its turns.

Only the run's own files are read (``summary.json``, ``results.jsonl``, ``conversations/*.jsonl``),
so a report can be made anywhere the folder was copied to. A run that was killed has no summary:
its scores are computed here from the records it left, with the project's own scoring functions.
A summary of schema 1 is read in the current shape (``metrics.upgrade``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..conversation_metrics import summarize_conversations
from ..metrics import summarize, upgrade
from ..records import is_conversation, latest
from .files import ReportError, find_baseline, read_jsonl, read_summary
from .problems import ERROR, FAILED, PASSED, Problem, build_problems

# what the page uses of a conversation log's line (docs/conversation-log.md)
LOG_FIELDS = ("program", "passed", "tests", "run_error", "feedback", "usage", "latency_s", "cached")


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


def _summary_from_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``summary.json`` would have said of the records a killed run left (no gates)."""
    first = records[0]
    return {
        "run_id": first.get("run_id"),
        "model": first.get("model"),
        "items": {o: sum(r["outcome"] == o for r in records) for o in (PASSED, FAILED, ERROR)},
        "scores": summarize(r for r in records if not is_conversation(r)),
        "conversations": summarize_conversations(r for r in records if is_conversation(r)),
    }


def _log_suite(path: Path) -> str:
    """The suite a conversation log belongs to, from its name ("bigcodebench-gw0.jsonl")."""
    return path.stem.rsplit("-", 1)[0]


def load_run(run_dir: Path) -> RunData:
    """Read a run folder (``reports/<run-id>``); a ``ReportError`` naming the file when it holds
    no results or a file cannot be read."""
    results = run_dir / "results.jsonl"
    if not results.is_file():
        hint = "" if run_dir.is_dir() else f" ({run_dir} is not a folder)"
        raise ReportError(f"{results}: no such file: not a run folder with results{hint}")
    records, notes = read_jsonl(results, ("suite", "task_id", "outcome"))
    records = latest(records)  # a resumed run's, before its end compacts them
    if not records:
        raise ReportError(f"{results}: holds no results (the run reported no item)")
    for n, record in enumerate(records, 1):
        if is_conversation(record) and not isinstance(record.get("turn"), int):
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
    summary = read_summary(run_dir / "summary.json")
    finished = summary is not None
    summary = upgrade(summary) if summary is not None else _summary_from_records(records)
    problems = build_problems(records, logs)
    comparison = summary.get("comparison")
    baseline_summary = None
    if isinstance(comparison, dict):
        flips = {key: "now passing" for key in comparison.get("now_passing") or []}
        flips |= {key: "now failing" for key in comparison.get("now_failing") or []}
        for problem in problems:
            problem.flip = flips.get(problem.key)
        baseline_summary, note = find_baseline(comparison, run_dir)
        if baseline_summary is not None:
            baseline_summary = upgrade(baseline_summary)
        if note:
            notes.append(note)
    datasets = {r["suite"]: str(r["dataset"]) for r in records if "dataset" in r}
    return RunData(run_dir, summary, finished, problems, len(records), notes, datasets, baseline_summary)
