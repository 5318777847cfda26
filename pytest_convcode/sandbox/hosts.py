"""Jobs spread over several hosts, and nothing more: no queue or scheduler of our own beyond
choosing among the hosts a run was given.

Each batch goes to the next host in a round weighted by the slots each advertises
(``Remote.probe``; nginx's smooth weighted round-robin: a host with twice the slots comes round
twice as often, evenly spaced), skipping the hosts that already run as many of this process's
jobs as they have slots while another has room. Each process goes round on its own, so that
together (xdist's workers) they load the hosts by their capacity. A host that stops answering
(``HostLost``) is set aside, the batch's jobs it had not answered go to another, and a thread
probes it every ``RETRY_SECONDS``: back, it takes its turns again. An answer counts once, from
the host that gave it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

from ..errors import InfrastructureError

RETRY_SECONDS = 2.0
WAIT_SECONDS = 120.0  # every host down: how long a job waits for one to come back
MAX_SENDS = 4  # a batch is sent at most this often (its host lost each time) before it is the harness's error


class HostLost(Exception):
    """A host stopped answering: its connection failed, or went quiet."""


class Remote(Protocol):
    name: str

    def probe(self) -> int:
        """How many jobs it runs at once; ``HostLost`` where it does not answer."""
        ...


@runtime_checkable
class Spread(Protocol):
    """A sandbox whose jobs go to several hosts: how many each answered, and how many it left
    unanswered (resent elsewhere), by host."""

    def jobs_per_host(self) -> dict[str, dict[str, int]]: ...


def add_jobs(total: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> None:
    """Add one sandbox's (or one process's) jobs per host to ``total``."""
    for host, figures in more.items():
        mine = total.setdefault(host, {})
        for name, count in figures.items():
            mine[name] = mine.get(name, 0) + count


R = TypeVar("R", bound=Remote)
J = TypeVar("J")
A = TypeVar("A")


@dataclass(eq=False)
class Host(Generic[R]):
    remote: R
    capacity: int = 0  # 0: down
    running: int = 0  # this process's jobs on it now
    turn: int = 0  # the round's weight to its next turn (the highest goes next)
    answered: int = 0
    resent: int = 0  # jobs it had when it stopped answering, sent elsewhere
    retry_at: float = 0.0
    why: str = "not probed yet"


class Hosts(Generic[R]):
    def __init__(self, remotes: Sequence[R], wait: float = WAIT_SECONDS) -> None:
        self.hosts = [Host(remote) for remote in remotes]
        self.wait = wait
        self._lock = threading.Condition()
        self._starting = threading.Lock()
        self._started = False
        self._closed = threading.Event()
        self._prober = threading.Thread(target=self._probe_down_hosts, name="convcode-hosts", daemon=True)

    def start(self) -> None:
        """Probe every host (at once); an ``InfrastructureError`` when none answers."""
        with self._starting:
            if self._started:
                return
            with ThreadPoolExecutor(len(self.hosts)) as pool:
                list(pool.map(self._probe, self.hosts))
            if not any(host.capacity for host in self.hosts):
                raise InfrastructureError(self._none_answers())
            self._started = True
        self._prober.start()

    def spread(self, jobs: dict[int, J], send: Callable[[R, dict[int, J]], Iterator[tuple[int, A]]]) -> dict[int, A]:
        """Each job's answer, by its key. ``send`` gives a host the jobs and yields their answers
        as they come; it raises ``HostLost`` if the host stops answering first."""
        self.start()
        pending, answers = dict(jobs), {}
        for _ in range(MAX_SENDS):
            host = self._take(len(pending))
            sent = len(pending)
            try:
                for key, answer in send(host.remote, pending):
                    if pending.pop(key, None) is not None:
                        answers[key] = answer
                        with self._lock:
                            host.answered += 1
                if pending:
                    raise HostLost(f"{host.remote.name} ended its answer without {len(pending)} of the jobs")
                return answers
            except HostLost as exc:
                self._lost(host, exc, len(pending))
            finally:
                with self._lock:
                    host.running -= sent
        raise InfrastructureError(
            f"{len(pending)} sandbox jobs were sent {MAX_SENDS} times, and each time their host stopped answering: "
            + "; ".join(f"{h.remote.name}: {h.why}" for h in self.hosts if not h.capacity)
        )

    def jobs_per_host(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {h.remote.name: {"jobs": h.answered, "resent": h.resent} for h in self.hosts}

    def close(self) -> None:
        self._closed.set()
        if self._prober.is_alive():
            self._prober.join(timeout=10)

    def _take(self, jobs: int) -> Host[R]:
        """The next host of the round with room for ``jobs`` more; waits while every host is down."""
        deadline = time.monotonic() + self.wait
        with self._lock:
            while not (up := [host for host in self.hosts if host.capacity]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InfrastructureError(self._none_answers())
                self._lock.wait(left)
            roomy = [host for host in up if host.running + jobs <= host.capacity] or up
            for host in roomy:
                host.turn += host.capacity
            chosen = max(roomy, key=lambda h: h.turn)
            chosen.turn -= sum(host.capacity for host in roomy)
            chosen.running += jobs
            return chosen

    def _lost(self, host: Host[R], exc: HostLost, unanswered: int) -> None:
        with self._lock:
            host.capacity, host.turn, host.why = 0, 0, str(exc)
            host.retry_at = time.monotonic() + RETRY_SECONDS
            host.resent += unanswered

    def _probe(self, host: Host[R]) -> None:
        try:
            capacity, why = host.remote.probe(), ""
        except (HostLost, InfrastructureError) as exc:
            capacity, why = 0, str(exc)
        with self._lock:
            host.capacity, host.why = capacity, why
            host.retry_at = time.monotonic() + RETRY_SECONDS
            if capacity:
                self._lock.notify_all()

    def _probe_down_hosts(self) -> None:
        while not self._closed.wait(RETRY_SECONDS / 4):
            with self._lock:
                due = [h for h in self.hosts if not h.capacity and h.retry_at <= time.monotonic()]
            for host in due:
                self._probe(host)

    def _none_answers(self) -> str:
        down = "; ".join(f"{h.remote.name}: {h.why}" for h in self.hosts)
        return (
            f"no sandbox service answers ({down}): start one on each host with "
            "`python -m pytest_convcode.sandbox serve`, or correct --sandbox-url"
        )
