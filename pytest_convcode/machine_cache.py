"""Where this machine keeps what is slow to make and the same for every checkout: the small
model, llama.cpp's wheel, the evaluation environments (``$CONVCODE_CACHE``, default
``~/.cache/pytest-convcode``, or under ``$XDG_CACHE_HOME``)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    if os.environ.get("CONVCODE_CACHE"):
        return Path(os.environ["CONVCODE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "pytest-convcode")


def interpreter_key(python: str) -> str:
    """An interpreter as caches of what it computed tell it: by its directory and real binary, so
    that ``python`` and ``python3`` of one virtual environment are one, two environments two."""
    return f"{os.path.dirname(os.path.abspath(python))}:{os.path.realpath(python)}"
