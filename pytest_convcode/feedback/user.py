"""Simulated users: a novice who relays what the errors say, an expert who reviews against the
ground truth without handing it over.

The model call is passed in (``ask``), so this module stays pure and its callers choose the model,
the cache and the cost limits. Prompts are the jinja2 templates in ``templates/``.
"""

from __future__ import annotations

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


def _without_comments(source: str) -> str:
    """Source with its comments removed: prose in comments is not code, and an expert explaining
    a step may well word it as the comment did."""
    lines = source.splitlines(keepends=True)
    try:
        comments = [
            t.start for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, SyntaxError):
        return source
    for row, column in comments:
        lines[row - 1] = lines[row - 1][:column] + "\n"
    return "".join(lines)


def find_leaks(feedback: str, ground_truth: str, n: int = LEAK_N) -> tuple[str, ...]:
    """The runs of ``n`` or more consecutive code tokens that the feedback shares with the ground
    truth (comments excluded), maximal and in the feedback's order; () when it shares none."""
    truth = code_tokens(_without_comments(ground_truth))
    grams = {tuple(truth[i : i + n]) for i in range(len(truth) - n + 1)}
    words = code_tokens(feedback)
    spans: list[list[int]] = []
    for start in range(len(words) - n + 1):
        if tuple(words[start : start + n]) in grams:
            if spans and start <= spans[-1][1]:
                spans[-1][1] = start + n
            else:
                spans.append([start, start + n])
    return tuple(" ".join(words[start:end]) for start, end in spans)


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
    leaks = find_leaks(text, ground_truth) if ground_truth else ()
    return UserFeedback(text=text, raw=raw, leaked=bool(leaks), leak_ngrams=leaks)
