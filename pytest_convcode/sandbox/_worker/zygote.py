"""The zygote: forks one runner per job and supervises them all from one loop."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import select
import shutil
import signal
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from . import deadlock, libc
from .commands import tree_cpu
from .isolation import Isolation, command_mode, cpu_budget, how_it_ended, tests_mode, wall_budget
from .runner import UID_BASE, run_job
from .unittests import prepare
from .wire import recv_job, write_trailer

OUTPUT_TAIL = 8192  # a call or test job's stdout and stderr, together
FINAL_READS = 16  # of the output a runner left in its pipe (a pipe holds 64 KB: one or two reads)
# A command job's process tree is checked against its CPU budget when it could have used it up,
# were it busy on every CPU, and then again, until it ends; checks are at least this far apart.
CPU_CHECK_SECONDS = 0.05
CPUS = len(os.sched_getaffinity(0))
# A test job that runs alone is looked at for a deadlock (``deadlock.py``) this long after it
# starts, and again as often: two alike looks in a row stop it.
DEADLOCK_CHECK_SECONDS = 0.5


class _Output:
    """One of a runner's output pipes, and the tail kept of it: its last ``cap`` bytes."""

    def __init__(self, fd: int, cap: int) -> None:
        self.fd, self.cap = fd, cap
        self.tail = bytearray()
        self.dropped = 0  # bytes cut from the front of ``tail``

    def add(self, chunk: bytes) -> None:
        self.tail += chunk
        if len(self.tail) > 2 * self.cap:  # cut now and then, not at every read
            self.trim()

    def trim(self) -> None:
        cut = max(len(self.tail) - self.cap, 0)
        del self.tail[:cut]
        self.dropped += cut


