"""A run's results: the records as they arrive (``Results``), and on disk
``reports/<run-id>/results.jsonl`` (a line per item, written as it finishes, so a killed run keeps
what it did), ``summary.json`` and the replayable samples at the end (``RunLog``).

A run resumed under the same ``--run-id`` appends to the same results.jsonl: nothing of the
killed run is lost if the resumed one is killed too. At its end the file is compacted to one
record per item, the latest (``records.latest``), as every reader of it takes them."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .datasets.bigcodebench_formats import eval_results
from .records import CONVERSATION, REASONING, UNITTEST, kind_of, latest


@dataclass
class Results:
    """What the run has produced so far, on the process that keeps its log (the controller)."""

    records: list[dict[str, Any]] = field(default_factory=list)  # this session's; at the end results.jsonl's
    other_failures: int = 0  # failed tests that are not benchmark items
    other_tests: int = 0  # tests that are not benchmark items, of those that ran
    skipped: int = 0  # benchmark items skipped (no record)
    stopped: str = ""  # why the session stopped before its last item ("" when it did not)
    started: float = field(default_factory=time.time)
    suites_scored: dict[str, dict[str, str]] = field(default_factory=dict)  # the processes' dataset_info()
    workers: int = 0  # xdist workers that finished
    summary: dict[str, Any] | None = None  # set at the end of the run
    report: Path | None = None  # the HTML report, once written
    report_problem: str = ""  # why the HTML report could not be written


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


# results.jsonl goes to disk at most this often (an fsync a record cost 1000 trivial items 0.15 CPU
# s, and more of the controller's time, while workers waited for their next item)
SYNC_SECONDS = 1.0


class RunLog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._results: IO[str] | None = None
        self._earlier: bool | None = None  # results.jsonl held records before this session's first
        self._synced = 0.0  # when results.jsonl last went to disk

    @property
    def results_path(self) -> Path:
        return self.directory / "results.jsonl"

    def append(self, record: dict[str, Any]) -> None:
        if self._results is None:  # created on the first record: a run with none leaves nothing
            self.directory.mkdir(parents=True, exist_ok=True)
            self._earlier = _drop_cut_line(self.results_path)
            self._results = open(self.results_path, "a", encoding="utf-8")  # noqa: SIM115 - open for the run
        self._results.write(json.dumps(record) + "\n")
        self._results.flush()  # a killed run keeps it: the kernel has it
        now = time.monotonic()
        if now - self._synced >= SYNC_SECONDS:  # and the disk, but for the last second's, if the machine dies
            os.fsync(self._results.fileno())
            self._synced = now

    def compact(self, appended: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records of results.jsonl, one per item (the latest), written back so (atomically).
        ``appended``: this session's, all the file holds unless an earlier session wrote to it
        (then it is read back). A line that cannot be read leaves the file as it is, and out of
        the records."""
        self.close()
        records, unreadable = appended, 0
        if self._earlier is not False and self.results_path.exists():
            records = []
            for line in self.results_path.read_text(encoding="utf-8").splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    unreadable += 1
        kept = latest(records)
        if len(kept) < len(records) and not unreadable:
            tmp = self.results_path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as out:
                out.writelines(json.dumps(record) + "\n" for record in kept)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.results_path)
        return kept

    def write_summary(self, summary: dict[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "summary.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(tmp, path)
        return path

    def write_samples(self, records: list[dict[str, Any]]) -> None:
        """What ``replay:`` reads back, each file only where the run has something for it: the
        programs of one-turn code suites as ``samples.jsonl`` (EvalPlus's format), the predictions
        of code reasoning as generations files; BigCodeBench's verdicts as its evaluator's
        ``samples_eval_results.json``, which its tools read. A conversation's programs are in its log
        (``conversations/``): a replay cannot answer a turn, which depends on the feedback."""
        programs = sorted(
            (r["task_id"], r["sample"], r["program"])
            for r in records
            if kind_of(r) not in (CONVERSATION, REASONING) and "program" in r and "sample" in r
        )
        if programs:
            lines = [json.dumps({"task_id": task_id, "solution": program}) + "\n" for task_id, _, program in programs]
            (self.directory / "samples.jsonl").write_text("".join(lines))
        unit = [r for r in records if kind_of(r) == UNITTEST and "program" in r and "sample" in r]
        if unit:
            (self.directory / "samples_eval_results.json").write_text(json.dumps(eval_results(unit), indent=2) + "\n")
        self._write_generations(records)

    def _write_generations(self, records: list[dict[str, Any]]) -> None:
        """Code reasoning predictions as CRUXEval's generations files, one per suite and mode
        (``generations-cruxeval-output.json``), for ``replay:``; a sample with no prediction
        (an error) keeps its place as ""."""
        by_file: dict[str, dict[str, dict[int, str]]] = {}
        for r in records:
            if kind_of(r) == REASONING:
                task = by_file.setdefault(f"generations-{r['suite']}-{r['mode']}.json", {}).setdefault(r["task_id"], {})
                task[r["sample"]] = r.get("prediction", "")
        for name, tasks in by_file.items():
            generations = {task_id: [s[i] for i in sorted(s)] for task_id, s in sorted(tasks.items())}
            (self.directory / name).write_text(json.dumps(generations, indent=1) + "\n")

    def close(self) -> None:
        if self._results is not None:
            os.fsync(self._results.fileno())
            self._results.close()
            self._results = None


def _drop_cut_line(path: Path) -> bool:
    """Cut a last line that a kill left half written (no newline), before appending after it;
    whether whole lines are left."""
    if not path.exists():
        return False
    with open(path, "rb+") as results:
        data = results.read()
        if data and not data.endswith(b"\n"):
            results.truncate(data.rfind(b"\n") + 1)
        return b"\n" in data
