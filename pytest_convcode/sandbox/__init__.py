"""Sandboxes run untrusted code: the interface, the job and result types, the registry.

A job is "define this program, then call ``entry_point`` on each argument tuple";
the sandbox returns what each call produced. Judging the outputs is not its
business: that happens on the trusted side (``judge.py``).
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..registry import Registry
from . import _codec

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Resource limits of one job; CPU and wall time are per call, in the job."""

    memory_bytes: int = 4 * GiB
    file_bytes: int = 64 * MiB
    max_processes: int = 64
    max_output_bytes: int = 1024 * MiB  # the largest reference output (MBPP+ Mbpp/255) pickles to ~400 MB
    min_job_cpu: float = 60.0  # least CPU budget for all calls of a job (EvalPlus gives a task 60 s)


@dataclass(frozen=True)
class CallJob:
    code: str
    entry_point: str
    inputs: Sequence[Sequence[Any]]  # argument lists, one per call (picklable values)
    cpu_limits: Sequence[float]  # seconds of CPU per call
    wall_limits: Sequence[float]  # seconds of wall clock per call (backstop)
    cpu_budget: float | None = None  # CPU seconds for all calls together; None: the sum of cpu_limits
    load_cpu: float = 1.0  # extra CPU budget for running the module itself
    load_wall: float = 5.0
    stop_on_error: bool = True
    guard: str | None = None  # "evalplus": disable what EvalPlus's evaluator disables
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Call:
    index: int
    status: Literal["ok", "error", "timeout"]
    payload: bytes = b""  # the output as the runner pickled it; read it through ``value``
    error: str = ""
    cpu: float = 0.0

    @functools.cached_property
    def value(self) -> Any:
        """The output, rebuilt by the restricted unpickler (raises on unreadable data);
        None for a call that returned nothing."""
        return _codec.load_output(self.payload) if self.status == "ok" else None


_ENDINGS = {
    "cpu_limit": "stopped at the CPU-time limit",
    "wall_timeout": "stopped at the wall-clock deadline",
    "output_limit": "stopped: it produced more output than the limit",
}
_SIGNALS: dict[int, str] = {
    signal.SIGXCPU: "CPU-time limit",
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
}


@dataclass(frozen=True)
class ExecResult:
    calls: list[Call]
    load_error: str | None  # None: loaded; else the traceback, or "" when the process ended first
    complete: bool  # the runner reached the end of its inputs
    ended: str  # "exit", "signal", "wall_timeout", "output_limit"
    exit_code: int | None = None
    signal: int | None = None
    wall: float = 0.0
    cpu: float = 0.0
    output: str = ""  # tail of the program's stdout and stderr
    garbled: bool = False  # the program wrote into the result stream; records end there

    @property
    def how_it_ended(self) -> str:
        if self.garbled:
            return "wrote into the harness's result stream"
        if self.ended in _ENDINGS:
            return _ENDINGS[self.ended]
        if self.signal is not None:
            name = signal.Signals(self.signal).name
            return f"killed by {name} ({_SIGNALS.get(self.signal, 'signal')})"
        return f"exited with status {self.exit_code}"


class Sandbox(Protocol):
    name: str

    def run(self, job: CallJob) -> ExecResult: ...

    def warnings(self) -> list[str]:
        """What isolation this machine could not provide."""
        ...

    def close(self) -> None: ...


SandboxFactory = Callable[..., Sandbox]
SANDBOXES: Registry[SandboxFactory] = Registry("sandbox backend")


def backend(name: str) -> SandboxFactory:
    """The factory of a sandbox backend (built-in ones register on first use)."""
    from . import process  # noqa: F401

    return SANDBOXES.get(name)
