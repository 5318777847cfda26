"""The jinja2 templates in ``templates/``: the simulated users' prompts and the feedback turn."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).with_name("templates")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # prompts, not HTML: code must reach the model verbatim
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(name: str, **values: Any) -> str:
    """Template ``name`` (without ``.j2``) filled in; a missing value is an error, not a blank."""
    return _environment().get_template(f"{name}.j2").render(**values)
