"""The runner: a fork of the zygote that confines itself, then becomes the candidate (or, for a
command job, the init that runs it)."""

from __future__ import annotations

import os
import signal
import traceback
from typing import Any, NoReturn

from . import commands, libc
from .calls import on_timer, run_calls
from .isolation import Isolation, command_mode, confine, private_view, tests_mode
from .phases import run_phases
from .unittests import run_tests
from .wire import codec, record

UID_BASE = 200_000  # runner uid = UID_BASE + its pid on the host: unique among live jobs


def run_job(job: dict[str, Any], results: int, key: bytes, workdir: str, isolation: Isolation) -> NoReturn:
    """Confine this process, then run the job's calls, tests or command in it. Every descriptor but
    ``results`` is closed first: the job's trailer pipe, and any other job's pipes."""
    libc.name_process(b"convcode-runner")
    os.chdir(workdir)
    keep = sorted({results, isolation.landlock.ruleset} - {-1})
    for low, high in zip([3, *(k + 1 for k in keep)], [*keep, 1 << 16], strict=False):
        os.closerange(low, high)
    signal.signal(signal.SIGPROF, on_timer)
    signal.signal(signal.SIGALRM, on_timer)
    try:
        uid = UID_BASE + libc.host_pid() if isolation.uid_switch else None
        if uid is not None:
            os.chown(workdir, uid, uid)
        home = tmpdir = directory = workdir
        if tests_mode(job):
            home, tmpdir = private_view(workdir, uid, isolation)
        elif command_mode(job):  # its home is its /tmp: not the directory, which may be a repository
            directory, home = commands.command_view(job, workdir, uid, isolation)
            tmpdir = home
        confine(job, home, tmpdir, uid, isolation)
        command = commands.prepare(job, directory) if command_mode(job) else None
    except BaseException:
        traceback.print_exc()  # stderr reaches the client in the trailer's output tail
        os._exit(71)
    if command is not None:
        commands.run(command, results)  # writes READY itself, then runs the command as its child
    if tests_mode(job):
        run_tests(job, results, key)  # writes READY itself, signed, before the candidate runs
    record(results, codec.READY)  # from here on, whatever happens is the candidate's doing
    if job.get("phases"):
        run_phases(job, results)
    run_calls(job, results)
