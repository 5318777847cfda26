"""The ``rest`` sandbox backend: jobs go to sandbox services (``python -m pytest_convcode.sandbox
serve``) over HTTP, spread over several by the capacity each advertises (``hosts.py``).

A job travels in the worker's form (``wire.py``, ``batch.py``) and its answer comes back as the
worker wrote it, read here as the process backend reads its own worker's: the same verdicts.
The standard library's HTTP client speaks to the services, so the backend needs no extra package.
Where a service asks for a bearer token, ``CONVCODE_SANDBOX_TOKEN`` holds it (the sandbox's workers
start without this process's environment: candidates never see it).

Job paths name the service's machine: a command job's tree and readable paths must be there too
(an environment that ``python -m pytest_convcode.env`` made on each host, at the same place).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

from ..errors import InfrastructureError, UsageError
from . import wire
from .batch import read_line, request_body
from .hosts import HostLost, Hosts
from .interface import CallJob, CommandJob, CommandResult, ExecResult, SuiteResult, TestJob
from .registry import SANDBOXES

TOKEN_VARIABLE = "CONVCODE_SANDBOX_TOKEN"
QUIET_SECONDS = 15.0  # no line for this long (a service sends a heartbeat every 2 s): the host is lost
PROBE_SECONDS = 3.0
Connection = http.client.HTTPConnection


@SANDBOXES.register("rest")
class RestSandbox:
    name = "rest"

    def __init__(self, python: str = sys.executable, preload: Sequence[str] = (), url: str = "") -> None:
        """``url``: the services, comma-separated; ``python`` is theirs to choose (``serve --python``)."""
        urls = list(dict.fromkeys(u.strip().rstrip("/") for u in url.split(",") if u.strip()))
        if not urls:
            raise UsageError(
                "--sandbox rest needs --sandbox-url URL[,URL...]: "
                "sandbox services started with `python -m pytest_convcode.sandbox serve`"
            )
        token = os.environ.get(TOKEN_VARIABLE, "")
        self.python, self.preload = python, tuple(preload)
        self.hosts = Hosts([Service(u, token) for u in urls])

    def run(self, job: CallJob) -> ExecResult:
        return self.run_all([job])[0]

    def run_all(self, jobs: Sequence[CallJob]) -> list[ExecResult]:
        forms = wire.call_forms(jobs)
        return wire.call_results(jobs, forms, self._send(forms))

    def run_tests(self, job: TestJob) -> SuiteResult:
        sent = wire.form(job)
        return wire.result(job, sent, self._send([sent])[0])

    def run_command(self, job: CommandJob) -> CommandResult:
        sent = wire.form(job)
        return wire.result(job, sent, self._send([sent])[0])

    def _send(self, forms: list[wire.Form]) -> list[wire.Raw]:
        answers = self.hosts.spread(dict(enumerate(forms)), lambda service, jobs: service.send(jobs, self.preload))
        return [answers[i] for i in range(len(forms))]

    def warnings(self) -> list[str]:
        """What each service's sandbox could not provide, as its host says."""
        self.hosts.start()
        out = [f"{h.remote.name}: {warning}" for h in self.hosts.hosts for warning in h.remote.warnings]
        if self.python != sys.executable:
            out.append("--sandbox-python is not used by --sandbox rest: each service runs its own (serve --python)")
        return out

    def jobs_per_host(self) -> dict[str, dict[str, int]]:
        return self.hosts.jobs_per_host()

    def close(self) -> None:
        self.hosts.close()
        for host in self.hosts.hosts:
            host.remote.close()


class Service:
    """One sandbox service. Its connections are kept open between batches (one per thread that
    sends at once); a kept one that the service closed meanwhile is replaced once."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--sandbox-url: {url!r} is not an http:// or https:// URL")
        self.name = url.rstrip("/")
        self._parts, self._path = parts, parts.path.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self.warnings: list[str] = []

    def probe(self) -> int:
        connection = self._connect(PROBE_SECONDS)
        try:
            response = self._request(connection, "GET", "/capacity")
            data = json.loads(response.read())
            self.warnings = [str(w) for w in data["warnings"]]
            return max(1, int(data["slots"]))
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
            raise HostLost(f"{type(exc).__name__}: {exc}") from None
        finally:
            connection.close()

    def send(self, forms: dict[int, wire.Form], preload: Sequence[str]) -> Iterator[tuple[int, wire.Raw]]:
        """POST the batch; yield each job's answer as its line comes."""
        body = request_body(forms, preload)
        while True:
            with self._lock:
                connection, kept = (self._idle.pop(), True) if self._idle else (self._connect(QUIET_SECONDS), False)
            try:
                response = self._request(connection, "POST", "/jobs", body)
                break
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if not kept:
                    raise HostLost(f"{type(exc).__name__}: {exc}") from None
        whole = False
        try:
            while line := response.readline():
                answer = read_line(line)
                if answer.error:
                    raise InfrastructureError(f"sandbox service {self.name}: {answer.error}")
                if answer.raw is not None and answer.index is not None:
                    yield answer.index, answer.raw
            whole = True
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise HostLost(f"{type(exc).__name__}: {exc}") from None
        finally:
            if whole:
                with self._lock:
                    self._idle.append(connection)
            else:
                connection.close()

    def close(self) -> None:
        with self._lock:
            for connection in self._idle:
                connection.close()
            self._idle.clear()

    def _connect(self, timeout: float) -> Connection:
        kind = http.client.HTTPSConnection if self._parts.scheme == "https" else Connection
        return kind(self._parts.hostname or "", self._parts.port, timeout=timeout)

    def _request(
        self, connection: Connection, method: str, path: str, body: bytes | None = None
    ) -> http.client.HTTPResponse:
        """The response, once its status says the request was taken; the errors that a resend
        elsewhere would not mend are the harness's (``InfrastructureError``), others lose the host."""
        connection.request(method, self._path + path, body=body, headers=self._headers)
        response = connection.getresponse()
        if response.status == 200:
            return response
        text = response.read().decode("utf-8", "replace").strip()[:500]
        connection.close()
        if response.status == 401:
            raise InfrastructureError(f"sandbox service {self.name} wants a token: set {TOKEN_VARIABLE} to its one")
        if response.status in (400, 413):
            raise InfrastructureError(f"sandbox service {self.name} refused the batch: HTTP {response.status}: {text}")
        raise HostLost(f"HTTP {response.status}: {text}")
