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
