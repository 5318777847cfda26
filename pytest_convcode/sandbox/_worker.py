"""The sandbox worker: a warm template process that runs untrusted code in forks.

Started by ``process.ProcessSandbox`` as ``python _worker.py FD [MODULE...]`` with a clean
environment. Two roles, one file, standard library only (so any interpreter
can host it):

- zygote: imports what candidates commonly use, leaves the network (its own empty
  network namespace), then forks one runner per job it receives on FD, each as the init
  of a PID namespace of its own, and supervises them all from one loop: wall-clock
  deadlines, output tails, and a trailer saying how each runner ended. (One fork per
  job: a fork and an exit of this process cost ~3 ms of CPU, mostly page tables and
  copy-on-write faults; a supervisor process per job doubled that.)
- runner: applies limits (rlimits, a fresh uid, Landlock), then executes the
  candidate and either the calls (a call job) or the test methods of a unittest
  class (a test job, ``"mode": "tests"``), writing one record per call or test.

Killing the runner tears down its PID namespace, so nothing it started (even
after ``os.setsid()``) survives the job.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import json
import linecache
import math
import os
import pickle
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
import types
import unittest
from collections.abc import Callable
from typing import Any

import _codec

# What candidates commonly import, and what the evalplus guard patches (imported per job
# it costs ~10 ms), loaded once in the zygote. Not numpy: HumanEval+ and MBPP+ answers hardly
# ever import it, and its ~6 MB of pages made every job's fork and exit ~12 % dearer (test
# jobs get it with the libraries their sandbox preloads).
PRELOAD = """array bisect cmath collections copy dataclasses datetime decimal enum faulthandler fractions
functools hashlib heapq itertools json math operator random re statistics string subprocess sys
textwrap typing unittest""".split()  # noqa: SIM905

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
SIOCSIFFLAGS, IFF_UP = 0x8914, 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 47, 2
CAP_DAC_READ_SEARCH = 2
UID_BASE = 200_000  # runner uid = UID_BASE + its pid on the host: unique among live jobs
OUTPUT_TAIL = 8192
BIG_PAYLOAD = 1 << 16  # a record's payload this large is written apart from its header
TIMER_REPEAT = 0.05  # after a call's timer first fires, it fires again this often (CPU or wall seconds)
SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
# Test jobs: no display for matplotlib, and the time zone and thread count that BigCodeBench's
# evaluator sets, so that tests about local times and floating-point sums see what it sees.
TEST_ENV = {"MPLBACKEND": "Agg", "TZ": "UTC", "OMP_NUM_THREADS": "1"}
TEST_MODULE = "__candidate__"  # the module's __name__: "if __name__ == '__main__'" blocks stay off
TEST_FILENAME = "<candidate>"
DETAIL_HEAD, DETAIL_TAIL = 1024, 3072  # what a test's traceback keeps of its start and end
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
# The kernel charges CPU limits and CPU timers by scheduler ticks, while rusage reports precise
# time; on a busy VM the ticks run 10 % and more ahead. So a SIGXCPU or SIGKILL after this share
# of the budget is the limit's (no one else can SIGKILL a runner that is PID 1 of its namespace).
CPU_LIMIT_SHARE = 0.5

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class CallTimeout(BaseException):
    """Raised in the runner when a call exceeds its limit (not an Exception: hard to swallow)."""


# ---------------------------------------------------------------- isolation


def _unshare(flags: int) -> bool:
    return _libc.unshare(flags) == 0


def _host_pid() -> int:
    """Our pid as the host sees it (``/proc`` is the host's; in a namespace, getpid() says 1)."""
    return int(os.readlink("/proc/self"))


def _enter_network_namespace() -> str:
    """Leave the host network for good; returns how ('netns', 'userns+netns' or '')."""
    if os.geteuid() == 0 and _unshare(CLONE_NEWNET):
        return "netns"
    uid, gid = os.getuid(), os.getgid()
    if not _unshare(CLONE_NEWUSER | CLONE_NEWNET):
        return ""
    for name, text in (("uid_map", f"0 {uid} 1"), ("setgroups", "deny"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    return "userns+netns"


class _Landlock:
    """Landlock (Linux >= 5.13): the runner reads the interpreter, writes job dirs only.

    The ruleset is built once in the zygote; each runner only applies it. Jobs are
    kept out of each other's directories by their own uid and 0700 directories.
    """

    CREATE, ADD_RULE, RESTRICT = 444, 445, 446
    READ = 1 | 4 | 8  # execute, read file, read dir
    FILE_RIGHTS = 1 | 2 | 4 | (1 << 14) | (1 << 15)  # execute, write, read, truncate, ioctl

    def __init__(self, readable: list[str], writable: list[str]) -> None:
        abi = _libc.syscall(self.CREATE, None, 0, 1)
        self.abi = max(abi, 0)
        self.readable, self.writable = readable, writable
        self.ruleset = self._build(readable, writable) if self.abi else -1

    def widen(self, readable: list[str], writable: list[str]) -> None:
        """In a runner with a network namespace of its own: a ruleset that also allows these
        paths (opened now, in its mount namespace) and TCP, which reaches only its loopback."""
        if self.abi:
            os.close(self.ruleset)
            self.ruleset = self._build(self.readable + readable, self.writable + writable, tcp=True)

    def _build(self, readable: list[str], writable: list[str], tcp: bool = False) -> int:
        all_fs = (1 << (13 + (self.abi >= 2) + (self.abi >= 3) + (self.abi >= 5))) - 1
        handled_net = 1 | 2 if self.abi >= 4 and not tcp else 0  # bind and connect TCP: none allowed
        scoped = 1 | 2 if self.abi >= 6 else 0  # abstract unix sockets, signals
        attr = struct.pack("QQQ", all_fs, handled_net, scoped)
        size = 24 if self.abi >= 6 else 16 if self.abi >= 4 else 8
        fd = _libc.syscall(self.CREATE, ctypes.c_char_p(attr), size, 0)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
        for path, access in [(p, self.READ) for p in readable] + [(p, all_fs) for p in writable]:
            self._allow(fd, path, access)
        return int(fd)

    def restrict(self) -> None:
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS)")
        if _libc.syscall(self.RESTRICT, self.ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
        os.close(self.ruleset)

    def _allow(self, ruleset: int, path: str, access: int) -> None:
        try:
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if not os.path.isdir(path):
                access &= self.FILE_RIGHTS
            rule = struct.pack("=Qi", access, pfd)
            if _libc.syscall(self.ADD_RULE, ruleset, 1, ctypes.c_char_p(rule), 0) != 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
        finally:
            os.close(pfd)


def _readable_roots() -> list[str]:
    """What the candidate may read: the interpreter, its packages and the system libraries,
    but not this package (its bundled data holds the reference solutions)."""
    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.dirname(here)
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.update(p for p in sys.path[1:] if p and os.path.isdir(p))
    roots.update(["/usr", "/lib", "/lib64", "/bin", "/dev/urandom"])
    readable: set[str] = set()
    for root in roots:
        readable.update(_without(os.path.realpath(root), os.path.realpath(package)))
    return sorted(readable)


def _without(root: str, excluded: str) -> list[str]:
    """Paths that together cover ``root`` except the ``excluded`` subtree."""
    if excluded == root:
        return []
    if not excluded.startswith(root.rstrip("/") + "/"):
        return [root]
    step = os.path.join(root, os.path.relpath(excluded, root).split(os.sep)[0])
    siblings = [os.path.join(root, name) for name in os.listdir(root) if os.path.join(root, name) != step]
    return siblings + _without(step, excluded)


# A seccomp filter: socket(AF_UNIX, ...) fails with EACCES (Landlock does not cover
# connecting to a path-named socket), and so does any syscall of a foreign ABI.
_AUDIT_ARCH = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}  # arch, __NR_socket
_SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


class _UnixSocketFilter:
    """The seccomp filter, built once in the zygote; each runner only installs it."""

    def __init__(self) -> None:
        arch = _AUDIT_ARCH.get(os.uname().machine)
        self.program = None if arch is None else _filter_program(*arch)

    def install(self) -> bool:
        if self.program is None:
            return False
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        return _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.program), 0, 0) == 0


