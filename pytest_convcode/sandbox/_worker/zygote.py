"""The zygote: forks one runner per job and supervises them all from one loop."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from . import libc
from .isolation import Isolation, cpu_budget, tests_mode, wall_budget
from .runner import run_job
from .unittests import prepare
from .wire import recv_job, write_trailer

OUTPUT_TAIL = 8192
FINAL_READS = 16  # of the output a runner left in its pipe (a pipe holds 64 KB: one or two reads)
# The kernel charges CPU limits and CPU timers by scheduler ticks, while rusage reports precise
# time; on a busy VM the ticks run 10 % and more ahead. So a SIGXCPU or SIGKILL after this share
# of the budget is the limit's (no one else can SIGKILL a runner that is PID 1 of its namespace).
CPU_LIMIT_SHARE = 0.5


class _Job:
    """A job whose runner is running: what the zygote needs to supervise it and answer."""

    def __init__(self, job: dict[str, Any], trailer: int, workdir: str, pid: int, out_r: int) -> None:
        self.job, self.trailer, self.workdir, self.pid, self.out_r = job, trailer, workdir, pid, out_r
        self.pidfd = os.pidfd_open(pid)
        self.started = time.monotonic()
        self.deadline = self.started + wall_budget(job)
        self.tail = bytearray()
        self.timed_out = False


class Zygote:
    """Forks one runner per job and supervises them all from one loop: their output tails,
    wall-clock deadlines and endings, answered with a trailer on each job's trailer pipe.

    With PID namespaces, the zygote is the init of a namespace of its own (see ``main``) and
    each runner the init of another one inside it: killing a runner ends all it started.
    Every page this process writes while a runner lives is copied, so the loop is lean:
    epoll and a handler per file descriptor.
    """

    def __init__(self, sock: socket.socket, base: str, isolation: Isolation) -> None:
        self.sock, self.base, self.isolation = sock, base, isolation
        # our PID namespace, to return to after each runner's fork (None: no namespaces here)
        self.home_ns = os.open("/proc/self/ns/pid", os.O_RDONLY) if isolation.pid_namespace else None
        self.jobs: dict[int, _Job] = {}  # by pidfd
        self.count = 0
        self.poll = select.epoll()
        self.handlers: dict[int, Callable[[], object]] = {}

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

    def _watch(self, fd: int, handler: Callable[[], object]) -> None:
        self.poll.register(fd, select.EPOLLIN)
        self.handlers[fd] = handler

    def _unwatch(self, fd: int) -> None:
        self.poll.unregister(fd)
        del self.handlers[fd]

    def _until_next_deadline(self) -> float:
        deadlines = [job.deadline for job in self.jobs.values() if not job.timed_out]
        return max(min(deadlines) - time.monotonic(), 0.0) if deadlines else -1

    def _receive(self) -> None:
        job, records, trailer, key = recv_job(self.sock)
        self.count += 1
        # no "-" in the job's path: some tests split paths on it (BigCodeBench/1127)
        workdir = os.path.join(self.base, f"job_{self.count}")
        try:
            os.mkdir(workdir, 0o700)
            out_r, out_w = os.pipe()
        except OSError:
            write_trailer(trailer, {"ended": "supervisor_error", "error": traceback.format_exc()})
            os.close(records)
            os.close(trailer)
            return
        if tests_mode(job):
            prepare()
        pid = self._fork()  # a failure here ends the zygote: the client reports it lost
        if pid == 0:
            try:
                libc.die_with_parent()  # a killed run leaves no jobs
                os.close(out_r)
                os.dup2(out_w, 1)
                os.dup2(out_w, 2)
                if self.home_ns is None:
                    os.setsid()
                run_job(job, records, key, workdir, self.isolation)  # closes the trailer's pipe first
            finally:
                os._exit(70)
        os.close(out_w)
        os.close(records)  # the runner's alone now: its end is the end of the runner's processes
        os.set_blocking(out_r, False)
        running = _Job(job, trailer, workdir, pid, out_r)
        self.jobs[running.pidfd] = running
        self._watch(out_r, lambda: self._read_output(running))
        self._watch(running.pidfd, lambda: self._finish(running))

    def _fork(self) -> int:
        """fork(); with namespaces, the child starts a PID namespace of its own, as its init."""
        if self.home_ns is None:
            return os.fork()
        if not libc.unshare(libc.CLONE_NEWPID):
            raise libc.error("unshare(CLONE_NEWPID)")
        pid = os.fork()
        if pid:  # the zygote's next children go into its own namespace again
            libc.setns(self.home_ns, libc.CLONE_NEWPID)
        return pid

    def _read_output(self, job: _Job) -> bool:
        """Keep the tail of the runner's stdout and stderr; False when there is nothing to read now."""
        try:
            chunk = os.read(job.out_r, 1 << 16)
        except BlockingIOError:
            return False
        if not chunk:
            self._unwatch(job.out_r)
            os.close(job.out_r)
            job.out_r = -1
            return False
        job.tail = (job.tail + chunk)[-OUTPUT_TAIL:]
        return True

    def _finish(self, job: _Job) -> None:
        """The runner has exited, and (as the init of its namespace) everything it started with it.
        Without namespaces a process it started may hold its output open: read what is there, no more."""
        for _ in range(FINAL_READS):
            if job.out_r < 0 or not self._read_output(job):
                break
        if job.out_r >= 0:
            self._unwatch(job.out_r)
            os.close(job.out_r)
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
        write_trailer(
            job.trailer,
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
        os.close(job.trailer)  # the client has its answer: clean up after it, not before
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
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) in limit_signals and cpu >= CPU_LIMIT_SHARE * cpu_budget(job)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
