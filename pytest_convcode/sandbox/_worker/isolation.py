"""Confinement: what the zygote prepares once for every runner (network namespace, Landlock
ruleset, seccomp filter), and what a runner applies to itself before the candidate runs
(its view of the machine, rlimits, its own uid, then Landlock and seccomp)."""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import resource
import socket
import struct
import sys
import tempfile
import time
from typing import Any

from . import libc
from .landlock import Landlock, readable_roots
from .seccomp import UnixSocketFilter
from .wire import codec

SIOCSIFFLAGS, IFF_UP = 0x8914, 1
CAP_DAC_READ_SEARCH = 2
SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
# Test jobs: no display for matplotlib, and the time zone and thread count that BigCodeBench's
# evaluator sets, so that tests about local times and floating-point sums see what it sees.
TEST_ENV = {"MPLBACKEND": "Agg", "TZ": "UTC", "OMP_NUM_THREADS": "1"}
# What a test job may read outside the interpreter: name lookups (of localhost), MIME types, time zone, fonts.
TEST_READABLE = [
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/mime.types",
    "/etc/localtime",
    "/etc/fonts",
]
TEST_TMP, TEST_CWD = "/tmp", "/tmp/work"  # in a test job's own mount namespace: its job directory
TEST_SHM_BYTES = 64 << 20
# Set to "1" where the worker runs in a container that is its jobs' machine (no network, a /tmp of its
# own): the docker sandbox's. There a job that cannot have a private view gets what one grants.
CONTAINER_VARIABLE = "CONVCODE_CONTAINER"


