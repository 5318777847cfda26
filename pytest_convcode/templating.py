"""The jinja2 settings every prompt template shares (feedback/, reasoning/)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2


@cache
def prompt_environment(folder: Path) -> jinja2.Environment:
    """Templates of prompts in ``folder``: a missing value is an error, not a blank."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=False,  # prompts, not HTML: code must reach the model verbatim
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