def _filter_program(audit_arch: int, nr_socket: int) -> _SockFprog:
    load, jeq, ret = 0x20, 0x15, 0x06
    deny = _SECCOMP_RET_ERRNO | 13
    program = [
        (load, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, audit_arch),
        (ret, 0, 0, _SECCOMP_RET_ERRNO | 1),  # foreign ABI: EPERM
        (load, 0, 0, 0),  # seccomp_data.nr
        (jeq, 0, 3, nr_socket),
        (load, 0, 0, 16),  # seccomp_data.args[0], low word
        (jeq, 0, 1, 1),  # AF_UNIX
        (ret, 0, 0, deny),
        (ret, 0, 0, _SECCOMP_RET_ALLOW),
    ]
    filters = (_SockFilter * len(program))(*[_SockFilter(*op) for op in program])
    return _SockFprog(len(program), filters)  # it holds a pointer to filters, and keeps them alive


class _Isolation:
    """What this machine allows, and what the zygote prepared once for every runner."""

    def __init__(self, network: str, pid_namespace: bool, base: str) -> None:
        self.network = network
        self.uid_switch = os.geteuid() == 0 and network == "netns"
        self.pid_namespace = pid_namespace
        self.landlock = _Landlock(_readable_roots(), [base, os.devnull])
        self.socket_filter = _UnixSocketFilter()


# ---------------------------------------------------------------- runner


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)  # all of it, unless a signal cut the write short
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]


