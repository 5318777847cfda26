"""Simulated users: a novice who relays what the errors say, an expert who reviews against the
ground truth without handing it over.

The model call is passed in (``ask``), so this module stays pure and its callers choose the model,
the cache and the cost limits. Prompts are the jinja2 templates in ``templates/``.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import tokenize
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from ..models import Message
from .compilation import compilation_feedback, compiles
from .execution import ExecutionFeedback
from .prompts import render

UserKind = Literal["novice", "expert"]
Ask = Callable[[list[Message]], Awaitable[str]]

FENCE = "```"
LEAK_N = 8  # shared runs of this many code tokens count as a leak
# What the novice says, without a model call, when nothing it can see went wrong.
SILENT_NOVICE = "I tried the code and saw no errors, so I have nothing to add."

_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class UserFeedback:
    """A simulated user's turn: ``text`` is what the coding model gets, ``raw`` the simulator's
    whole reply (kept to audit the cut and the leak check)."""

    text: str
    raw: str
    leaked: bool = False
    leak_ngrams: tuple[str, ...] = ()  # the shared token runs, tokens joined by spaces
    asked: bool = True  # False: the novice stayed silent, no model call was made


def render_prompt(
    kind: UserKind,
    *,
    problem: str,
    code: str,
    ground_truth: str | None = None,
    compilation: str | None = None,
    execution: ExecutionFeedback | None = None,
) -> str:
    """The simulator's prompt. The novice never sees the ground truth; the expert sees it but not
    the compilation feedback (it reads the code itself). Compilation feedback is computed from the
    code when not given."""
    execution_text = execution.text if execution is not None else ""
    if kind == "novice":
        values = {
            "problem": problem,
            "code": code,
            "compilation": compilation if compilation is not None else compilation_feedback(code),
            "execution": execution_text,
        }
    elif kind == "expert":
        if not ground_truth:
            raise ValueError("the expert user needs the ground-truth solution")
        values = {"problem": problem, "code": code, "ground_truth": ground_truth, "execution": execution_text}
    else:
        raise ValueError(f"unknown simulated user {kind!r}; use 'novice' or 'expert'")
    return render(kind, **values)


def cut_at_fence(text: str) -> str:
    """Text before the first code fence: whatever code the simulator wrote does not reach the model."""
    return text.split(FENCE, 1)[0].strip()


def code_tokens(text: str) -> list[str]:
    """Tokens for leak matching: runs of word characters (names, numbers, keywords) and single
    punctuation characters; whitespace separates and is dropped, so layout cannot hide a copy."""
    return _TOKEN.findall(text)


def _code_only(source: str) -> str:
    """Source without its comments and docstrings: that prose is the task's own wording (a
    BigCodeBench reference repeats its prompt's docstring), which an expert may well paraphrase."""
    lines = source.splitlines(keepends=True)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return source
    spans = [(t.start, t.end) for t in tokens if t.type == tokenize.COMMENT]
    with contextlib.suppress(SyntaxError, ValueError):  # a body without its def: its comments only
        spans += [_span(node, lines) for node in _docstrings(ast.parse(source))]
    for (row, column), (end_row, end_column) in sorted(spans, reverse=True):
        lines[row - 1 : end_row] = [lines[row - 1][:column] + lines[end_row - 1][end_column:]]
    return "".join(lines)


def _docstrings(module: ast.Module) -> list[ast.stmt]:
    """The docstring of the module and of each class and function in it."""
    documented = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    return [
        node.body[0]
        for node in ast.walk(module)
        if isinstance(node, documented) and ast.get_docstring(node, clean=False) is not None
    ]


def _span(node: ast.stmt, lines: list[str]) -> tuple[tuple[int, int], tuple[int, int]]:
    """A node's (row, column) start and end, columns in characters (ast counts UTF-8 bytes)."""
    end_row = node.end_lineno or node.lineno
    column = len(lines[node.lineno - 1].encode()[: node.col_offset].decode(errors="ignore"))
    end_column = len(lines[end_row - 1].encode()[: node.end_col_offset].decode(errors="ignore"))
    return (node.lineno, column), (end_row, end_column)


def find_leaks(feedback: str, ground_truth: str, statement: str = "", n: int = LEAK_N) -> tuple[str, ...]:
    """The runs of ``n`` or more consecutive code tokens that the feedback shares with the ground
    truth's code (comments and docstrings excluded) and that the task ``statement`` given to the
    coder does not have too; maximal and in the feedback's order; () when it shares none."""
    truth = code_tokens(_code_only(ground_truth))
    given = code_tokens(statement)
    grams = _ngrams(truth, n) - _ngrams(given, n)
    words = code_tokens(feedback)
    spans: list[list[int]] = []
    for start in range(len(words) - n + 1):
        if tuple(words[start : start + n]) in grams:
            if spans and start <= spans[-1][1]:
                spans[-1][1] = start + n
            else:
                spans.append([start, start + n])
    return tuple(" ".join(words[start:end]) for start, end in spans)


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def novice_is_silent(code: str, execution: ExecutionFeedback | None) -> bool:
    """The novice only relays errors: with code that compiles and no failing visible test (or no
    tests shown at all) it has nothing to say."""
    return compiles(code) and (execution is None or execution.passed)


async def simulate(
    kind: UserKind,
    *,
    problem: str,
    code: str,
    ground_truth: str | None = None,
    compilation: str | None = None,
    execution: ExecutionFeedback | None = None,
    ask: Ask,
) -> UserFeedback:
    """One turn of simulated-user feedback on ``code``.

    The reply is cut at its first code fence; the leak check runs on what remains, which is what
    the coding model will read, and only where a ground truth is known.
    """
    if kind == "novice" and novice_is_silent(code, execution):
        return UserFeedback(text=SILENT_NOVICE, raw="", asked=False)
    prompt = render_prompt(
        kind, problem=problem, code=code, ground_truth=ground_truth, compilation=compilation, execution=execution
    )
    raw = await ask([Message("user", prompt)])  # no system role: some served models lack one
    text = cut_at_fence(raw)
    leaks = find_leaks(text, ground_truth, problem) if ground_truth else ()
    return UserFeedback(text=text, raw=raw, leaked=bool(leaks), leak_ngrams=leaks)
