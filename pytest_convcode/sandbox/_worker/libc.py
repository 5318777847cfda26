"""The Linux calls the standard library lacks (namespaces, prctl, raw syscalls), through ctypes."""

from __future__ import annotations

import ctypes
import os
import signal
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
MNT_DETACH = 2
# the mount API (Linux >= 5.12); these syscall numbers are the same on every architecture
OPEN_TREE, MOVE_MOUNT, MOUNT_SETATTR = 428, 429, 442
OPEN_TREE_CLONE, AT_EMPTY_PATH, AT_FDCWD = 1, 0x1000, -100
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_IDMAP = 1, 2, 4, 0x100000
MOVE_MOUNT_F_EMPTY_PATH = 4
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


def umount(target: str) -> None:
    """Detach ``target``: gone from this namespace now, freed once nothing uses it."""
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        raise error(f"umount {target}")


def clone_tree(path: str, attributes: int, userns: int = -1) -> int:
    """A detached copy of the mount at ``path`` (its submounts left out), with ``attributes``
    (``MOUNT_ATTR_*``; with ``MOUNT_ATTR_IDMAP``, its ids mapped through the user namespace
    ``userns``): returns the new mount's descriptor, for ``attach``."""
    fd = syscall(OPEN_TREE, AT_FDCWD, path.encode(), OPEN_TREE_CLONE | os.O_CLOEXEC)
    if fd < 0:
        raise error(f"open_tree {path}")
    attr = struct.pack("QQQQ", attributes, 0, 0, max(userns, 0))  # struct mount_attr
    if syscall(MOUNT_SETATTR, fd, b"", AT_EMPTY_PATH, ctypes.c_char_p(attr), len(attr)) != 0:
        failure = error(f"mount_setattr {path}")
        os.close(fd)
        raise failure
    return fd


def attach(fd: int, target: str) -> None:
    """Mount the detached mount ``fd`` (``clone_tree``'s) at ``target``."""
    if syscall(MOVE_MOUNT, fd, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH) != 0:
        raise error(f"move_mount {target}")


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


def host_pid_of(pidfd: int) -> int:
    """The pid, as the host's ``/proc`` numbers it, of the process ``pidfd`` refers to (``fork``
    gives its pid in our namespace, which is not the one ``/proc`` shows)."""
    with open(f"/proc/self/fdinfo/{pidfd}", "rb") as f:
        for line in f:
            if line.startswith(b"Pid:"):
                return int(line.split()[1])
    raise OSError(f"no pid in /proc/self/fdinfo/{pidfd}")
