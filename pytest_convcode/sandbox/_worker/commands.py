"""A command job ("command" mode): a program run as it is (a compiler, a test runner), not Python
code loaded into the runner.

The runner gives the job a machine of its own (``command_view``): a tmpfs as /tmp, the job's
directory /tmp/work in it (a tree's copy-on-write view, ``trees.py``), its own /proc, /dev/shm and
loopback network. It confines itself, writes the job's files, then stays behind as the init of
the job's PID namespace while the command runs as its child (``run``): it reaps whatever the
command leaves, and reports the command's wait status, which the command cannot reach (the runner
is not dumpable, and no signal from inside the namespace reaches its init). When the command ends
the runner does, and the kernel kills whatever is left.

What holds for the job's processes together, with a uid of its own (root):
- CPU: the zygote sums their CPU time (``tree_cpu``) once they could have used the budget, busy
  on every CPU, then again when they next could, at least 50 ms apart, and kills the job at the
  budget: it ends within the budget plus what it used since the last check (at most 50 ms a
  CPU). Each process also has the budget as its CPU-time rlimit;
- processes: ``RLIMIT_NPROC`` on its uid counts every process and thread of the job;
- memory: ``RLIMIT_AS`` is per process (so up to ``max_processes`` times it), and what it writes
  in its /tmp, a tmpfs of ``disk_bytes``; ``RLIMIT_FSIZE`` per file;
- time: the zygote's wall-clock deadline kills the runner, and the namespace with it.
Without a uid of its own (no root) only the rlimits per process and the deadline hold.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
from typing import Any, NamedTuple, NoReturn

from . import libc, trees
from .isolation import TEST_READABLE, Isolation, container_view, machine_of_its_own
from .landlock import outside_package
from .wire import codec, record, write_all

JOB_TMP, JOB_CWD = "/tmp", "/tmp/work"  # in the job's own mount namespace
# Devices, and what toolchains read in /etc: the dynamic linker's cache (without it, it misses libraries),
# OpenSSL's configuration (node will not start without it), the JDK's (its conf/ links there).
# Not all of /etc, which holds secrets: only Landlock keeps the job from reading them (its uid
# keeps CAP_DAC_READ_SEARCH, see isolation._become).
COMMAND_READABLE = [
    *TEST_READABLE,
    *("/dev/zero", "/dev/random", "/dev/full"),
    *("/etc/ld.so.cache", "/etc/ssl/openssl.cnf", *sorted(glob.glob("/etc/java-*"))),
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_DUMPABLE = 4


def command_view(job: dict[str, Any], workdir: str, uid: int | None, isolation: Isolation) -> tuple[str, str]:
    """The job's machine; returns (its directory, its /tmp) as the job sees them. Where namespaces
    are not allowed, the job's directory is ``workdir`` on the host, holding a copy of the tree."""
    tree = job["tree"]
    if tree is not None and outside_package([tree]) != [os.path.realpath(tree)]:
        raise ValueError(f"the tree {tree} holds pytest_convcode's package (its data holds the reference solutions)")
    if not libc.unshare(libc.CLONE_NEWNS | libc.CLONE_NEWNET):
        if tree is not None:
            shutil.copytree(tree, workdir, symlinks=True, dirs_exist_ok=True)
        container_view(COMMAND_READABLE + outside_package(job["readable"]), isolation)
        return workdir, workdir
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)  # nothing mounted here reaches the host
    lower = None
    if tree is not None:  # before the job's /tmp hides the host's, where the tree may lie
        lower = trees.lower_layer(tree, uid), os.stat(tree).st_mode & 0o7777
    owner = "" if uid is None else f",uid={uid},gid={uid}"
    size = f"size={job['disk_bytes']},mode=0700{owner}"
    libc.mount("tmpfs", JOB_TMP, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, size)
    if lower is None:
        os.mkdir(JOB_CWD, 0o700)
        if uid is not None:
            os.chown(JOB_CWD, uid, uid)
    else:
        trees.mount_view(*lower, JOB_CWD, uid)
    machine_of_its_own(COMMAND_READABLE + outside_package(job["readable"]), [JOB_TMP], isolation)
    return JOB_CWD, JOB_TMP


class Command(NamedTuple):
    """A command ready to run: the runner has confined itself and written the job's files."""

    argv: list[str]
    env: dict[str, str]
    stdin: int  # a memfd holding the job's stdin, or -1 (stdin stays /dev/null)


def prepare(job: dict[str, Any], directory: str) -> Command:
    """Write the job's files (confined already: as the job's uid, under Landlock), and enter its cwd."""
    for name, text in job["files"].items():
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    os.chdir(os.path.join(directory, job["cwd"]))
    stdin = -1
    if job["stdin"]:
        stdin = os.memfd_create("stdin", os.MFD_CLOEXEC)
        write_all(stdin, job["stdin"].encode())
        os.lseek(stdin, 0, os.SEEK_SET)
    return Command(list(job["argv"]), {**os.environ, **job["env"]}, stdin)


def run(command: Command, results: int) -> NoReturn:
    """Start the command as our child, reap every process handed to us (as the namespace's init)
    until it ends, then report its wait status and end, and with us the namespace."""
    for signum in (signal.SIGPROF, signal.SIGALRM):  # the call jobs' timers: not here
        signal.signal(signum, signal.SIG_IGN)
    libc.prctl(PR_SET_DUMPABLE, 0)  # no ptrace, no /proc/1/fd or /proc/1/mem for the command
    record(results, codec.READY)  # from here on, whatever happens is the command's doing
    pid = os.fork()
    if pid == 0:
        _exec(command, results)
    while True:
        reaped, status = os.waitpid(-1, 0)
        if reaped == pid:
            break
    record(results, codec.EXITED, status)
    if os.getpid() == 1:  # what it left: the kernel would kill it as we end, but not count its CPU time
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)  # as the init: every other process of the namespace
        with contextlib.suppress(ChildProcessError):
            while True:
                os.waitpid(-1, 0)
    os._exit(0)


def _exec(command: Command, results: int) -> NoReturn:
    """Become the command; one that cannot start ends as a shell's would: 127 when not found, else 126."""
    name = command.argv[0]
    code, why = 126, "cannot run"
    try:
        os.close(results)
        if command.stdin >= 0:
            os.dup2(command.stdin, 0)
        for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGPROF, signal.SIGALRM):
            signal.signal(signum, signal.SIG_DFL)  # an ignored signal stays ignored across execve
        os.execvpe(name, command.argv, command.env)
    except FileNotFoundError:
        code, why = 127, "not found"
    except OSError as exc:
        why = exc.strerror or str(exc)
    finally:
        with contextlib.suppress(OSError):
            os.write(2, f"{name}: {why}\n".encode("utf-8", "replace"))
        os._exit(code)


def tree_cpu(uid: int) -> float:
    """The CPU seconds of a job's processes (those of its ``uid``): of each process alive, and of
    the children each has reaped (ended processes' time goes to whoever reaps them; the job's
    init reaps all orphans). A process that ends and is reaped between two reads is missed by
    this sum, not the next. Zombies are alive here. Run in the zygote, which sees the host's /proc."""
    ticks = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                status = f.read()
            start = status.index(b"\nUid:") + 5
            if int(status[start:].split(None, 1)[0]) != uid:  # the real uid
                continue
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except (OSError, ValueError):  # it ended meanwhile
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()  # from field 3 (state) on
        ticks += sum(map(int, fields[11:15]))  # utime, stime, cutime, cstime: fields 14 to 17
    return ticks / CLOCK_TICKS
