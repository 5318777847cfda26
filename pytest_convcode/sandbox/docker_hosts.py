"""``--sandbox docker``'s factory: one daemon's sandbox (``docker.py``), or, given several daemons
(``--docker-host URL,URL``), a sandbox that spreads jobs over a container on each, by their CPUs
(``hosts.py``: a daemon that stops answering has its unanswered jobs sent to another, and takes
jobs again once it answers).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence

from ..errors import InfrastructureError
from . import wire
from .docker import DockerSandbox
from .hosts import HostLost, Hosts
from .interface import Sandbox
from .process import ProcessSandbox
from .registry import SANDBOXES


@SANDBOXES.register("docker")
def docker_sandbox(
    python: str = sys.executable, preload: Sequence[str] = (), image: str | None = None, hosts: Sequence[str] = ()
) -> Sandbox:
    hosts = list(dict.fromkeys(hosts))  # each daemon once: jobs per host are counted by its URL
    if len(hosts) > 1:
        return DockerHosts([Daemon(DockerSandbox(python, preload, image, host)) for host in hosts])
    return DockerSandbox(python, preload, image, hosts[0] if hosts else "")


class Daemon:
    """One daemon, as ``hosts.py`` sees it: its capacity is its CPUs; lost when it, or its
    container, stops answering (its sandbox starts a new container when next sent a job)."""

    def __init__(self, sandbox: DockerSandbox) -> None:
        self.sandbox = sandbox
        self.name = sandbox.host
        self.warnings: list[str] = []

    def probe(self) -> int:
        try:
            self.warnings = self.sandbox.warnings()  # its container runs: the daemon, the image, the worker
            return int(self.sandbox.client().info()["NCPU"])
        except (InfrastructureError, OSError) as exc:
            raise HostLost(str(exc)) from None

    def send(self, forms: dict[int, wire.Form]) -> Iterator[tuple[int, wire.Raw]]:
        """The answers, once all came (``forms`` is the caller's, which it empties as they do)."""
        keys = list(forms)
        try:
            raws = self.sandbox.run_forms([forms[key] for key in keys])
        except (InfrastructureError, OSError) as exc:
            raise HostLost(str(exc)) from None
        for key, raw in zip(keys, raws, strict=True):
            if not raw.trailer:  # no supervisor wrote it: the container ended
                raise HostLost("its sandbox container ended while running jobs")
            yield key, raw


class DockerHosts(ProcessSandbox):
    """A process sandbox only for what it makes of ``run_forms`` (run, run_all, run_tests and
    run_command), which here spreads the forms over the daemons' sandboxes: it starts no worker."""

    name = "docker"

    def __init__(self, daemons: list[Daemon]) -> None:
        super().__init__()
        self.daemons = daemons
        self.hosts = Hosts(daemons)

    def run_forms(self, forms: Sequence[wire.Form]) -> list[wire.Raw]:
        answers = self.hosts.spread(dict(enumerate(forms)), Daemon.send)
        return [answers[i] for i in range(len(forms))]

    def warnings(self) -> list[str]:
        self.hosts.start()
        return [f"{daemon.name}: {warning}" for daemon in self.daemons for warning in daemon.warnings]

    def jobs_per_host(self) -> dict[str, dict[str, int]]:
        return self.hosts.jobs_per_host()

    def close(self) -> None:
        self.hosts.close()
        for daemon in self.daemons:
            daemon.sandbox.close()
