"""The sandbox service: the process backend behind HTTP (aiohttp), for the ``rest`` backend's
clients on other machines and for the seed's own (``POST /run_item``, ``run_item.py``).

- ``POST /jobs``: a batch of jobs in the worker's form (``batch.py``); each job's answer comes back
  as an NDJSON line as soon as it ends, and a heartbeat line every ``HEARTBEAT_SECONDS`` meanwhile,
  so that a client can tell a host that stopped answering from a long job;
- ``GET /capacity``: the host's cores, how many jobs it runs at once (``slots``) and per client,
  how many run and wait now, by client, and what isolation its sandbox lacks;
- ``GET /health``: up. Open to all (a load balancer's probe); the rest needs the bearer token,
  where the service has one.

It never unpickles what a client sent: a call job's inputs go to the worker as they came, and its
answer goes back as it came. Jobs take slots (``admission.py``).
"""

from __future__ import annotations

import asyncio
import hmac
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..errors import InfrastructureError
from .admission import Admission
from .batch import HEARTBEAT, BatchError, answer_line, error_line, read_request
from .interface import MiB
from .process import ProcessSandbox
from .wire import Form

T = TypeVar("T")
HEARTBEAT_SECONDS = 2.0
NDJSON = "application/x-ndjson"
MAX_WORKERS = 4  # warm workers, one per set of preloaded modules its clients asked for (plain, BigCodeBench's)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Settings:
    python: str = sys.executable  # the interpreter that runs candidates
    slots: int = os.cpu_count() or 1  # jobs at once
    client_jobs: int = 0  # jobs at once per client; 0: as many as the slots
    max_request_bytes: int = 256 * MiB
    token: str = ""  # the bearer token asked for; "": none (``serve`` allows that on loopback only)


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admission = Admission(settings.slots, settings.client_jobs or settings.slots)
        self._threads = ThreadPoolExecutor(settings.slots + 1, thread_name_prefix="convcode-job")
        self._sandboxes: dict[tuple[str, ...], ProcessSandbox] = {}
        self._warnings: list[str] | None = None

    def app(self, routes: Sequence[web.RouteDef] = ()) -> web.Application:
        """The web application: the routes above, and ``routes`` (``run_item.routes``)."""
        app = web.Application(client_max_size=self.settings.max_request_bytes, middlewares=[_bearer(self.settings)])
        app.add_routes(
            [web.get("/health", _health), web.get("/capacity", self._capacity), web.post("/jobs", self._jobs), *routes]
        )
        app.on_cleanup.append(self._close)
        return app

    def sandbox(self, preload: tuple[str, ...] = ()) -> ProcessSandbox:
        """The warm worker with ``preload`` imported."""
        if preload not in self._sandboxes:
            if len(self._sandboxes) >= MAX_WORKERS:
                raise BatchError(f"this service keeps at most {MAX_WORKERS} sets of preloaded modules")
            self._sandboxes[preload] = ProcessSandbox(self.settings.python, preload)
        return self._sandboxes[preload]

    async def run(self, client: str, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` in a thread, once ``client`` and the host have a slot for it. Cancelled,
        it keeps the slot until the thread is done: a job that runs takes a core whoever waits."""
        async with self.admission.slot(client):
            done = asyncio.get_running_loop().run_in_executor(self._threads, work, *args)
            try:
                return await asyncio.shield(done)
            except asyncio.CancelledError:
                await asyncio.wait([done])
                raise

    async def _jobs(self, request: web.Request) -> web.StreamResponse:
        try:
            batch = read_request(await request.read())
            sandbox = self.sandbox(batch.preload)
        except BatchError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        client = client_of(request)
        running = {
            asyncio.ensure_future(self.run(client, _answer, sandbox, index, sent)): index
            for index, sent in batch.forms.items()
        }
        response = web.StreamResponse(headers={"Content-Type": NDJSON})
        try:
            await response.prepare(request)
            while running:
                done, _ = await asyncio.wait(running, timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    await response.write(HEARTBEAT)
                for task in done:
                    del running[task]
                    await response.write(task.result())
            await response.write_eof()
        except ConnectionResetError:  # the client went away (it resends its jobs elsewhere, if it lives)
            pass
        finally:  # its jobs that still wait for a slot are dropped
            for task in running:
                task.cancel()
        return response

    async def _capacity(self, request: web.Request) -> web.Response:
        if self._warnings is None:
            try:
                self._warnings = await asyncio.get_running_loop().run_in_executor(
                    self._threads, self.sandbox().warnings
                )
            except InfrastructureError as exc:
                raise web.HTTPInternalServerError(text=f"the sandbox cannot start: {exc}") from None
        admission = self.admission
        return web.json_response(
            {
                "cores": os.cpu_count() or 1,
                "slots": admission.slots,
                "client_jobs": admission.per_client,
                "running": sum(admission.running.values()),
                "waiting": sum(admission.waiting.values()),
                "clients": admission.by_client(),
                "warnings": self._warnings,
            }
        )

    async def _close(self, app: web.Application) -> None:
        for sandbox in self._sandboxes.values():
            sandbox.close()
        self._threads.shutdown(wait=False, cancel_futures=True)


def client_of(request: web.Request) -> str:
    """Who sent a request, for the per-client limit: its address."""
    return request.remote or "unknown"


def _answer(sandbox: ProcessSandbox, index: int, sent: Form) -> bytes:
    """A job's answer line, made in the job's thread (a large answer's base64 takes a while)."""
    try:
        return answer_line(index, sandbox.run_forms([sent])[0])
    except InfrastructureError as exc:
        return error_line(index, str(exc))


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _bearer(settings: Settings) -> Middleware:
    """Every route but /health asks for ``Authorization: Bearer TOKEN`` when there is a token."""
    expected = f"Bearer {settings.token}".encode()

    @web.middleware
    async def bearer(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if settings.token and request.path != "/health" and not hmac.compare_digest(given, expected):
            raise web.HTTPUnauthorized(text="this sandbox service needs its bearer token (serve --token-file)")
        return await handler(request)

    return bearer
