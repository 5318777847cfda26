"""The generator: answers through the cache, bounded concurrency, retries, prefetching in a
background asyncio loop, and this process's progress (the package's docstring tells how)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import math
import os
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, TypeVar

from ..errors import InfrastructureError, Retryable
from ..models import Answer, Model, Request
from ..options import option
from .cache import GenerationCache, Owner, Progress, request_key
from .slots import ServerSlots

CacheMode = Literal["use", "refresh", "off"]
POLL_SECONDS = 0.05  # how often an item checks for an answer another process is getting
WAIT_NOTICE_SECONDS = 5.0  # an item waiting this long on another run's claim says whose
PROGRESS_SECONDS = 0.5  # the most often a generator writes its progress row
T = TypeVar("T")

try:  # taken at import, before pytest's capture takes file descriptor 2 over
    _TERMINAL: int | None = os.dup(2)
except OSError:
    _TERMINAL = None


def say(line: str) -> None:
    """One line for the person running the tests, now: pytest would hold what an item prints
    until the item fails, so it goes to the stderr this process started with."""
    if _TERMINAL is not None:
        os.write(_TERMINAL, f"{line}\n".encode())


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


async def with_retries(
    call: Callable[[], Awaitable[T]], policy: RetryPolicy, on_retry: Callable[[], None] = lambda: None
) -> tuple[T, int]:
    """Run ``call`` until it succeeds; returns its result and how many retries it took."""
    for attempt in range(policy.attempts):
        try:
            return await call(), attempt
        except Retryable as exc:
            if attempt + 1 == policy.attempts:
                raise InfrastructureError(f"gave up after {policy.attempts} attempts: {exc}") from exc
            on_retry()
            await asyncio.sleep(policy.delay(attempt, exc.retry_after))
    raise AssertionError("unreachable")


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
        self.owner = Owner.this_process()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="convcode-generation", daemon=True)
        self._thread.start()
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        slots = math.ceil(settings.max_concurrency / workers)
        self._server: ServerSlots | None = None  # more would queue at the server, out of sight
        if model.concurrency is not None and cache is not None:  # the run's processes share them
            server = str(model.identity().get("endpoint", model.name))
            self._server = ServerSlots.for_server(cache.path.parent, cache.run_id, server, model.concurrency)
            slots = min(slots, model.concurrency)
        elif model.concurrency is not None:
            slots = min(slots, math.ceil(model.concurrency / workers))
        self._slots = asyncio.Semaphore(max(1, slots))
        self._pending: dict[str, concurrent.futures.Future[list[Answer]]] = {}
        self._delivered: set[str] = set()  # keys whose answers an item has had: the next one reuses them
        self._lock = threading.Lock()
        self._here: asyncio.AbstractEventLoop | None = None  # answers() of a model with answers at hand
        self._one_at_a_time = False  # the server ignores n
        self._counts = Progress()  # its seconds unused: see progress()
        # its progress row's name: a coder and a simulated user of one model keep a row each
        self._row = f"{model.name} {uuid.uuid4().hex[:8]}"
        self._began = 0.0  # the first request, in epoch seconds (0: none yet)
        self._reported = 0.0  # when the progress row was last written (monotonic)
        self._report_due = False  # a write of the progress row is scheduled

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

    def progress(self) -> Progress:
        """This process's requests to this model so far."""
        with self._lock:
            seconds = round(time.time() - self._began, 3) if self._began else 0.0
            return replace(self._counts, seconds=seconds)

    def close(self) -> None:
        self._report(now=True)
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
        since = time.monotonic()
        told = False
        while True:
            future = self._start(key, request, only_if_free=False)
            if future is not None:
                answers = await asyncio.wrap_future(future)
                with self._lock:  # the first item to have them owns them; any other reuses them
                    first = key not in self._delivered
                    self._delivered.add(key)
                return answers if first else [a.reused() for a in answers]
            assert self.cache is not None  # without a cache every request is this process's own
            message = self.cache.failure(key)
            if message is not None:
                raise InfrastructureError(message)
            if not told and time.monotonic() - since >= WAIT_NOTICE_SECONDS:
                told = True
                self._say_who_holds(key, request)
            await asyncio.sleep(POLL_SECONDS)

    def _say_who_holds(self, key: str, request: Request) -> None:
        assert self.cache is not None
        held = self.cache.holder(key)
        if held is not None:
            owner = Owner.parse(held[0])
            if owner is not None and owner.of_this_run():
                return  # a sibling worker is getting it: the ordinary wait under xdist
            who = owner.describe() if owner is not None else held[0]
            say(f"waiting for {request.task.task_id}: claimed by {who} since {time.time() - held[1]:.0f} s")

    def _stored(self, key: str, n: int) -> dict[int, Answer]:
        """The samples of ``key`` the cache holds (for ``refresh`` and ``off``: written in this run)."""
        if self.cache is None:
            return {}
        return self.cache.get(key, n, fresh_only=self.settings.cache != "use")

    async def _generate(self, key: str, request: Request, have: dict[int, Answer]) -> list[Answer]:
        """Request the samples ``have`` lacks, once a slot is free; store them, and return all n."""
        missing = [i for i in range(request.n) if i not in have]
        queued = time.perf_counter()
        async with self._slots, self._server.hold() if self._server else contextlib.nullcontext():
            new = await self._request(request, missing, key, queued=time.perf_counter() - queued)
        if self.cache is not None:
            self.cache.put(key, new)
        return [have.get(i) or new[i] for i in range(request.n)]

    async def _request(
        self, request: Request, missing: list[int], key: str = "", queued: float = 0.0
    ) -> dict[int, Answer]:
        """Ask the model for these samples, with retries; a failure is recorded under ``key``.
        The request's usage, time and retries go on its first sample."""
        self._count(in_flight=1)
        try:
            started = time.perf_counter()
            answers, retries = await self._ask(request, len(missing))
            latency = time.perf_counter() - started
        except Exception as exc:
            self._count(in_flight=-1)
            message = f"{self.model.name}: {request.task.task_id}: {exc}"
            if self.cache is not None:
                self.cache.fail(key, message)
            raise InfrastructureError(message) from exc
        usage: dict[str, int] = {}
        for answer in answers:  # one call's, or (a server that ignores n) each call's
            for name, count in answer.usage.items():
                usage[name] = usage.get(name, 0) + count
        self._count(in_flight=-1, answered=1, completion_tokens=usage.get("completion_tokens", 0))
        request_id = key or uuid.uuid4().hex
        new = {i: replace(a, usage={}, request_id=request_id, sample=i) for i, a in zip(missing, answers, strict=True)}
        first = missing[0]
        new[first] = replace(
            new[first], usage=usage, latency=round(latency, 4), queue_s=round(queued, 4), retries=retries
        )
        return new

    async def _ask(self, request: Request, n: int) -> tuple[list[Answer], int]:
        """n samples, in one call, or one a call from a server that ignores n; and the retries."""
        answers: list[Answer] = []
        retries = 0
        while len(answers) < n:
            ask = 1 if self._one_at_a_time else n - len(answers)
            got, again = await with_retries(
                functools.partial(self.model.generate, replace(request, n=ask)),
                self.settings.retry,
                on_retry=lambda: self._count(retries=1),
            )
            if not got:
                raise InfrastructureError(f"{self.model.name} gave no answer")
            if len(got) < ask and not self._one_at_a_time:
                self._one_at_a_time = True
                where = self.model.identity().get("endpoint")
                at = f" at {where}" if where else ""
                say(f"{self.model.name}{at} ignores n: asking for the {n} samples one at a time")
            answers, retries = answers + got, retries + again
        return answers, retries

    def _count(self, **change: int) -> None:
        with self._lock:
            self._counts = self._counts.plus(**change)
            self._began = self._began or time.time()
        self._report()

    def _report(self, now: bool = False) -> None:
        """Write this generator's progress row: at most every PROGRESS_SECONDS (a change in
        between is written then), and at once when nothing is in flight or when ``now``."""
        if self.cache is None:
            return
        with self._lock:
            idle = self._counts.in_flight == 0
            if not (now or idle or time.monotonic() - self._reported >= PROGRESS_SECONDS):
                if not self._report_due:
                    self._report_due = True
                    self._loop.call_soon_threadsafe(self._loop.call_later, PROGRESS_SECONDS, self._report, True)
                return
            self._reported, self._report_due = time.monotonic(), False
            counts, began = self._counts, self._began
        if began:
            self.cache.report(self.owner, self._row, counts, began)