class _Job:
    """A job whose runner is running: what the zygote needs to supervise it and answer."""

    def __init__(self, job: dict[str, Any], trailer: int, workdir: str, pid: int, outputs: list[_Output]) -> None:
        self.job, self.trailer, self.workdir, self.pid, self.outputs = job, trailer, workdir, pid, outputs
        self.pidfd = os.pidfd_open(pid)
        self.started = time.monotonic()
        self.deadline = self.started + wall_budget(job)
        self.stopped = ""  # "wall_timeout", "cpu_limit" or "deadlock": the zygote killed it
        self.deadlock_check = math.inf
        self.records = ""  # what its record pipe is, as /proc names it: a way out of the job
        self.last_look: deadlock.Snapshot | None = None
        self.uid = -1  # a command job's uid, where it has one of its own: its processes' CPU is summed
        self.cpu_check = math.inf
        self.tree_cpu = 0.0  # its tree's CPU time when last summed

    def watch_cpu(self) -> None:
        """Sum its process tree's CPU time once it could have used up its budget."""
        self.uid = UID_BASE + libc.host_pid_of(self.pidfd)
        self.cpu_check = self.started + float(self.job["cpu_budget"]) / CPUS

    def check_cpu(self, now: float) -> bool:
        """False when the tree has used up its CPU budget; else the next check is set."""
        self.tree_cpu = tree_cpu(self.uid)
        left = float(self.job["cpu_budget"]) - self.tree_cpu
        self.cpu_check = now + max(left / CPUS, CPU_CHECK_SECONDS)
        return left > 0

    def stop(self, why: str) -> None:
        """Kill the runner (and so its namespace). A command job's tree is summed first: what the
        kernel kills as the namespace ends is not counted in the runner's rusage."""
        if self.uid >= 0 and why != "cpu_limit":
            self.tree_cpu = tree_cpu(self.uid)
        os.kill(self.pid, signal.SIGKILL)
        self.stopped = why

    def watch_deadlock(self, records: int) -> None:
        self.records = os.readlink(f"/proc/self/fd/{records}")
        self.deadlock_check = self.started + DEADLOCK_CHECK_SECONDS

    def deadlocked(self, now: float, alone: bool) -> bool:
        """True when this look and the last both found every thread waiting for good, unmoved.
        Only a job alone in the zygote's network namespace: another job could connect to it."""
        self.deadlock_check = now + DEADLOCK_CHECK_SECONDS
        look = deadlock.snapshot(libc.host_pid_of(self.pidfd), self._outside) if alone else None
        stuck = look is not None and look == self.last_look
        self.last_look = look
        return stuck

    def _outside(self) -> set[str]:
        """Its record pipe and the zygote's own descriptors (its output pipes among them), as /proc names them."""
        outside = {self.records}
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # the listing's own descriptor, gone by now
                outside.add(os.readlink(f"/proc/self/fd/{fd}"))
        return outside


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
                    if job.stopped:
                        continue
                    if job.deadline <= now:
                        job.stop("wall_timeout")
                    elif job.cpu_check <= now and not job.check_cpu(now):
                        job.stop("cpu_limit")
                    elif job.deadlock_check <= now and job.deadlocked(now, len(self._running()) == 1):
                        job.stop("deadlock")
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
        deadlines = [min(job.deadline, job.cpu_check, job.deadlock_check) for job in self._running()]
        return max(min(deadlines) - time.monotonic(), 0.0) if deadlines else -1

    def _running(self) -> list[_Job]:
        return [job for job in self.jobs.values() if not job.stopped]

    def _receive(self) -> None:
        job, records, trailer, key = recv_job(self.sock)
        self.count += 1
        # no "-" in the job's path: some tests split paths on it (BigCodeBench/1127)
        workdir = os.path.join(self.base, f"job_{self.count}")
        # a command job's stdout and stderr apart, each its own tail; else one pipe for both
        streams = 2 if command_mode(job) else 1
        try:
            os.mkdir(workdir, 0o700)
            pipes = [os.pipe() for _ in range(streams)]
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
                os.dup2(pipes[0][1], 1)
                os.dup2(pipes[-1][1], 2)
                if self.home_ns is None:
                    os.setsid()
                run_job(job, records, key, workdir, self.isolation)  # closes every other descriptor first
            finally:
                os._exit(70)
        cap = job["output_bytes"] if command_mode(job) else OUTPUT_TAIL
        running = _Job(job, trailer, workdir, pid, [_Output(read_end, cap) for read_end, _ in pipes])
        if command_mode(job) and self.isolation.uid_switch:
            running.watch_cpu()
        if tests_mode(job) and self.home_ns is not None:  # without a PID namespace, orphans escape the tree
            running.watch_deadlock(records)
        os.close(records)  # the runner's alone now: its end is the end of the runner's processes
        for _, write_end in pipes:
            os.close(write_end)
        self.jobs[running.pidfd] = running
        for output in running.outputs:
            os.set_blocking(output.fd, False)
            self._watch(output.fd, functools.partial(self._read_output, output))
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

    def _read_output(self, output: _Output) -> bool:
        """Add to the tail of a runner's output; False when there is nothing to read now."""
        try:
            chunk = os.read(output.fd, 1 << 16)
        except BlockingIOError:
            return False
        if not chunk:
            self._unwatch(output.fd)
            os.close(output.fd)
            output.fd = -1
            return False
        output.add(chunk)
        return True

    def _finish(self, job: _Job) -> None:
        """The runner has exited, and (as the init of its namespace) everything it started with it.
        Without namespaces a process it started may hold its output open: read what is there, no more."""
        for output in job.outputs:
            for _ in range(FINAL_READS):
                if output.fd < 0 or not self._read_output(output):
                    break
            if output.fd >= 0:
                self._unwatch(output.fd)
                os.close(output.fd)
            output.trim()
        self._unwatch(job.pidfd)
        del self.jobs[job.pidfd]
        os.close(job.pidfd)
        if self.home_ns is None:
            _kill_group(job.pid)
        leftovers = _remove_if_empty(job.workdir)
        _, status, usage = os.wait4(job.pid, 0)  # only now may its pid, and so its uid, be reused
        cpu = max(usage.ru_utime + usage.ru_stime, job.tree_cpu)
        fields = {
            **how_it_ended(status, job.stopped, cpu, cpu_budget(job.job)),
            "wall": round(time.monotonic() - job.started, 4),
            "cpu": round(cpu, 4),
            "max_rss_kb": usage.ru_maxrss,
            "output": job.outputs[-1].tail[-OUTPUT_TAIL:].decode("utf-8", "replace"),  # stderr's, a command's
        }
        if command_mode(job.job):
            stdout, stderr = job.outputs
            fields.update(stdout_bytes=len(stdout.tail), stderr_bytes=len(stderr.tail))
            fields["dropped"] = stdout.dropped + stderr.dropped
            write_trailer(job.trailer, fields, bytes(stdout.tail + stderr.tail))
        else:
            write_trailer(job.trailer, fields)
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


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
