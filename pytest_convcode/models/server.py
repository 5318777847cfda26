"""A model server that the run starts and stops: `vllm serve` (``--autorun``) or llama.cpp's
(``--model gguf:PATH``).

The server must not outlive the run, however the run ends: ``stop()`` signals its whole process
group (a server's workers included), an atexit handler calls ``stop()`` on a normal exit or Ctrl-C,
and the kernel's parent-death signal covers the rest (the pytest process killed outright).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InfrastructureError

HOST = "127.0.0.1"
POLL_SECONDS = 0.25
PROGRESS_SECONDS = 30.0  # one "still waiting" line this often: loading a large model takes minutes
STOP_GRACE_SECONDS = 30.0  # after SIGTERM, before SIGKILL
LOG_TAIL_LINES = 40

# Runs in the child between fork and the server: asks the kernel for SIGTERM when the parent
# goes, then becomes the server (exec keeps the setting). A wrapper rather than a preexec_fn,
# which is unsafe in a process that has threads. argv: PARENT_PID EXE ARGS...
_PDEATHSIG_WRAPPER = """\
import ctypes, os, signal, sys
try:
    prctl = ctypes.CDLL(None, use_errno=True).prctl
except AttributeError:
    pass  # not Linux: no parent-death signal
else:
    if prctl(1, int(signal.SIGTERM), 0, 0, 0) != 0:  # 1: PR_SET_PDEATHSIG
        sys.exit("cannot set the parent-death signal: " + os.strerror(ctypes.get_errno()))
    if os.getppid() != int(sys.argv[1]):
        sys.exit("the parent exited before the server started")
os.execv(sys.argv[2], sys.argv[2:])
"""


@dataclass
class ServerProcess:
    """One server process (and its children) in a process group of its own, on ``HOST:port``.

    The parent-death signal is tied to the thread that started the process, not to the process:
    call ``start()`` from the main thread (or one that outlives the server), or the server gets
    SIGTERM when that thread ends.
    """

    name: str  # what the messages call it: "vllm serve MODEL"
    command: list[str]  # command[0]: an executable path
    port: int
    log_path: Path
    ready: tuple[str, ...] = ("/v1/models",)  # paths that answer 200 once it serves
    env: Mapping[str, str] | None = None  # default: this process's
    startup_timeout: float = 1200.0
    url: str | None = field(default=None, init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def start(self) -> str:
        """Start the server and wait until it answers; returns its base URL (``.../v1``)."""
        if self._proc is not None:
            raise RuntimeError(f"{self.name} is already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        wrapper = [sys.executable, "-I", "-S", "-c", _PDEATHSIG_WRAPPER, str(os.getpid())]
        with open(self.log_path, "wb") as log:
            try:
                self._proc = subprocess.Popen(
                    wrapper + self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=dict(self.env if self.env is not None else os.environ),
                    start_new_session=True,  # its own process group: stop() reaches its workers
                )
            except OSError as exc:
                raise InfrastructureError(f"cannot start {shlex.join(self.command)}: {exc}") from exc
        atexit.register(self.stop)
        base = f"http://{HOST}:{self.port}"
        try:
            self._wait_until_ready(base)
        except BaseException:  # Ctrl-C while waiting included
            self.stop()
            raise
        self.url = f"{base}/v1"
        return self.url

    def _wait_until_ready(self, base: str) -> None:
        assert self._proc is not None
        start = time.monotonic()
        deadline = start + self.startup_timeout
        next_progress = start + PROGRESS_SECONDS
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
        while True:
            code = self._proc.poll()
            if code is not None:
                self.stop()
                raise InfrastructureError(self._failure(f"exited with code {code} before it was ready"))
            wait = max(0.1, min(5.0, deadline - time.monotonic()))  # a server that accepts but hangs
            if all(_answers(opener, f"{base}{path}", wait) for path in self.ready):
                return
            now = time.monotonic()
            if now >= deadline:
                self.stop()
                raise InfrastructureError(self._failure(f"did not become ready within {self.startup_timeout:g} s"))
            if now >= next_progress:
                waited = f"{now - start:.0f} s, log: {self.log_path}"
                print(f"waiting for {self.name} ({waited})", file=sys.stderr, flush=True)
                next_progress += PROGRESS_SECONDS
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - now)))

    def _failure(self, what: str) -> str:
        return f"{shlex.join(self.command)} {what}; the end of {self.log_path}:\n{tail(self.log_path)}"

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after a grace period; safe to call twice, or from atexit."""
        with self._lock:
            proc, self._proc = self._proc, None
            self.url = None
            if proc is None:
                return
            atexit.unregister(self.stop)
            group = proc.pid  # start_new_session: the group id is the leader's pid
            _signal_group(group, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_GRACE_SECONDS)
            while _group_alive(group) and time.monotonic() < deadline:  # workers still exiting
                time.sleep(0.05)
            if _group_alive(group):
                _signal_group(group, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):  # a process stuck in the GPU driver
                proc.wait(timeout=10)


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # gone (a recycled id is someone else's)
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    """Whether a process group has members that are not zombies.

    Zombies count as gone: orphaned workers whose new parent does not reap them
    (a container's init may not) must not make ``stop()`` wait its whole grace period.
    """
    try:
        entries = os.listdir("/proc")
    except OSError:  # no procfs: ask the kernel, zombies included
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()  # after "pid (comm)", which may hold spaces
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == group and fields[0] != b"Z":  # state, ppid, pgrp
            return True
    return False


def _answers(opener: urllib.request.OpenerDirector, url: str, timeout: float) -> bool:
    try:
        with opener.open(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    with contextlib.suppress(OSError), open(path, "rb") as log:
        return b"".join(deque(log, maxlen=lines)).decode("utf-8", "replace")
    return "(no log)"
