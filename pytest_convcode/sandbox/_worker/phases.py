"""A job of phases (a task's base and plus tests): the candidate loads once, then each phase's
calls run in a process that starts from the state loading left, as EvalPlus runs each phase in
a process of its own; one job instead of one a phase halves the forks, confinements and exits
of a trivial item. Every phase but the last runs in a fork, one after another, supervised here:
its own CPU-time limit, a wall-clock deadline, and how it ended (PHASE_ENDED). The last runs in
the runner itself, whose end the zygote reports. Between phases, whatever a phase left running
is killed, so that the next starts alone."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import resource
import select
import signal
import time
from typing import Any, NoReturn

from .calls import call_all, load
from .isolation import how_it_ended, phase_budgets
from .wire import codec, record

# Bound before any job: the evalplus guard sets ``os.fork`` and ``os.kill`` to None in the runner.
_fork, _kill = os.fork, os.kill


def run_phases(job: dict[str, Any], results: int) -> NoReturn:
    fn = load(job, results)
    inputs = pickle.loads(job["inputs"])  # one list of argument lists a phase
    phases = job["phases"]
    for index, (phase, args) in enumerate(zip(phases, inputs, strict=True)):
        record(results, codec.PHASE, index)
        if index == len(phases) - 1:
            call_all(phase, args, fn, results)
            os._exit(0)
        ending = _in_fork(phase_budgets(job, phase), phase, args, fn, results)
        record(results, codec.PHASE_ENDED, index, ending["cpu"], json.dumps(ending).encode())
        _end_leftovers()
    os._exit(0)  # no phases


def _in_fork(
    budgets: tuple[int, float], phase: dict[str, Any], args: list[Any], fn: Any, results: int
) -> dict[str, Any]:
    """Run the phase's calls in a fork, and say how that process ended (an ``Ending``'s fields)."""
    cpu_limit, wall_limit = budgets
    started, before = time.monotonic(), _children_cpu()
    pid = _fork()
    if pid == 0:
        try:
            _, hard = resource.getrlimit(resource.RLIMIT_CPU)
            soft = cpu_limit if hard == resource.RLIM_INFINITY else min(cpu_limit, hard - 1)
            resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))  # SIGXCPU, then SIGKILL
            call_all(phase, args, fn, results)
        finally:
            os._exit(0)
    stopped = ""
    pidfd = os.pidfd_open(pid)
    try:
        if not select.select([pidfd], [], [], wall_limit)[0]:
            _kill(pid, signal.SIGKILL)
            stopped = "wall_timeout"
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    cpu = _children_cpu() - before
    return {
        **how_it_ended(status, stopped, cpu, cpu_limit),
        "wall": round(time.monotonic() - started, 4),
        "cpu": round(cpu, 4),
        "output": "",  # the job's output tail is the runner's, in its trailer
    }


def _children_cpu() -> float:
    """Not ``os.wait4``: it imports ``resource``, which the evalplus guard blocks."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _end_leftovers() -> None:
    """As the init of the job's PID namespace, kill what the phase started and left (kill(-1) from
    an init spares the init) and reap it. Without a namespace of its own the runner cannot tell
    its job's processes from others of its uid: they are left to the zygote's end of the job."""
    if os.getpid() != 1:
        return
    with contextlib.suppress(ProcessLookupError):
        _kill(-1, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        while True:
            os.waitpid(-1, 0)