def _record(fd: int, kind: int, index: int = 0, cpu: float = 0.0, payload: bytes = b"") -> None:
    header = _codec.RECORD.pack(kind, index, cpu, len(payload))
    if len(payload) < BIG_PAYLOAD:
        _write_all(fd, header + payload)
    else:  # not copied into one more buffer (outputs reach 150 MB)
        _write_all(fd, header)
        _write_all(fd, payload)


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
        sys.modules[name] = None  # type: ignore[assignment]


def _become(uid: int, keep_read: bool) -> None:
    """Switch to the job's own uid. Under Landlock, keep CAP_DAC_READ_SEARCH (and only
    it): Landlock already confines reads, and the interpreter may live in a directory
    the new uid cannot enter (pyenv under /root)."""
    _libc.prctl(PR_SET_KEEPCAPS, int(keep_read), 0, 0, 0)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if keep_read:
        caps = 1 << CAP_DAC_READ_SEARCH
        header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
        data = struct.pack("6I", caps, caps, caps, 0, 0, 0)
        if _libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data)) != 0:
            raise OSError(ctypes.get_errno(), "capset")
        _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0)


class _CallState:
    """The call in progress, for the timer handler (index -1: between calls), and the call each
    timer was last armed in (-1: not running for the limits below). An instance: setting a
    class attribute flushes the type cache, and the loop sets these at every call."""

    __slots__ = (
        "cpu_armed",
        "cpu_limit",
        "fired",
        "index",
        "results",
        "started",
        "wall_armed",
        "wall_limit",
        "wall_started",
    )

    def __init__(self) -> None:
        self.index, self.fired, self.results = -1, 0, -1
        self.started = self.wall_started = self.cpu_limit = self.wall_limit = 0.0
        self.cpu_armed = self.wall_armed = -1

    def arm(self, cpu_limit: float, wall_limit: float) -> None:
        """Arm the timers for the call starting now, unless they already run for these limits:
        a HumanEval+ run makes 250,000 calls, mostly with equal limits, and two syscalls a call
        cost a second. A timer armed in an earlier call fires early: see ``rearm``."""
        if self.cpu_armed < 0 or cpu_limit != self.cpu_limit:
            signal.setitimer(signal.ITIMER_PROF, cpu_limit, TIMER_REPEAT)
            self.cpu_limit, self.cpu_armed = cpu_limit, self.index
        if self.wall_armed < 0 or wall_limit != self.wall_limit:
            signal.setitimer(signal.ITIMER_REAL, wall_limit, TIMER_REPEAT)
            self.wall_limit, self.wall_armed = wall_limit, self.index

    def rearm(self, cpu: bool) -> bool:
        """A timer armed in an earlier call has fired: arm it again for what is left of this
        call's own limit. False when nothing is left (the call has used up its limit)."""
        if cpu:
            left = self.cpu_limit - (time.process_time() - self.started)
        else:
            left = self.wall_limit - (time.monotonic() - self.wall_started)
        if left <= 0:
            return False
        signal.setitimer(signal.ITIMER_PROF if cpu else signal.ITIMER_REAL, left, TIMER_REPEAT)
        if cpu:
            self.cpu_armed = self.index
        else:
            self.wall_armed = self.index
        return True

    def disarm(self) -> None:
        self.index = self.cpu_armed = self.wall_armed = -1
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)


_current = _CallState()


def _on_timer(signum: int, frame: Any) -> None:
    call = _current
    if call.index < 0:  # a timer running out between calls: the next call arms it afresh
        call.cpu_armed = call.wall_armed = -1
        return
    cpu = signum == signal.SIGPROF
    if (call.cpu_armed if cpu else call.wall_armed) != call.index and call.rearm(cpu):
        return
    call.fired += 1
    if call.fired > 1:  # the candidate swallowed the first CallTimeout: end the job here
        _record(call.results, _codec.TIMEOUT, call.index, time.process_time() - call.started)
        os._exit(0)
    raise CallTimeout


def _calls_cpu(job: dict[str, Any]) -> float:
    total = sum(job["cpu_limits"])
    return total if job["cpu_budget"] is None else min(total, job["cpu_budget"])


def _tests_mode(job: dict[str, Any]) -> bool:
    return job.get("mode") == "tests"


def _cpu_budget(job: dict[str, Any]) -> int:
    if _tests_mode(job):
        return max(math.ceil(job["cpu_budget"]), 1)
    return math.ceil(_calls_cpu(job) + job["load_cpu"]) + 1


def _wall_budget(job: dict[str, Any]) -> float:
    """The wall-clock deadline keeps the per-call ratio of wall to CPU limits."""
    if _tests_mode(job):
        return float(job["wall_budget"])
    ratio = sum(job["wall_limits"]) / max(sum(job["cpu_limits"]), 1e-9)
    return ratio * _calls_cpu(job) + job["load_wall"]


