"""Getting answers from a model: the on-disk cache, concurrency, retries and prefetching.

Items run one at a time on each pytest process, but a model endpoint answers
best with many requests in flight. So every process runs an asyncio loop in a
background thread that works ahead through the collected items (``prefetch``)
while the items themselves only wait for their answer (``answers``).

Every answer goes into a SQLite cache (one row per sample, committed as it
arrives), keyed by what was asked: a rerun makes no requests and a killed run
resumes where it stopped. Several xdist workers share the cache; a ``claims``
table makes sure that only one of them requests a given key in a run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import math
import os
import random
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from .errors import InfrastructureError, Retryable
from .models import Answer, Model, Request
from .options import option

CacheMode = Literal["use", "refresh", "off"]
POLL_SECONDS = 0.05  # how often an item checks for an answer another process is getting
T = TypeVar("T")


# ---------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base: float = 0.5  # seconds; doubled each time, with full jitter
    cap: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:  # the server said when: wait that, spread a little
            return retry_after * (1 + 0.1 * random.random())
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> tuple[T, int]:
    """Run ``call`` until it succeeds; returns its result and how many retries it took."""
    for attempt in range(policy.attempts):
        try:
            return await call(), attempt
        except Retryable as exc:
            if attempt + 1 == policy.attempts:
                raise InfrastructureError(f"gave up after {policy.attempts} attempts: {exc}") from exc
            await asyncio.sleep(policy.delay(attempt, exc.retry_after))
    raise AssertionError("unreachable")


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
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


# a claim of this run by another owner holds while it is fresh (see GenerationCache.claim)
CLAIM = (
    "INSERT INTO claims VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE"
    " SET run = excluded.run, owner = excluded.owner, at = excluded.at"
    " WHERE claims.run != excluded.run OR claims.owner = excluded.owner OR claims.at < ?"
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
            """
        )

    def get(self, key: str, n: int, fresh_only: bool = False) -> dict[int, Answer]:
        """Samples 0..n-1 of ``key`` that are stored; with ``fresh_only``, only those written
        since this run claimed the key (``--cache refresh``)."""
        query = "SELECT sample, answer FROM answers WHERE key = ? AND sample < ?"
        args: tuple[Any, ...] = (key, n)
        if fresh_only:
            query = (
                "SELECT a.sample, a.answer FROM answers a JOIN claims c ON a.key = c.key"
                " WHERE a.key = ? AND a.sample < ? AND c.run = ? AND a.created >= c.at"
            )
            args = (key, n, self.run_id)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return {sample: Answer.from_json(json.loads(text)) for sample, text in rows}

    def put(self, key: str, answers: dict[int, Answer]) -> None:
        now = time.time()
        rows = [(key, i, json.dumps(a.to_json()), now) for i, a in answers.items()]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", rows)

    def claim(self, keys: Sequence[str], owner: str, stale_after: float) -> list[bool]:
        """Take the right to request each key in this run, in one transaction; claims of other
        runs, and of this run older than ``stale_after`` seconds (a crashed worker's), do not count."""
        now = time.time()
        rows = [(key, self.run_id, owner, now, now - stale_after) for key in keys]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                claimed = [self._db.execute(CLAIM, row).rowcount == 1 for row in rows]
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return claimed

    def fail(self, key: str, message: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?)", (key, self.run_id, message))

    def failure(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT message FROM failures WHERE key = ? AND run = ?", (key, self.run_id)
            ).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


# ---------------------------------------------------------------- the generator


@dataclass(frozen=True)
class GenerationOptions:
    """How answers are requested and kept: the command line's generation options."""

    max_concurrency: int = option(  # for the whole run: split among xdist workers
        "--max-concurrency",
        default=32,
        type=int,
        help="requests in flight for the whole run, over all xdist workers (default: 32)",
    )
    request_timeout: float = option(
        "--request-timeout", default=600.0, type=float, record=False, help="seconds per request (default: 600)"
    )
    max_retries: int = option(
        "--max-retries", default=6, type=int, record=False, help="retries of a failed request (default: 6)"
    )
    cache: CacheMode = option(
        "--cache",
        default="use",
        help="generation cache: use answers stored by earlier runs, refresh them, or off (default: use)",
    )
    cache_path: Path = option(
        "--cache-path",
        default=Path(".convcode", "generations.sqlite"),
        type=Path,
        record=False,
        help="the generation cache's SQLite file (default: .convcode/generations.sqlite)",
    )

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.max_retries + 1)


