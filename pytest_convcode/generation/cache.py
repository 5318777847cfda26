"""The generation cache: answers by request key and sample, the run's claims on keys (by
``Owner``: the process that holds them), the requests that failed, and each generator's
``Progress``. One SQLite file, shared by the processes of a run."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..models import Answer, Model, Request

# ---------------------------------------------------------------- who claims, and progress


@dataclass(frozen=True)
class Owner:
    """A process, as its claims name it: a pid recycled by another process has another start time."""

    worker: str  # xdist's worker id, or "main"
    pid: int
    start: str  # /proc/<pid>/stat's start time ("": not known here)
    host: str

    @classmethod
    def this_process(cls) -> Owner:
        pid = os.getpid()
        return cls(os.environ.get("PYTEST_XDIST_WORKER", "main"), pid, _start_of(pid) or "", socket.gethostname())

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        """The owner a claim names; None for an older version's claim, which names less."""
        parts = text.split(" ")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2], parts[3])

    def __str__(self) -> str:
        return f"{self.worker} {self.pid} {self.start} {self.host}"

    def describe(self) -> str:
        return f"{self.worker} (pid {self.pid} on {self.host})"

    def of_this_run(self) -> bool:
        """This process, or another that the process which started it started too (xdist's
        workers): waiting on its claim is the run's ordinary sharing of work."""
        if self.host != socket.gethostname():
            return False
        return self.pid == os.getpid() or _parent_of(self.pid) == os.getppid()

    def gone(self) -> bool:
        """Known to have ended: a process of this host, and none of its pid and start time runs."""
        return bool(self.start) and self.host == socket.gethostname() and _start_of(self.pid) != self.start


