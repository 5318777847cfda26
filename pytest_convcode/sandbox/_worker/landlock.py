"""Landlock (Linux >= 5.13): what a runner may read and write.

The package this worker belongs to stays unreadable, whatever the interpreter's paths
say: its bundled data holds the reference solutions.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from collections.abc import Iterable

from . import libc

# pytest_convcode/, which holds this file (sandbox/_worker/landlock.py)
PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSTEM_READABLE = ["/usr", "/lib", "/lib64", "/bin", "/dev/urandom"]


class Landlock:
    """The runner reads the interpreter, writes job dirs only.

    The ruleset is built once in the zygote; each runner only applies it. Jobs are
    kept out of each other's directories by their own uid and 0700 directories.
    """

    CREATE, ADD_RULE, RESTRICT = 444, 445, 446
    READ = 1 | 4 | 8  # execute, read file, read dir
    FILE_RIGHTS = 1 | 2 | 4 | (1 << 14) | (1 << 15)  # execute, write, read, truncate, ioctl

    def __init__(self, readable: list[str], writable: list[str]) -> None:
        abi = libc.syscall(self.CREATE, None, 0, 1)
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
        fd = libc.syscall(self.CREATE, ctypes.c_char_p(attr), size, 0)
        if fd < 0:
            raise libc.error("landlock_create_ruleset")
        for path, access in [(p, self.READ) for p in readable] + [(p, all_fs) for p in writable]:
            self._allow(fd, path, access)
        return fd

    def restrict(self) -> None:
        if libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1) != 0:
            raise libc.error("prctl(NO_NEW_PRIVS)")
        if libc.syscall(self.RESTRICT, self.ruleset, 0) != 0:
            raise libc.error("landlock_restrict_self")
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
            if libc.syscall(self.ADD_RULE, ruleset, 1, ctypes.c_char_p(rule), 0) != 0:
                raise libc.error(f"landlock_add_rule {path}")
        finally:
            os.close(pfd)


def readable_roots() -> list[str]:
    """What the candidate may read: the interpreter, its packages and the system libraries,
    but nothing inside ``PACKAGE`` (``sys.path`` holds this worker's own directory there)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *SYSTEM_READABLE}
    roots.update(p for p in sys.path if p and os.path.isdir(p))
    return outside_package(roots)


def outside_package(paths: Iterable[str]) -> list[str]:
    """Paths that together cover ``paths`` (their real paths) but nothing inside ``PACKAGE``."""
    excluded = os.path.realpath(PACKAGE)
    return sorted({kept for path in paths for kept in without(os.path.realpath(path), excluded)})


def without(root: str, excluded: str) -> list[str]:
    """Paths that together cover ``root`` except the ``excluded`` subtree: none where
    ``root`` lies inside it."""
    if _inside(root, excluded):
        return []
    if not _inside(excluded, root):
        return [root]
    step = os.path.join(root, os.path.relpath(excluded, root).split(os.sep)[0])
    siblings = [os.path.join(root, name) for name in os.listdir(root) if os.path.join(root, name) != step]
    return siblings + without(step, excluded)


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")
