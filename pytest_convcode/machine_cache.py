"""Where this machine keeps what is slow to make and the same for every checkout: the small
model, llama.cpp's wheel, the evaluation environments (``$CONVCODE_CACHE``, default
``~/.cache/pytest-convcode``, or under ``$XDG_CACHE_HOME``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_home() -> Path:
    if os.environ.get("CONVCODE_CACHE"):
        return Path(os.environ["CONVCODE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "pytest-convcode")


def computed_dir(root: Path, suite: str, version: str, digest: str, python: str, *more: str) -> Path:
    """Where what an interpreter computed from one data file is kept under ``root``: named by the
    suite and version, keyed by the file's digest, the interpreter (its directory and real binary,
    so that ``python`` and ``python3`` of one virtual environment are one, two environments two)
    and anything ``more`` that changes it."""
    interpreter = f"{os.path.dirname(os.path.abspath(python))}:{os.path.realpath(python)}"
    key = hashlib.sha256(":".join([digest, interpreter, *more]).encode()).hexdigest()[:16]
    return root / f"{suite}-{version}-{key}"
