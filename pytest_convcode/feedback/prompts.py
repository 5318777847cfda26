"""The jinja2 templates in ``templates/``: the simulated users' prompts and the feedback turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..templating import prompt_environment

TEMPLATES = Path(__file__).with_name("templates")


def render(name: str, **values: Any) -> str:
    """Template ``name`` (without ``.j2``) filled in; a missing value is an error, not a blank."""
    return prompt_environment(TEMPLATES).get_template(f"{name}.j2").render(**values)