def _set_limits(job: dict[str, Any], uid: int | None) -> None:
    mem = job["memory_bytes"]
    cpu = _cpu_budget(job)
    limits = {
        resource.RLIMIT_AS: mem,
        # a test job's budget is exact: its runner, as PID 1, ignores the soft limit's SIGXCPU
        resource.RLIMIT_CPU: (cpu, cpu if _tests_mode(job) else cpu + 1),
        resource.RLIMIT_FSIZE: job["file_bytes"],
        resource.RLIMIT_CORE: 0,
    }
    if job.get("guard") == "evalplus":
        limits[resource.RLIMIT_DATA] = mem
        limits[resource.RLIMIT_STACK] = mem
    if uid is not None:  # a uid of its own, so the count is this job's processes only
        limits[resource.RLIMIT_NPROC] = job["max_processes"]
    for which, value in limits.items():
        soft, hard = value if isinstance(value, tuple) else (value, value)
        resource.setrlimit(which, (soft, hard))


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def c(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    if _libc.mount(c(source), c(target), c(fstype), flags, c(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}")


def _private_view(workdir: str, uid: int | None, isolation: _Isolation) -> tuple[str, str]:
    """A test job's own view of the machine, for tests written for a machine of their own:
    /tmp is its job directory (cwd: /tmp/work), /dev/shm a small tmpfs (semaphores for
    multiprocessing), /proc shows only its processes (threadpoolctl, psutil read it), and
    it has a network namespace of its own with the loopback up (tests that run a server
    on localhost). Returns (home, tmpdir): the job directory's paths as the job sees them.
    Best effort: where namespaces are not allowed, the job runs in the shared view."""
    if not _unshare(CLONE_NEWNS | CLONE_NEWNET):
        return workdir, workdir
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here reaches the host
    _mount(workdir, TEST_TMP, None, MS_BIND)
    os.mkdir(TEST_CWD, 0o700)
    if uid is not None:
        os.chown(TEST_CWD, uid, uid)
    os.chdir(TEST_CWD)
    readable, writable = list(TEST_READABLE), [TEST_TMP]
    with contextlib.suppress(OSError):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={TEST_SHM_BYTES},mode=1777")
        writable.append("/dev/shm")
    if isolation.pid_namespace:
        with contextlib.suppress(OSError):
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            readable.append("/proc")
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH", b"lo", IFF_UP))
    isolation.landlock.widen(readable, writable)
    return TEST_CWD, TEST_TMP


def _confine(job: dict[str, Any], workdir: str, tmpdir: str, uid: int | None, isolation: _Isolation) -> None:
    os.environ.update(HOME=workdir, TMPDIR=tmpdir)  # the rest is SAFE_ENV already (see main)
    if _tests_mode(job):  # tests may run "python" (BigCodeBench/1101, 1103): this interpreter
        os.environ.update(TEST_ENV, PATH=os.path.dirname(sys.executable) + os.pathsep + SAFE_ENV["PATH"])
        time.tzset()
    tempfile.tempdir = tmpdir
    _set_limits(job, uid)
    landlock = isolation.landlock
    if uid is not None:
        _become(uid, keep_read=bool(landlock.abi))
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after _become: a uid change clears it
    if landlock.abi:
        landlock.restrict()
    isolation.socket_filter.install()
    if job.get("guard") == "evalplus":
        _apply_evalplus_guard()


def run_job(job: dict[str, Any], results: int, workdir: str, isolation: _Isolation) -> None:
    """The runner: becomes the sandboxed candidate. Never returns."""
    _name_process(b"convcode-runner")
    os.chdir(workdir)
    keep = sorted({results, isolation.landlock.ruleset} - {-1})
    for low, high in zip([3, *(k + 1 for k in keep)], [*keep, 1 << 16], strict=False):
        os.closerange(low, high)
    signal.signal(signal.SIGPROF, _on_timer)
    signal.signal(signal.SIGALRM, _on_timer)
    try:
        uid = UID_BASE + _host_pid() if isolation.uid_switch else None
        if uid is not None:
            os.chown(workdir, uid, uid)
        home = tmpdir = workdir
        if _tests_mode(job):
            home, tmpdir = _private_view(workdir, uid, isolation)
        _confine(job, home, tmpdir, uid, isolation)
    except BaseException:
        traceback.print_exc()  # stderr reaches the client in the trailer's output tail
        os._exit(71)
    _record(results, _codec.READY)  # from here on, whatever happens is the candidate's doing
    if _tests_mode(job):
        run_tests(job, results)

    namespace: dict[str, Any] = {}
    try:
        exec(compile(job["code"], job.get("filename", "<candidate>"), "exec"), namespace)
        fn = namespace[job["entry_point"]] if job.get("entry_point") else None
    except BaseException:
        _record(results, _codec.LOAD_ERROR, payload=traceback.format_exc(limit=-8).encode())
        os._exit(0)
    _record(results, _codec.LOADED)

    inputs = pickle.loads(job["inputs"])
    describe, descriptions = job.get("describe"), bytearray()
    call = _current
    call.results = results
    clock, wall_clock = time.process_time, time.monotonic
    for i, (args, cpu_limit, wall_limit) in enumerate(zip(inputs, job["cpu_limits"], job["wall_limits"], strict=False)):
        start = clock()
        call.index, call.started, call.wall_started, call.fired = i, start, wall_clock(), 0
        try:
            call.arm(cpu_limit, wall_limit)
            out = fn(*args)  # type: ignore[misc]
            call.index = -1  # from here on, a timer running out is not this call's
            cpu = clock() - start
            _record(results, _codec.OK, i, cpu, _codec.dump_output(out))
            if describe:
                descriptions.append(_codec.describe_output(out))
        except CallTimeout:
            call.disarm()
            _record(results, _codec.TIMEOUT, i, clock() - start)
            if job["stop_on_error"]:
                break
        except BaseException:  # SystemExit, KeyboardInterrupt and friends are a failed call
            call.disarm()
            _record(results, _codec.ERROR, i, clock() - start, traceback.format_exc(limit=-8).encode())
            if job["stop_on_error"]:
                break
    if describe:
        _record(results, _codec.DESCRIPTIONS, payload=bytes(descriptions))
    _record(results, _codec.DONE)
    os._exit(0)


def _name_process(name: bytes) -> None:
    """What ps, top and perf call this process (the command line stays the interpreter's)."""
    _libc.prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def run_tests(job: dict[str, Any], results: int) -> None:
    """The runner of a test job: load program and tests as one module, then run the
    selected test methods in one suite (class and module fixtures apply), writing
    each test's outcome as it ends. Never returns."""
    for signum in (signal.SIGPROF, signal.SIGALRM):  # no per-call timers here: the candidate's own
        signal.signal(signum, signal.SIG_DFL)
    source = job["program"] + "\n" + job["test_code"]
    module = types.ModuleType(TEST_MODULE)
    module.__file__ = os.path.join(os.getcwd(), TEST_MODULE + ".py")
    sys.modules[TEST_MODULE] = module  # unittest looks module fixtures up there
    # tracebacks show the source lines (an entry without mtime is never checked against a file)
    linecache.cache[TEST_FILENAME] = (len(source), None, source.splitlines(True), TEST_FILENAME)
    try:
        exec(compile(source, TEST_FILENAME, "exec"), module.__dict__)
        cls = module.__dict__.get(job["class_name"])
        is_case = isinstance(cls, type) and issubclass(cls, unittest.TestCase)
        if is_case:
            names = list(job["test_names"]) if job["test_names"] is not None else _test_methods(cls)
    except BaseException as exc:
        _record(results, _codec.LOAD_ERROR, payload=_candidate_traceback(exc).encode())
        os._exit(0)
    if not is_case:
        text = f"the program defines no unittest.TestCase class named {job['class_name']!r}"
        _record(results, _codec.LOAD_ERROR, payload=text.encode())
        os._exit(0)
    _record(results, _codec.LOADED, payload="\n".join(names).encode("utf-8", "replace"))

    recorder = _TestRecorder(results, len(names))
    pending = []
    for i, name in enumerate(names):
        try:
            case = cls(name)
        except BaseException as exc:  # no such method, or a constructor that fails
            recorder.write(i, name, "error", "".join(traceback.format_exception_only(exc)), 0.0)
            continue
        recorder.cases[id(case)] = i
        pending.append(case)
    while pending:
        # An exception that escapes unittest (KeyboardInterrupt) ends a suite; stopTest has
        # recorded the test it came from, and the tests after it still run, in a new suite.
        recorder._testRunEntered = False
        with contextlib.suppress(BaseException):
            unittest.TestSuite(pending).run(recorder)
        left = [case for case in pending if id(case) not in recorder.started]
        if len(left) == len(pending):  # none started: a class or module fixture failed
            break
        pending = left
    _record(results, _codec.DONE)
    os._exit(0)


def _candidate_traceback(exc: BaseException) -> str:
    """The traceback of an exception from the candidate's module, without the runner's frame."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb, limit=-8))
    except BaseException:  # a hostile exception that cannot be formatted
        return f"{type(exc).__name__} (its message could not be formatted)"


def _test_methods(cls: type) -> list[str]:
    """The class's test methods (as unittest finds them), in the order they were defined."""
    found = set(unittest.TestLoader().getTestCaseNames(cls))
    ordered: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        ordered.update((name, None) for name in vars(klass) if name in found)
    return list(ordered)


def _cut(text: str) -> str:
    if len(text) <= DETAIL_HEAD + DETAIL_TAIL:
        return text
    cut = len(text) - DETAIL_HEAD - DETAIL_TAIL
    return f"{text[:DETAIL_HEAD]}\n[... {cut} characters cut ...]\n{text[-DETAIL_TAIL:]}"


_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


class _TestRecorder(unittest.TestResult):
    """Keeps the worst outcome of the test in progress (subtests, tearDown and cleanups
    can add to it) and writes it as a record when the test stops."""

    def __init__(self, results: int, n_tests: int) -> None:
        super().__init__()
        self.results = results
        self.cases: dict[int, int] = {}  # id of a TestCase -> its index in the job's list
        self.started: set[int] = set()  # ids of the TestCases that started
        self.extra = n_tests  # next index for a fixture that fails outside any test
        self.current: Any = None
        self.status: str | None = None
        self.details: list[str] = []
        self.cpu_start = 0.0

    def write(self, index: int, name: str, status: str, detail: str, cpu: float) -> None:
        head = bytes([_codec.TEST_STATUSES.index(status)]) + name.encode("utf-8", "replace") + b"\0"
        _record(self.results, _codec.TEST_END, index, cpu, head + _cut(detail).encode("utf-8", "replace"))

    def startTest(self, test: Any) -> None:
        super().startTest(test)
        self.current, self.status, self.details = test, None, []
        self.started.add(id(test))
        self.cpu_start = time.process_time()
        _record(self.results, _codec.TEST_START, self.cases.get(id(test), 0))

    def stopTest(self, test: Any) -> None:
        super().stopTest(test)
        status, detail = self.status, "\n".join(self.details)
        if status is None:  # nothing reported: an exception is passing through unittest
            exc = sys.exc_info()
            status, detail = "error", self._describe(exc, test) if exc[0] else "the test ended without an outcome"
        cpu = time.process_time() - self.cpu_start
        self.write(self.cases.get(id(test), 0), test._testMethodName, status, detail, cpu)
        self.current = None

    def _describe(self, err: Any, test: Any) -> str:
        try:
            return self._exc_info_to_string(err, test)
        except BaseException:  # a hostile exception that cannot be formatted
            return f"{getattr(err[0], '__name__', 'exception')} (its message could not be formatted)"

    def _add(self, test: Any, status: str, detail: str) -> None:
        if isinstance(test, unittest.case._SubTest):
            test = test.test_case
        if test is not self.current:  # outside any test: setUpClass, tearDownModule...
            self.write(self.extra, str(test), status, detail, 0.0)
            self.extra += 1
            return
        if self.status is None or _RANK[status] > _RANK[self.status]:
            self.status = status
        if detail:
            self.details.append(detail)

    def addSuccess(self, test: Any) -> None:
        self._add(test, "passed", "")

    def addFailure(self, test: Any, err: Any) -> None:
        self._add(test, "failed", self._describe(err, test))

    def addError(self, test: Any, err: Any) -> None:
        self._add(test, "error", self._describe(err, test))

    def addSkip(self, test: Any, reason: str) -> None:
        self._add(test, "skipped", str(reason))

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        self._add(test, "passed", "")

    def addUnexpectedSuccess(self, test: Any) -> None:
        self._add(test, "failed", "unexpected success: the test is marked as an expected failure")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        if err is not None:
            status = "failed" if issubclass(err[0], test.failureException) else "error"
            self._add(test, status, f"{subtest}:\n{self._describe(err, test)}")


# ---------------------------------------------------------------- zygote


class _Job:
    """A job whose runner is running: what the zygote needs to supervise it and answer."""

    def __init__(self, job: dict[str, Any], response: int, workdir: str, pid: int, out_r: int) -> None:
        self.job, self.response, self.workdir, self.pid, self.out_r = job, response, workdir, pid, out_r
        self.pidfd = os.pidfd_open(pid)
        self.started = time.monotonic()
        self.deadline = self.started + _wall_budget(job)
        self.tail = bytearray()
        self.timed_out = False


class Zygote:
    """Forks one runner per job and supervises them all from one loop: their output tails,
    wall-clock deadlines and endings, answered with a trailer on each job's pipe.

    With PID namespaces, the zygote is the init of a namespace of its own (see ``main``) and
    each runner the init of another one inside it: killing a runner ends all it started.
    Every page this process writes while a runner lives is copied, so the loop is lean:
    epoll and a handler per file descriptor.
    """

    def __init__(self, sock: socket.socket, base: str, isolation: _Isolation) -> None:
        self.sock, self.base, self.isolation = sock, base, isolation
        # our PID namespace, to return to after each runner's fork (None: no namespaces here)
        self.home_ns = os.open("/proc/self/ns/pid", os.O_RDONLY) if isolation.pid_namespace else None
        self.jobs: dict[int, _Job] = {}  # by pidfd
        self.count = 0
        self.poll = select.epoll()
        self.handlers: dict[int, Callable[[], None]] = {}

    def serve(self) -> None:
        """Run jobs until the client closes the socket; then end those still running."""
        self._watch(self.sock.fileno(), self._receive)
        try:
            while True:
                for fd, _ in self.poll.poll(self._until_next_deadline()):
                    handler = self.handlers.get(fd)
                    if handler is not None:  # else closed by an earlier handler of this round
                        handler()
                now = time.monotonic()
                for job in self.jobs.values():
                    if not job.timed_out and job.deadline <= now:
                        os.kill(job.pid, signal.SIGKILL)
                        job.timed_out = True
        except (EOFError, ConnectionError):  # the client is gone
            pass
        finally:
            for job in self.jobs.values():
                with contextlib.suppress(OSError):
                    os.kill(job.pid, signal.SIGKILL)
                    os.waitpid(job.pid, 0)

    def _watch(self, fd: int, handler: Callable[[], None]) -> None:
        self.poll.register(fd, select.EPOLLIN)
        self.handlers[fd] = handler

    def _unwatch(self, fd: int) -> None:
        self.poll.unregister(fd)
        del self.handlers[fd]

    def _until_next_deadline(self) -> float:
        deadlines = [job.deadline for job in self.jobs.values() if not job.timed_out]
        return max(min(deadlines) - time.monotonic(), 0.0) if deadlines else -1

    def _receive(self) -> None:
        job, response = _recv_job(self.sock)
        self.count += 1
        # no "-" in the job's path: some tests split paths on it (BigCodeBench/1127)
        workdir = os.path.join(self.base, f"job_{self.count}")
        try:
            os.mkdir(workdir, 0o700)
            out_r, out_w = os.pipe()
        except OSError:
            _write_trailer(response, {"ended": "supervisor_error", "error": traceback.format_exc()})
            os.close(response)
            return
        pid = self._fork()  # a failure here ends the zygote: the client reports it lost
        if pid == 0:
            try:
                _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # a killed run leaves no jobs
                os.close(out_r)
                os.dup2(out_w, 1)
                os.dup2(out_w, 2)
                if self.home_ns is None:
                    os.setsid()
                run_job(job, response, workdir, self.isolation)
            finally:
                os._exit(70)
        os.close(out_w)
        os.set_blocking(out_r, False)
        running = _Job(job, response, workdir, pid, out_r)
        self.jobs[running.pidfd] = running
        self._watch(out_r, lambda: self._read_output(running))
        self._watch(running.pidfd, lambda: self._finish(running))

    def _fork(self) -> int:
        """fork(); with namespaces, the child starts a PID namespace of its own, as its init."""
        if self.home_ns is None:
            return os.fork()
        if not _unshare(CLONE_NEWPID):
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWPID)")
        pid = os.fork()
        # the zygote's next children go into its own namespace again
        if pid and _libc.setns(self.home_ns, CLONE_NEWPID) != 0:
            raise OSError(ctypes.get_errno(), "setns(CLONE_NEWPID)")
        return pid

    def _read_output(self, job: _Job) -> bool:
        """Keep the tail of the runner's stdout and stderr; False at the end of it."""
        try:
            chunk = os.read(job.out_r, 1 << 16)
        except BlockingIOError:
            return True
        if not chunk:
            self._unwatch(job.out_r)
            os.close(job.out_r)
            job.out_r = -1
            return False
        job.tail = (job.tail + chunk)[-OUTPUT_TAIL:]
        return True

    def _finish(self, job: _Job) -> None:
        """The runner has exited, and (as the init of its namespace) everything it started with it."""
        while job.out_r >= 0 and self._read_output(job):
            pass
        self._unwatch(job.pidfd)
        del self.jobs[job.pidfd]
        os.close(job.pidfd)
        if self.home_ns is None:
            _kill_group(job.pid)
        leftovers = _remove_if_empty(job.workdir)
        _, status, usage = os.wait4(job.pid, 0)  # only now may its pid, and so its uid, be reused
        cpu = usage.ru_utime + usage.ru_stime
        if job.timed_out:
            ended = "wall_timeout"
        elif _stopped_by_cpu_limit(job.job, status, cpu):
            ended = "cpu_limit"
        else:
            ended = "signal" if os.WIFSIGNALED(status) else "exit"
        _write_trailer(
            job.response,
            {
                "ended": ended,
                "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                "wall": round(time.monotonic() - job.started, 4),
                "cpu": round(cpu, 4),
                "max_rss_kb": usage.ru_maxrss,
                "output": job.tail.decode("utf-8", "replace"),
            },
        )
        os.close(job.response)  # the client has its answer: clean up after it, not before
        if leftovers:
            self._remove_in_background(job.workdir)

    def _remove_in_background(self, path: str) -> None:
        """A job left files: a child process removes them, so that the zygote need not wait."""
        pid = os.fork()
        if pid == 0:
            try:
                os.closerange(3, 1 << 16)  # no job's pipe stays open here: their clients wait for EOF
                shutil.rmtree(path, ignore_errors=True)
            finally:
                os._exit(0)
        pidfd = os.pidfd_open(pid)

        def reap() -> None:
            self._unwatch(pidfd)
            os.close(pidfd)
            os.waitpid(pid, 0)

        self._watch(pidfd, reap)


def _remove_if_empty(workdir: str) -> bool:
    """Remove the job's directory if the job left it empty (one syscall, the usual case); else
    hand it to root, so that no later job that gets the same uid can enter it. True: not removed."""
    try:
        os.rmdir(workdir)
        return False
    except OSError:
        with contextlib.suppress(OSError):
            os.chown(workdir, 0, 0)
            os.chmod(workdir, 0o700)
        return True


def _stopped_by_cpu_limit(job: dict[str, Any], status: int, cpu: float) -> bool:
    """As PID 1 a test runner ignores the soft limit's SIGXCPU: the hard limit's SIGKILL ends it."""
    limit_signals = (signal.SIGXCPU, signal.SIGKILL)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) in limit_signals and cpu >= CPU_LIMIT_SHARE * _cpu_budget(job)


