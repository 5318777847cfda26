"""ConvCodeWorld's feedback: compilation, execution and simulated-user feedback, composed per setting.

Pure functions: nothing here runs candidate code or calls a model by itself. The simulated user
gets its model call passed in (``user.simulate``'s ``ask``).
"""

from __future__ import annotations

from .compilation import NO_SYNTAX_ERRORS, compilation_feedback, compiles
from .execution import (
    ExecutionFeedback,
    Outcome,
    execution_feedback,
    public_tests,
    truncate,
)
from .settings import ALL_SETTINGS, Setting, parse_settings
from .user import UserFeedback, find_leaks, render_prompt, simulate

__all__ = [
    "ALL_SETTINGS",
    "NO_SYNTAX_ERRORS",
    "ExecutionFeedback",
    "Outcome",
    "Setting",
    "UserFeedback",
    "compilation_feedback",
    "compiles",
    "execution_feedback",
    "find_leaks",
    "parse_settings",
    "public_tests",
    "render_prompt",
    "simulate",
    "truncate",
]
