"""The Linux calls the standard library lacks (namespaces, prctl, raw syscalls), through ctypes."""

from __future__ import annotations

import ctypes
import os
import signal

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 47, 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def error(call: str) -> OSError:
    """The failure of the libc call just made, from its errno."""
    return OSError(ctypes.get_errno(), call)


def unshare(flags: int) -> bool:
    return int(_libc.unshare(flags)) == 0


def setns(fd: int, flags: int) -> None:
    if _libc.setns(fd, flags) != 0:
        raise error("setns")


def prctl(option: int, arg2: object = 0, arg3: object = 0, arg4: object = 0, arg5: object = 0) -> int:
    return int(_libc.prctl(option, arg2, arg3, arg4, arg5))


def syscall(number: int, *args: object) -> int:
    return int(_libc.syscall(number, *args))


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def c(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    if _libc.mount(c(source), c(target), c(fstype), flags, c(data)) != 0:
        raise error(f"mount {target}")


def capset(header: bytes, data: bytes) -> None:
    if _libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data)) != 0:
        raise error("capset")


def die_with_parent() -> None:
    """SIGKILL this process when its parent (thread) ends."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def name_process(name: bytes) -> None:
    """What ps, top and perf call this process (the command line stays the interpreter's)."""
    prctl(PR_SET_NAME, ctypes.c_char_p(name))


def host_pid() -> int:
    """Our pid as the host sees it (``/proc`` is the host's; in a namespace, getpid() says 1)."""
    return int(os.readlink("/proc/self"))