def _write_trailer(response: int, fields: dict[str, Any]) -> None:
    trailer = json.dumps(fields).encode()
    with contextlib.suppress(BrokenPipeError):  # the client gave up on this job
        _write_all(response, b"\n" + trailer + _codec.TRAILER_LENGTH.pack(len(trailer)) + _codec.TRAILER_MAGIC)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _recv_job(sock: socket.socket) -> tuple[dict[str, Any], int]:
    """A job, as ``_codec.JOB_HEADER`` describes it."""
    size = _codec.JOB_HEADER.size
    head, fds, _, _ = socket.recv_fds(sock, size, 1)
    if not head:
        raise EOFError
    head += _recv_exact(sock, size - len(head))
    json_length, inputs_length = _codec.JOB_HEADER.unpack(head)
    job = json.loads(_recv_exact(sock, json_length))
    job["inputs"] = _recv_exact(sock, inputs_length)  # unpickled by the runner, not here
    return job, fds[0]


def _preload(extra: list[str]) -> None:
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    if extra:  # the client's choice (heavy libraries of a test suite); read at import time:
        os.environ.setdefault("MPLBACKEND", "Agg")
    for name in extra:
        with contextlib.suppress(Exception):  # a library that fails here fails in the job, reported there
            __import__(name)
    # Forks share these objects' pages until written; a garbage collection in a fork would
    # write to every one of them (a page fault each, ~10 us here). Frozen, it skips them.
    gc.freeze()
    _skip_threading_after_fork()


