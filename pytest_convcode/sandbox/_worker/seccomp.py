"""A seccomp filter: socket(AF_UNIX, ...) fails with EACCES (Landlock does not cover
connecting to a path-named socket), and so does any syscall of a foreign ABI."""

from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING

from . import libc

if TYPE_CHECKING:
    from ctypes import _Pointer

_AUDIT_ARCH = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}  # arch, __NR_socket
_SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
SECCOMP_MODE_FILTER = 2


class _SockFilter(ctypes.Structure):
    """One BPF instruction (``struct sock_filter``)."""

    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
    code: int
    jt: int
    jf: int
    k: int


class _SockFprog(ctypes.Structure):
    """A BPF program (``struct sock_fprog``)."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]
    len: int
    filter: _Pointer[_SockFilter]


class UnixSocketFilter:
    """The seccomp filter, built once in the zygote; each runner only installs it."""

    def __init__(self) -> None:
        arch = _AUDIT_ARCH.get(os.uname().machine)
        self.program = None if arch is None else _filter_program(*arch)

    def install(self) -> bool:
        if self.program is None:
            return False
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
        return libc.prctl(libc.PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.program)) == 0


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