def enter_network_namespace() -> str:
    """Leave the host network for good; returns how ('netns', 'userns+netns' or '')."""
    if os.geteuid() == 0 and libc.unshare(libc.CLONE_NEWNET):
        return "netns"
    uid, gid = os.getuid(), os.getgid()
    if not libc.unshare(libc.CLONE_NEWUSER | libc.CLONE_NEWNET):
        return ""
    for name, text in (("uid_map", f"0 {uid} 1"), ("setgroups", "deny"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    return "userns+netns"


class Isolation:
    """What this machine allows, and what the zygote prepared once for every runner."""

    def __init__(self, network: str, pid_namespace: bool, base: str, container: bool = False) -> None:
        self.network = network
        self.container = container
        self.uid_switch = os.geteuid() == 0 and network == "netns"
        self.pid_namespace = pid_namespace
        self.landlock = Landlock(readable_roots(), [base, os.devnull])
        self.socket_filter = UnixSocketFilter()


# ---------------------------------------------------------------- budgets


def tests_mode(job: dict[str, Any]) -> bool:
    return job.get("mode") == "tests"


def command_mode(job: dict[str, Any]) -> bool:
    return job.get("mode") == "command"


def _whole_job(job: dict[str, Any]) -> bool:
    """A test or command job: one budget for the whole job (a call job's are per call)."""
    return job.get("mode") in ("tests", "command")


def _calls_cpu(calls: dict[str, Any]) -> float:
    """The CPU seconds of a call job's calls, or of one of its phases'."""
    total: float = sum(calls["cpu_limits"])
    budget: float | None = calls["cpu_budget"]
    return total if budget is None else min(total, budget)


def _calls_wall(calls: dict[str, Any]) -> float:
    """Their wall-clock deadline keeps the per-call ratio of wall to CPU limits."""
    ratio: float = sum(calls["wall_limits"]) / max(sum(calls["cpu_limits"]), 1e-9)
    return ratio * _calls_cpu(calls)


def cpu_budget(job: dict[str, Any]) -> int:
    if _whole_job(job):
        budget: float = job["cpu_budget"]
        return max(math.ceil(budget), 1)
    load: float = job["load_cpu"]
    return math.ceil(sum(map(_calls_cpu, job.get("phases") or [job])) + load) + 1


def wall_budget(job: dict[str, Any]) -> float:
    """A call job's, or each of its phases', with the loading's as slack (a phase's own, below)."""
    if _whole_job(job):
        return float(job["wall_budget"])
    load: float = job["load_wall"]
    return sum(_calls_wall(calls) + load for calls in job.get("phases") or [job])


def phase_budgets(job: dict[str, Any], phase: dict[str, Any]) -> tuple[int, float]:
    """The CPU and wall-clock seconds of a phase run in a fork (``phases.py``)."""
    load: float = job["load_wall"]
    return math.ceil(_calls_cpu(phase)) + 1, _calls_wall(phase) + load


def how_it_ended(status: int, stopped: str, cpu: float, budget: float) -> dict[str, Any]:
    """A process's wait status as a trailer's fields (``ended``, ``code``, ``signal``): ``stopped``
    by its supervisor ("wall_timeout", "cpu_limit", "deadlock"), else by its CPU-time limit, a signal, or exit."""
    signalled = os.WIFSIGNALED(status)
    if stopped:
        ended = stopped
    elif signalled and codec.killed_by_cpu_limit(os.WTERMSIG(status), cpu, budget):
        ended = "cpu_limit"
    else:
        ended = "signal" if signalled else "exit"
    return {
        "ended": ended,
        "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if signalled else None,
    }


# ---------------------------------------------------------------- the runner confines itself


def private_view(workdir: str, uid: int | None, isolation: Isolation) -> tuple[str, str]:
    """A test job's own view of the machine, for tests written for a machine of their own:
    /tmp is its job directory (cwd: /tmp/work), /dev/shm a small tmpfs (semaphores for
    multiprocessing), /proc shows only its processes (threadpoolctl, psutil read it), and
    it has a network namespace of its own with the loopback up (tests that run a server
    on localhost). Returns (home, tmpdir): the job directory's paths as the job sees them.
    Best effort: where namespaces are not allowed, the job runs in the shared view."""
    if not libc.unshare(libc.CLONE_NEWNS | libc.CLONE_NEWNET):
        container_view(TEST_READABLE, isolation)
        return workdir, workdir
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)  # nothing mounted here reaches the host
    libc.mount(workdir, TEST_TMP, None, libc.MS_BIND)
    os.mkdir(TEST_CWD, 0o700)
    if uid is not None:
        os.chown(TEST_CWD, uid, uid)
    os.chdir(TEST_CWD)
    machine_of_its_own(TEST_READABLE, [TEST_TMP], isolation)
    return TEST_CWD, TEST_TMP


def machine_of_its_own(readable: list[str], writable: list[str], isolation: Isolation) -> None:
    """What a private view (a test or command job's, in its own mount and network namespaces)
    adds to its /tmp: a /dev/shm, a /proc of its processes, the loopback up, and a Landlock
    ruleset that also allows ``readable`` and ``writable`` (as they are mounted now) and TCP."""
    readable, writable = list(readable), list(writable)
    with contextlib.suppress(OSError):
        libc.mount("tmpfs", "/dev/shm", "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, f"size={TEST_SHM_BYTES},mode=1777")
        writable.append("/dev/shm")
    if isolation.pid_namespace:
        with contextlib.suppress(OSError):
            libc.mount("proc", "/proc", "proc", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC)
            readable.append("/proc")
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH", b"lo", IFF_UP))
    isolation.landlock.widen(readable, writable)


def container_view(readable: list[str], isolation: Isolation) -> None:
    """Without a private view, in a container that is the machine (``isolation.container``): what a
    private view's Landlock ruleset allows, in the container's own /tmp, /dev/shm, /proc and loopback,
    which its other jobs share (a test that writes /tmp/data.json, serves on localhost, runs top)."""
    if isolation.container:
        isolation.landlock.widen([*readable, "/proc"], [TEST_TMP, "/dev/shm"])


def confine(job: dict[str, Any], workdir: str, tmpdir: str, uid: int | None, isolation: Isolation) -> None:
    os.environ.update(HOME=workdir, TMPDIR=tmpdir)  # the rest is SAFE_ENV already (see main)
    if tests_mode(job):  # tests may run "python" (BigCodeBench/1101, 1103): this interpreter
        os.environ.update(TEST_ENV, PATH=os.path.dirname(sys.executable) + os.pathsep + SAFE_ENV["PATH"])
        time.tzset()
    tempfile.tempdir = tmpdir
    _set_limits(job, uid)
    landlock = isolation.landlock
    if uid is not None:
        _become(uid, keep_read=bool(landlock.abi))
    libc.die_with_parent()  # after _become: a uid change clears it
    if landlock.abi:
        landlock.restrict()
    isolation.socket_filter.install()
    if job.get("guard") == "evalplus":
        _apply_evalplus_guard()


def _set_limits(job: dict[str, Any], uid: int | None) -> None:
    mem = job["memory_bytes"]
    cpu = cpu_budget(job)
    limits: dict[int, int | tuple[int, int]] = {
        # a test job's budget is exact: its runner, as PID 1, ignores the soft limit's SIGXCPU
        resource.RLIMIT_CPU: (cpu, cpu if tests_mode(job) else cpu + 1),
        resource.RLIMIT_FSIZE: job["file_bytes"],
        resource.RLIMIT_CORE: 0,
    }
    if mem:  # 0 or None: none (a JVM, node reserve far more address space than they use)
        limits[resource.RLIMIT_AS] = mem
    if job.get("guard") == "evalplus":
        limits[resource.RLIMIT_DATA] = mem
        limits[resource.RLIMIT_STACK] = mem
    if uid is not None:  # a uid of its own, so the count is this job's processes only
        limits[resource.RLIMIT_NPROC] = job["max_processes"]
    for which, value in limits.items():
        soft, hard = value if isinstance(value, tuple) else (value, value)
        resource.setrlimit(which, (soft, hard))


def _become(uid: int, keep_read: bool) -> None:
    """Switch to the job's own uid. Under Landlock, keep CAP_DAC_READ_SEARCH (and only
    it): Landlock already confines reads, and the interpreter may live in a directory
    the new uid cannot enter (pyenv under /root)."""
    libc.prctl(libc.PR_SET_KEEPCAPS, int(keep_read))
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if keep_read:
        caps = 1 << CAP_DAC_READ_SEARCH
        header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
        data = struct.pack("6I", caps, caps, caps, 0, 0, 0)
        libc.capset(header, data)
        libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH)


# EvalPlus's "reliability guard" disables these before running a candidate; the
# evalplus profile does the same so that verdicts match its evaluator's.
_EVALPLUS_DISABLED = {
    "builtins": "exit quit open help",
    "os": "kill system putenv remove removedirs rmdir fchdir setuid fork forkpty killpg rename "
    "renames truncate replace unlink fchmod fchown chmod chown chroot lchflags lchmod lchown "
    "getcwd chdir",
    "shutil": "rmtree move chown",
    "subprocess": "Popen",
}
_EVALPLUS_BLOCKED_MODULES = ["ipdb", "joblib", "resource", "psutil", "tkinter"]


def _apply_evalplus_guard() -> None:
    import builtins
    import faulthandler
    import subprocess  # noqa: F401 - must be loaded to be patched

    faulthandler.disable()
    os.environ["OMP_NUM_THREADS"] = "1"
    for module, names in _EVALPLUS_DISABLED.items():
        target = builtins if module == "builtins" else sys.modules[module]
        for name in names.split():
            setattr(target, name, None)
    for name in _EVALPLUS_BLOCKED_MODULES:
        sys.modules[name] = None  # type: ignore[assignment]  # None blocks the import; the stubs allow modules only