def _stat(pid: int) -> list[bytes] | None:
    """/proc/<pid>/stat's fields after "pid (comm)" (which may hold spaces); None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()
    except OSError:
        return None


def _parent_of(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None  # field 4, ppid


def _start_of(pid: int) -> str | None:
    """When the process started (clock ticks after boot); None when it is gone or a zombie."""
    fields = _stat(pid)
    if fields is None or fields[0] == b"Z":
        return None
    return fields[19].decode()  # fields 3 (state) and 22 (starttime)


def _gone(owner: str, known: dict[str, bool]) -> bool:
    """Whether the process a claim or progress row names has ended (asked once per ``known``)."""
    if owner not in known:
        parsed = Owner.parse(owner)
        known[owner] = parsed is not None and parsed.gone()
    return known[owner]


@dataclass(frozen=True)
class Progress:
    in_flight: int = 0  # requests sent and not answered yet
    answered: int = 0  # requests answered in this run
    completion_tokens: int = 0  # of those answers
    retries: int = 0  # retries so far (transient failures)
    seconds: float = 0.0  # since this run's first request

    def plus(self, **change: int) -> Progress:
        return replace(self, **{name: getattr(self, name) + value for name, value in change.items()})


# ---------------------------------------------------------------- cache


def request_key(model: Model, request: Request) -> str:
    """What identifies an answer: the model's own description of the call, the task and its
    prompt (another data set version may word it differently), and the conversation."""
    what: dict[str, Any] = {
        "model": model.identity(),
        "task": [request.task.task_id, request.task.prompt],
        "messages": [(m.role, m.content) for m in request.messages],
    }
    if request.verbatim:  # only then: the keys of earlier requests stay as they were
        what["verbatim"] = True
    if request.turn:  # the same: turn 0 (and one-turn suites) keep their keys
        what["turn"] = request.turn
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


# a claim of this run by another owner holds while it is fresh (see GenerationCache.claim)
CLAIM = (
    "INSERT INTO claims VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE"
    " SET run = excluded.run, owner = excluded.owner, at = excluded.at"
    " WHERE claims.run != excluded.run OR claims.owner = excluded.owner OR claims.at < ?"
)
# each answer, and whether this run made it (claimed its key, then wrote it)
ANSWERS = (
    "SELECT a.sample, a.answer, COALESCE(c.run = ? AND a.created >= c.at, 0) FROM answers a"
    " LEFT JOIN claims c ON a.key = c.key WHERE a.key = ? AND a.sample < ?"
)


class GenerationCache:
    """Answers by (request key, sample index), shared by the processes of a run."""

    def __init__(self, path: Path, run_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.run_id = run_id
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Commits are not flushed to disk each (an fsync per answer and per claim blocked the
        # generation loop): a killed process loses nothing, a crash of the machine its last answers.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS answers (
                key TEXT, sample INTEGER, answer TEXT, created REAL, PRIMARY KEY (key, sample));
            CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, run TEXT, owner TEXT, at REAL);
            CREATE TABLE IF NOT EXISTS failures (key TEXT, run TEXT, message TEXT, PRIMARY KEY (key, run));
            CREATE TABLE IF NOT EXISTS progress (
                run TEXT, owner TEXT, generator TEXT, in_flight INTEGER, answered INTEGER,
                completion_tokens INTEGER, retries INTEGER, started REAL, PRIMARY KEY (run, owner, generator));
            """
        )

    def get(self, key: str, n: int, fresh_only: bool = False) -> dict[int, Answer]:
        """Samples 0..n-1 of ``key`` that are stored, those of an earlier run ``cached``; with
        ``fresh_only`` (``--cache refresh``), only those this run made."""
        with self._lock:
            rows = self._db.execute(ANSWERS, (self.run_id, key, n)).fetchall()
        found = {}
        for sample, text, ours in rows:  # an older version's rows lack the ids
            answer = replace(Answer.from_json(json.loads(text)), request_id=key, sample=sample)
            if ours or not fresh_only:
                found[sample] = answer if ours else answer.reused()
        return found

    def put(self, key: str, answers: dict[int, Answer]) -> None:
        now = time.time()
        rows = [(key, i, json.dumps(a.to_json()), now) for i, a in answers.items()]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", rows)

    def claim(self, keys: Sequence[str], owner: Owner, stale_after: float) -> list[bool]:
        """Take the right to request each key in this run, in one transaction. Claims of other
        runs do not count, nor those of this run whose process has ended or that are older than
        ``stale_after`` seconds (a process on another host that stopped)."""
        now, mine, known = time.time(), str(owner), dict[str, bool]()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                claimed = []
                for key in keys:
                    held = self._db.execute(
                        "SELECT owner FROM claims WHERE key = ? AND run = ? AND owner != ?", (key, self.run_id, mine)
                    ).fetchone()
                    if held is not None and _gone(held[0], known):
                        self._db.execute("DELETE FROM claims WHERE key = ?", (key,))
                    row = (key, self.run_id, mine, now, now - stale_after)
                    claimed.append(self._db.execute(CLAIM, row).rowcount == 1)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return claimed

    def holder(self, key: str) -> tuple[str, float] | None:
        """Who claimed ``key`` in this run (``Owner`` text), and when."""
        with self._lock:
            row = self._db.execute("SELECT owner, at FROM claims WHERE key = ? AND run = ?", (key, self.run_id))
            found = row.fetchone()
        return (found[0], found[1]) if found else None

    def fail(self, key: str, message: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?)", (key, self.run_id, message))

    def failure(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT message FROM failures WHERE key = ? AND run = ?", (key, self.run_id)
            ).fetchone()
        return row[0] if row else None

    def report(self, owner: Owner, generator: str, progress: Progress, started: float) -> None:
        """Write one generator's progress row (``generator``: its own label, so that a coder and a
        simulated user of the same model keep a row each; ``started``: its first request, in epoch
        seconds)."""
        p = progress
        row = (self.run_id, str(owner), generator, p.in_flight, p.answered, p.completion_tokens, p.retries, started)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO progress VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

    def progress(self) -> Progress:
        """The run's progress over all its processes; an ended process has nothing in flight."""
        with self._lock:
            rows = self._db.execute(
                "SELECT owner, in_flight, answered, completion_tokens, retries, started FROM progress WHERE run = ?",
                (self.run_id,),
            ).fetchall()
        if not rows:
            return Progress()
        known: dict[str, bool] = {}
        return Progress(
            in_flight=sum(r[1] for r in rows if not _gone(r[0], known)),
            answered=sum(r[2] for r in rows),
            completion_tokens=sum(r[3] for r in rows),
            retries=sum(r[4] for r in rows),
            seconds=round(time.time() - min(r[5] for r in rows), 3),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()
