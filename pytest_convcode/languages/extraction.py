"""The code a model's answer gives, in any of MultiPL-E's languages: a completion model's
continuation cut at the task's stop tokens, or the prompt's function out of a chat model's reply,
put in place of the prompt's own declaration so that the tests follow it as they follow a
completion."""

from __future__ import annotations

import re

from .catalog import Language

_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
_CLOSERS = ("}", "};", "end", "end;", "end function")  # a line that ends a function at its indentation


def continuation(prompt: str, text: str, stops: tuple[str, ...]) -> str:
    """A completion model's continuation, without an echo of the prompt, cut at the first stop token."""
    if text.startswith(prompt):
        text = text[len(prompt) :]
    cut = min((at for at in (text.find(stop) for stop in stops if stop) if at >= 0), default=len(text))
    return text[:cut]


def from_chat(language: Language, prompt: str, entry_point: str, reply: str) -> tuple[str, str]:
    """(the code before the tests, "") or ("", why the reply gives none)."""
    blocks = _FENCE.findall(reply)
    if not blocks:
        return "", "the reply holds no fenced code block"
    declares = re.compile(rf"(?<![\w$]){re.escape(entry_point)}(?!\w)")
    block = next((b for b in blocks if declares.search(b)), None)
    if block is None:
        return "", f"no code block of the reply names the function {entry_point}"
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if declares.search(line))
    head = prompt.splitlines(keepends=True)
    own = max((i for i, line in enumerate(head) if declares.search(line)), default=len(head))
    body = lines[start : _end(lines, start, language.closed_by_tests)]
    return "".join(head[:own]) + "\n".join(body) + "\n", ""


def _end(lines: list[str], start: int, closed_by_tests: bool) -> int:
    """Where the function declared at ``start`` ends: after its closing line (before it, where the
    tests close the function), or before the next line as little indented (Python, Racket)."""
    indent = _indent(lines[start])
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.strip() or _indent(line) > indent:
            continue
        if line.strip() in _CLOSERS:
            return i if closed_by_tests else i + 1
        return i
    return len(lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())
