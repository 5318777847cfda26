"""Telling a deadlocked test job from a slow one, so that it ends now rather than at its deadline.

A job is deadlocked when every thread of every process it started sleeps in a system call that
has no time-out and that only the job itself could end: a lock or a ``join`` (futex), a read or
``accept`` on a pipe or socket that only its own processes hold, a ``wait`` for its own child.
Then no thread can ever run again, and the verdict is the one the deadline would give (the test
did not finish), minutes sooner. (A server test whose task forgets to answer, BigCodeBench/1038,
waits out 240 s otherwise.)

Each rule errs towards "not deadlocked": anything unreadable, any thread running or in
uninterruptible sleep, a timed wait, a poll, a caught timer signal or a POSIX timer (which could
wake a thread), a pipe the job shares with the zygote or its client (its output, its record
pipe), or a read on any other kind of descriptor leaves the job to its deadline. The zygote
calls ``snapshot`` twice, apart, and stops the job only when both agree and no thread ran in
between (``zygote.py``); it checks only when the job runs alone in its network namespace, where
no other job could connect to its sockets.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable

# Each thread's id, system call line and schedstat line (CPU time and how often it ran: moved or not).
Snapshot = tuple[tuple[int, str, str], ...]

# Signals a timer could deliver, as bits of /proc/<pid>/status's SigCgt: SIGALRM, SIGVTALRM, SIGPROF.
TIMER_SIGNALS = (1 << (14 - 1)) | (1 << (26 - 1)) | (1 << (27 - 1))
FUTEX_WAITS = {0, 6, 9, 11, 13}  # WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2
FUTEX_CMD = 0x7F  # the op without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME
TIME_OUT_ARG = {128: 2, 449: 3}  # rt_sigtimedwait, futex_waitv: which argument is the time-out


def _never_times_out(number: int, args: list[int]) -> str:
    """How the call ``number`` (x86-64) with ``args`` waits for good: "fd" (for descriptor
    args[0]), "wait" (for the job itself), or "" (not for good, or not a call judged here).
    Polls are not judged: each process holds its output pipes, which the zygote drains."""
    if number in (0, 17, 19, 43, 45, 47, 288):  # read pread64 readv accept recvfrom recvmsg accept4
        return "fd"
    if number in (34, 61, 247, 130):  # pause wait4 waitid rt_sigsuspend
        return "wait"
    if number == 202:  # futex
        return "wait" if args[1] & FUTEX_CMD in FUTEX_WAITS and args[3] == 0 else ""
    if number in TIME_OUT_ARG:
        return "wait" if args[TIME_OUT_ARG[number]] == 0 else ""
    return ""


def snapshot(pid: int, outside: Callable[[], set[str]]) -> Snapshot | None:
    """Each thread under ``pid`` (host /proc numbering) if every one waits for good, else None.
    ``outside``: descriptor targets ("pipe:[123]") that reach the zygote or its client.
    The threads come first: a job that is still working fails there, after a read or two."""
    if platform.machine() != "x86_64":  # the system call numbers above are x86-64's
        return None
    threads: list[tuple[int, str, str]] = []
    reads: list[str] = []  # /proc/<pid>/fd/<n>: what a thread waits to read from
    try:
        procs = _tree(pid)
        for proc in procs:
            for tid in sorted(int(name) for name in os.listdir(f"/proc/{proc}/task")):
                thread = _thread(proc, tid, reads)
                if thread is None:
                    return None
                threads.append(thread)
        if any(_timer_could_wake(proc) for proc in procs):
            return None
        targets = [os.readlink(path) for path in reads]
    except (OSError, StopIteration, ValueError, IndexError):  # it ended meanwhile, or we may not look
        return None
    # a pipe or socket whose other end is the job's (sockets: the zygote's network namespace)
    if any(not target.startswith(("pipe:", "socket:")) for target in targets) or outside().intersection(targets):
        return None
    return tuple(threads) or None


def _thread(proc: int, tid: int, reads: list[str]) -> tuple[int, str, str] | None:
    """The thread if it waits for good (the descriptor it reads added to ``reads``), else None."""
    stat = _read(f"/proc/{proc}/task/{tid}/stat")
    state = stat[stat.rindex(")") + 2]
    ran = _read(f"/proc/{proc}/task/{tid}/schedstat")
    if state in ("Z", "X"):
        return (tid, state, ran)
    if state != "S":
        return None
    line = _read(f"/proc/{proc}/task/{tid}/syscall").strip()
    parts = line.split()
    if len(parts) < 7 or parts[0] in ("running", "-1"):
        return None
    number, args = int(parts[0]), [int(arg, 16) for arg in parts[1:7]]
    how = _never_times_out(number, args)
    if how == "fd":
        reads.append(f"/proc/{proc}/fd/{args[0]}")
    return (tid, line, ran) if how else None


def _timer_could_wake(proc: int) -> bool:
    """A timer signal the process catches, or a POSIX timer of its own."""
    status = _read(f"/proc/{proc}/status")
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & TIMER_SIGNALS or _read(f"/proc/{proc}/timers").strip())


def _tree(pid: int) -> list[int]:
    procs, index = [pid], 0
    while index < len(procs):
        proc = procs[index]
        index += 1
        for tid in os.listdir(f"/proc/{proc}/task"):
            procs.extend(int(child) for child in _read(f"/proc/{proc}/task/{tid}/children").split())
    return procs


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()
