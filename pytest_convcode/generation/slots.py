"""A server's slots, shared by every process of a run: at most the model's ``concurrency``
requests in flight at its server, however many xdist workers ask.

A request that found the server busy would wait at the server, out of sight, and that wait would
count as the request's latency. So it waits here instead, for one of ``concurrency`` lock files
(``flock``, which the kernel releases when a process dies, however it dies), and its ``queue_s``
measures the wait. The files live beside the generation cache, one folder per run and server.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

POLL_SECONDS = 0.02  # how often a waiting request tries the locks again


class ServerSlots:
    def __init__(self, folder: Path, count: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / f"slot-{i}.lock" for i in range(count)]

    @classmethod
    def for_server(cls, cache_folder: Path, run_id: str, server: str, count: int) -> ServerSlots:
        """The slots of ``server`` (its endpoint, as the model's identity names it) in this run."""
        name = hashlib.sha256(f"{run_id}\0{server}".encode()).hexdigest()[:16]
        return cls(cache_folder / "slots" / name, count)

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """One slot, for the duration of a request."""
        fd = await self._acquire()
        try:
            yield
        finally:
            os.close(fd)  # closing it releases the lock

    async def _acquire(self) -> int:
        while True:
            for path in self.paths:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                return fd
            await asyncio.sleep(POLL_SECONDS)