class Generator:
    """Answers requests through the cache, with at most ``max_concurrency`` in flight."""

    def __init__(self, model: Model, settings: GenerationOptions, cache: GenerationCache | None) -> None:
        self.model = model
        self.settings = settings
        self.cache = cache  # None: every request is this process's own, and kept in memory only
        self.owner = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}:{os.getpid()}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="convcode-generation", daemon=True)
        self._thread.start()
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        self._slots = asyncio.Semaphore(max(1, math.ceil(settings.max_concurrency / workers)))
        self._pending: dict[str, concurrent.futures.Future[list[Answer]]] = {}
        self._lock = threading.Lock()
        self._here: asyncio.AbstractEventLoop | None = None  # answers() of a model with answers at hand

    # -- what items call

    def prefetch(self, requests: Sequence[Request]) -> None:
        """Start getting these answers, in this order, without waiting for them. Every xdist
        worker is given every request: each claims its own share of them (the i-th of every
        n), so that they all generate at once; an item of another's share waits for its answer."""
        worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        keyed = {request_key(self.model, r): r for r in requests[worker % workers :: workers]}
        with self._lock:
            wanted = {}
            for key, request in keyed.items():
                have = self._stored(key, request.n)
                if key not in self._pending and len(have) < request.n:
                    wanted[key] = (request, have)
            claimed = self._claim(list(wanted))
            for key, (request, have) in wanted.items():
                if claimed[key]:
                    self._launch(key, request, have)

    def answers(self, request: Request) -> list[Answer]:
        """The request's n answers: from the cache, from this process's own requests,
        or from another process of the run that claimed them. A model whose answers are at
        hand (not cacheable: a file's) is asked in this thread: going through the background
        loop cost two thread switches an item."""
        if self.model.cacheable:
            return self.submit(request).result()
        if self._here is None:
            self._here = asyncio.new_event_loop()
        missing = list(range(request.n))
        return list(self._here.run_until_complete(self._request(request, missing)).values())

    def submit(self, request: Request) -> concurrent.futures.Future[list[Answer]]:
        """``answers`` without waiting: a future that any thread or event loop can await."""
        return asyncio.run_coroutine_threadsafe(self._obtain(request), self._loop)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if self._here is not None:
            self._here.close()

    # -- inside

    def _start(self, key: str, request: Request, only_if_free: bool) -> concurrent.futures.Future[list[Answer]] | None:
        """The future of this key's answers, started here if nobody else has it; None when
        another process claimed it (or, for a prefetch, when it is known already)."""
        with self._lock:
            if key in self._pending:
                return None if only_if_free else self._pending[key]
            have = self._stored(key, request.n)
            if len(have) == request.n:
                if only_if_free:
                    return None
                done: concurrent.futures.Future[list[Answer]] = concurrent.futures.Future()
                done.set_result([have[i] for i in range(request.n)])
                return done
            if not self._claim([key])[key]:
                return None
            return self._launch(key, request, have)

    def _claim(self, keys: list[str]) -> dict[str, bool]:
        if self.cache is None or not keys:  # without a cache every request is this process's own
            return dict.fromkeys(keys, True)
        stale = self.settings.request_timeout * self.settings.retry.attempts
        return dict(zip(keys, self.cache.claim(keys, self.owner, stale), strict=True))

    def _launch(self, key: str, request: Request, have: dict[int, Answer]) -> concurrent.futures.Future[list[Answer]]:
        future = asyncio.run_coroutine_threadsafe(self._generate(key, request, have), self._loop)
        self._pending[key] = future
        return future

    async def _obtain(self, request: Request) -> list[Answer]:
        key = request_key(self.model, request)
        while True:
            future = self._start(key, request, only_if_free=False)
            if future is not None:
                return await asyncio.wrap_future(future)
            assert self.cache is not None  # without a cache every request is this process's own
            message = self.cache.failure(key)
            if message is not None:
                raise InfrastructureError(message)
            await asyncio.sleep(POLL_SECONDS)

    def _stored(self, key: str, n: int) -> dict[int, Answer]:
        """The samples of ``key`` the cache holds (for ``refresh`` and ``off``: written in this run)."""
        if self.cache is None:
            return {}
        return self.cache.get(key, n, fresh_only=self.settings.cache != "use")

    async def _generate(self, key: str, request: Request, have: dict[int, Answer]) -> list[Answer]:
        """Request the samples ``have`` lacks, store them, and return all n."""
        missing = [i for i in range(request.n) if i not in have]
        async with self._slots:
            new = await self._request(request, missing, key)
        if self.cache is not None:
            self.cache.put(key, new)
        return [have.get(i) or new[i] for i in range(request.n)]

    async def _request(self, request: Request, missing: list[int], key: str = "") -> dict[int, Answer]:
        """Ask the model for these samples, with retries; a failure is recorded under ``key``."""
        try:
            started = time.perf_counter()
            answers, retries = await with_retries(
                lambda: self.model.generate(replace(request, n=len(missing))), self.settings.retry
            )
            latency = time.perf_counter() - started
        except Exception as exc:
            message = f"{self.model.name}: {request.task.task_id}: {exc}"
            if self.cache is not None:
                self.cache.fail(key, message)
            raise InfrastructureError(message) from exc
        if len(answers) != len(missing):
            raise InfrastructureError(f"{self.model.name} gave {len(answers)} answers for {len(missing)} asked")
        new = {i: a for i, a in zip(missing, answers, strict=True)}
        first = missing[0]
        new[first] = replace(new[first], latency=round(latency, 4), retries=retries)
        return new
