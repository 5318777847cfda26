"""The code in a completion model's continuation of the prompt: an echo of the prompt removed,
cut at the first stop sequence; a continuation that writes the whole function again is a
solution, sanitized as chat code is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .sanitize import (
    IMPORTS,
    Extraction,
    borrowed_statements,
    join,
    kept_statements,
    normalize,
    prompt_donations,
    statements,
    trim,
)


def from_completion(prompt: str, continuation: str, stop: Sequence[str] = ()) -> Extraction:
    """The code in a completion model's continuation of ``prompt``.

    An echo of the prompt at its start is removed, then it is cut at the first
    stop sequence (which the server should have done). A continuation whose
    first line of code is at column 0 and that defines the prompt's function
    again (``def`` at column 0) ignored the prompt: it is a "solution",
    sanitized as chat code is, after the prompt's imports and whatever of the
    prompt's other definitions it reads.
    """
    if not continuation.strip():
        return Extraction("", "completion", "the model's continuation is empty")
    text = _strip_echo(prompt, continuation)
    if not text.strip():
        return Extraction("", "completion", "the continuation only repeats the prompt")
    text, stopped_at = _cut_at_stop(text, stop)
    if not text.strip():
        return Extraction("", "completion", f"the continuation is empty once cut at the stop sequence {stopped_at!r}")
    name = _last_function(prompt)
    if name is not None and _restates(text, name):
        return Extraction(_restated(prompt, text, name), "solution")
    return Extraction(text, "completion")


def _strip_echo(prompt: str, text: str) -> str:
    """The continuation without a copy of the prompt at its start (whitespace around it aside)."""
    if not prompt.strip():
        return text
    if text.startswith(prompt):
        return text[len(prompt) :]
    head, body = prompt.strip(), text.lstrip()
    if not body.startswith(head):
        return text
    rest = body[len(head) :]
    return rest[1:] if prompt.endswith("\n") and rest.startswith("\n") else rest


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, str]:
    cut, hit = len(text), ""
    for s in stop:
        at = text.find(s) if s else -1
        if 0 <= at < cut:
            cut, hit = at, s
    return text[:cut], hit


_FUNCTION = re.compile(r"^(?:async\s+)?def\s+(\w+)\s*\(", re.M)


def _last_function(prompt: str) -> str | None:
    """The function a prompt asks for: its last top-level ``def`` (helpers come before)."""
    names = _FUNCTION.findall(prompt)
    return names[-1] if names else None


def _restates(text: str, name: str) -> bool:
    lines = (line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#"))
    first = next(lines, "")
    redefines = re.search(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", text, re.M)
    return not first[:1].isspace() and redefines is not None


def _restated(prompt: str, text: str, name: str) -> str:
    """A whole program written instead of a continuation, with what it takes from the prompt."""
    code = trim(normalize(text))
    donors = prompt_donations(prompt)
    imports = [s for s in donors if isinstance(s.node, IMPORTS)]
    parsed = statements(code)
    if parsed is None:
        return "\n".join([*(s.text for s in imports), "", code] if imports else [code]) + "\n"
    lines, stmts = parsed
    kept = kept_statements(stmts, name)
    return join(lines, stmts, kept, borrowed_statements(kept, donors, imports))
