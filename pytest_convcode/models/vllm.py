"""vLLM: ``--autorun`` starts ``vllm serve`` for the run and stops it at the end;
``--model vllm-offline:NAME`` runs vLLM's engine in the pytest process instead.

The server must not outlive the run, however the run ends: ``stop()`` signals its
whole process group (vLLM's workers included), an atexit handler calls ``stop()``
on a normal exit or Ctrl-C, and the kernel's parent-death signal covers the rest
(the pytest process killed outright).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InfrastructureError, UsageError
from .endpoint import EndpointModel, Replies, spec_for
from .interface import Model, ModelSettings
from .registry import MODELS

HOST = "127.0.0.1"
POLL_SECONDS = 0.25
PROGRESS_SECONDS = 30.0  # one "still waiting" line this often: loading a large model takes minutes
STOP_GRACE_SECONDS = 30.0  # after SIGTERM, before SIGKILL
LOG_TAIL_LINES = 40
NOT_INSTALLED = (
    "vllm is not installed: pip install 'pytest-convcode[vllm]' (it needs a GPU),"
    " or point --base-url at a running server"
)

# Runs in the child between fork and vllm: asks the kernel for SIGTERM when the
# parent goes, then becomes vllm (exec keeps the setting). A wrapper rather than a
# preexec_fn, which is unsafe in a process that has threads. argv: PARENT_PID EXE ARGS...
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


@dataclass(frozen=True)
class ServeOptions:
    model: str  # the model name/path vllm serves
    gpus: str | None = None  # "0,1" -> CUDA_VISIBLE_DEVICES for the server
    tensor_parallel: int | None = None  # default: the number of gpus listed (when gpus given)
    port: int | None = None  # default: a free port on 127.0.0.1
    extra_args: tuple[str, ...] = ()  # passed through to `vllm serve`
    executable: str = "vllm"
    startup_timeout: float = 1200.0

    def tensor_parallel_size(self) -> int | None:
        if self.tensor_parallel is not None:
            return self.tensor_parallel
        if self.gpus:
            return len([g for g in self.gpus.split(",") if g.strip()])
        return None


class VllmServer:
    """One ``vllm serve`` process (and its workers) in a process group of its own.

    The parent-death signal is tied to the thread that started the process, not
    to the process: call ``start()`` from the main thread (or one that outlives the
    server), or the server gets SIGTERM when that thread ends.
    """

    def __init__(self, options: ServeOptions, log_path: Path) -> None:
        self.options = options
        self.log_path = log_path
        self.url: str | None = None
        self.command: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> str:
        """Start the server and wait until it answers; returns its base URL (``.../v1``)."""
        if self._proc is not None:
            raise RuntimeError("this vllm server is already started")
        executable = shutil.which(self.options.executable)
        if executable is None:
            raise UsageError(NOT_INSTALLED)
        port = self.options.port or free_port()
        self.command = [self.options.executable, "serve", self.options.model, "--host", HOST, "--port", str(port)]
        tensor_parallel = self.options.tensor_parallel_size()
        if tensor_parallel is not None:
            self.command += ["--tensor-parallel-size", str(tensor_parallel)]
        self.command += self.options.extra_args
        env = dict(os.environ)  # the user's own: vllm needs HF_TOKEN and the like
        if self.options.gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.options.gpus
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        wrapper = [sys.executable, "-I", "-S", "-c", _PDEATHSIG_WRAPPER, str(os.getpid()), executable]
        with open(self.log_path, "wb") as log:
            try:
                self._proc = subprocess.Popen(
                    wrapper + self.command[1:],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # its own process group: stop() reaches vllm's workers
                )
            except OSError as exc:
                raise InfrastructureError(f"cannot start {shlex.join(self.command)}: {exc}") from exc
        atexit.register(self.stop)
        base = f"http://{HOST}:{port}"
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
        deadline = start + self.options.startup_timeout
        next_progress = start + PROGRESS_SECONDS
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
        while True:
            code = self._proc.poll()
            if code is not None:
                self.stop()
                raise InfrastructureError(self._failure(f"exited with code {code} before it was ready"))
            wait = max(0.1, min(5.0, deadline - time.monotonic()))  # a server that accepts but hangs
            if _answers(opener, f"{base}/health", wait) and _answers(opener, f"{base}/v1/models", wait):
                return
            now = time.monotonic()
            if now >= deadline:
                self.stop()
                raise InfrastructureError(
                    self._failure(f"did not become healthy within {self.options.startup_timeout:g} s")
                )
            if now >= next_progress:
                print(
                    f"waiting for vllm serve {self.options.model} ({now - start:.0f} s, log: {self.log_path})",
                    file=sys.stderr,
                    flush=True,
                )
                next_progress += PROGRESS_SECONDS
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - now)))

    def _failure(self, what: str) -> str:
        return f"{shlex.join(self.command)} {what}; the end of {self.log_path}:\n{_tail(self.log_path)}"

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


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    with contextlib.suppress(OSError), open(path, "rb") as log:
        return b"".join(deque(log, maxlen=lines)).decode("utf-8", "replace")
    return "(no log)"


# ---------------------------------------------------------------- in-process engine


@dataclass
class EngineTransport:
    """``vllm-offline:NAME``: vLLM's engine inside this pytest process (one per process: run
    it with ``-n 0``). The engine's calls block, so they run in a thread, one at a time; the
    engine batches a request's n samples itself. For throughput, prefer ``--autorun``."""

    model: str
    tensor_parallel: int = 1
    _engine: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def where(self) -> str:
        return f"vllm-offline:tp{self.tensor_parallel}"

    async def chat(self, body: dict[str, Any]) -> Replies:
        return await asyncio.to_thread(self._run, body)

    async def complete(self, body: dict[str, Any]) -> Replies:
        return await asyncio.to_thread(self._run, body)

    def _run(self, body: dict[str, Any]) -> Replies:
        import vllm

        with self._lock:
            if self._engine is None:
                self._engine = vllm.LLM(model=self.model, tensor_parallel_size=self.tensor_parallel)
            params = vllm.SamplingParams(
                n=body["n"], temperature=body["temperature"], max_tokens=body["max_tokens"], stop=body.get("stop")
            )
            if "messages" in body:
                (output,) = self._engine.chat(body["messages"], params, use_tqdm=False)
            else:
                (output,) = self._engine.generate([body["prompt"]], params, use_tqdm=False)
        usage = {
            "prompt_tokens": len(output.prompt_token_ids or ()),
            "completion_tokens": sum(len(choice.token_ids) for choice in output.outputs),
        }
        return [choice.text for choice in output.outputs], usage


@MODELS.register("vllm-offline")
def _offline(argument: str | None, settings: ModelSettings) -> Model:
    if not argument:
        raise UsageError("model 'vllm-offline' needs a model name: --model vllm-offline:ORGANISATION/NAME")
    if importlib.util.find_spec("vllm") is None:
        raise UsageError(NOT_INSTALLED)
    spec = spec_for(argument, settings, allow_unknown=True)
    assert spec is not None
    transport = EngineTransport(spec.model, settings.tensor_parallel or 1)
    return EndpointModel(f"vllm-offline:{argument}", spec, settings, transport)
