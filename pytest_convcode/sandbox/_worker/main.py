"""The worker's entry point: ``main(FD, [MODULE...])``, FD being the client's socket.

``process.py`` starts it as ``python -s -c BOOTSTRAP SANDBOX_DIR FD [MODULE...]`` with a clean
environment (the bootstrap puts SANDBOX_DIR on sys.path); the zygote then serves jobs on FD until
the client closes it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import signal
import socket
import tempfile
import types

from . import PRELOAD, libc
from .isolation import CONTAINER_VARIABLE, SAFE_ENV, Isolation, enter_network_namespace
from .zygote import Zygote


def main(fd: int, preload: list[str]) -> None:
    # No parent-death signal here: it fires when the *thread* that started us ends, and
    # clients start us from worker threads. EOF on the socket tells us the client is gone.
    sock = socket.socket(fileno=fd)
    libc.name_process(b"convcode-zygote")
    container = os.environ.get(CONTAINER_VARIABLE) == "1"  # the docker sandbox's relay says so
    _preload(preload)
    # What every runner starts with, set once here: the environment (whatever the preloaded
    # modules put there is gone), stdin, and oversized writes failing instead of killing.
    os.environ.clear()
    os.environ.update(SAFE_ENV)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    network = enter_network_namespace()
    pid_namespace = _enter_pid_namespace(sock)
    base = tempfile.mkdtemp(prefix="pytest_convcode_")
    os.chmod(base, 0o711)
    try:
        isolation = Isolation(network, pid_namespace, base, container)
        hello = {
            "network": network,
            "landlock": isolation.landlock.abi,
            "uid_switch": isolation.uid_switch,
            "pid": libc.host_pid(),
        }
        sock.sendall(json.dumps(hello).encode() + b"\n")
        Zygote(sock, base, isolation).serve()
    finally:
        shutil.rmtree(base, ignore_errors=True)


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
    if not libc.unshare(libc.CLONE_NEWPID):
        return False
    pid = os.fork()
    if pid == 0:
        libc.die_with_parent()  # its parent is single-threaded: safe
        return True
    sock.close()  # the client sees EOF when the init ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the init ends on the client's EOF, and so do we
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