def _skip_threading_after_fork() -> None:
    """threading's at-fork handler rebuilds its bookkeeping in every child: some 90 page
    faults, ~0.4 ms of each job here. The zygote runs one thread, so what a runner inherits
    is already right: the handler (registered by reference, hence its code) does nothing."""
    import threading

    handler = getattr(threading, "_after_fork", None)
    if threading.active_count() == 1 and isinstance(handler, types.FunctionType):
        handler.__code__ = (lambda: None).__code__


def _enter_pid_namespace(sock: socket.socket) -> bool:
    """Go on as the init of a PID namespace of our own, where we may: each runner's namespace
    is made inside it, and the zygote can return from that (``setns`` needs a namespace it
    owns). This process stays outside, waits for that init and exits with its status."""
    if not _unshare(CLONE_NEWPID):
        return False
    pid = os.fork()
    if pid == 0:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # its parent is single-threaded: safe
        return True
    sock.close()  # the client sees EOF when the init ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the init ends on the client's EOF, and so do we
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def main(fd: int, preload: list[str]) -> None:
    # No parent-death signal here: it fires when the *thread* that started us ends, and
    # clients start us from worker threads. EOF on the socket tells us the client is gone.
    sock = socket.socket(fileno=fd)
    _name_process(b"convcode-zygote")
    _preload(preload)
    # What every runner starts with, set once here: the environment (whatever the preloaded
    # modules put there is gone), stdin, and oversized writes failing instead of killing.
    os.environ.clear()
    os.environ.update(SAFE_ENV)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    network = _enter_network_namespace()
    pid_namespace = _enter_pid_namespace(sock)
    base = tempfile.mkdtemp(prefix="pytest_convcode_")
    os.chmod(base, 0o711)
    try:
        isolation = _Isolation(network, pid_namespace, base)
        hello = {
            "network": network,
            "landlock": isolation.landlock.abi,
            "uid_switch": isolation.uid_switch,
            "pid": _host_pid(),
        }
        sock.sendall(json.dumps(hello).encode() + b"\n")
        Zygote(sock, base, isolation).serve()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
