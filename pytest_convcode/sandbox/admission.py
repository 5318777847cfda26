"""The sandbox service's slots: the host runs at most ``slots`` jobs at once, and each client at
most ``per_client`` of them; a job over either waits for a slot, in the order it came. A client
waits for its own slot before it takes one of the host's, so one that sends more jobs than its
share never holds the host's slots idle."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator


class Admission:
    def __init__(self, slots: int, per_client: int) -> None:
        self.slots, self.per_client = slots, per_client
        self._host = asyncio.Semaphore(slots)
        self._clients: dict[str, asyncio.Semaphore] = {}
        self.running: Counter[str] = Counter()
        self.waiting: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def slot(self, client: str) -> AsyncIterator[None]:
        """Held while one job of ``client`` runs."""
        own = self._clients.setdefault(client, asyncio.Semaphore(self.per_client))
        self.waiting[client] += 1
        admitted = False
        try:
            async with own, self._host:
                self.waiting[client] -= 1
                self.running[client] += 1
                admitted = True
                try:
                    yield
                finally:
                    self.running[client] -= 1
        finally:
            if not admitted:  # cancelled while it waited
                self.waiting[client] -= 1
            if not self.running[client] and not self.waiting[client]:
                del self.running[client], self.waiting[client], self._clients[client]

    def by_client(self) -> dict[str, dict[str, int]]:
        return {c: {"running": self.running[c], "waiting": self.waiting[c]} for c in self._clients}
