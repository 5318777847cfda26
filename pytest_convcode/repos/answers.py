"""What a model's answer to a repository task becomes: the code in it (a chat reply's last
``python`` block with reasoning dropped, as the seed reads it; a continuation as it is), checked to
be the method asked for, and indented for the file it is spliced into."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..extract.chat import drop_reasoning
from ..models import Answer

FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.S | re.I)


def answer_code(answer: Answer) -> str:
    """The code an answer gives: a continuation (the reference's ground truth) as it is, a chat
    reply's as ``reply_code`` reads it."""
    if answer.kind == "completion":
        return answer.text.strip("\n")
    return reply_code(answer.reply if answer.reply is not None else answer.text)


def reply_code(reply: str) -> str:
    """The code of a reply: its last fenced block (tagged python, or untagged), else the reply
    itself; reasoning (``<think>``) dropped, blank lines around it stripped, indentation kept."""
    answer = drop_reasoning(reply.replace("\r\n", "\n").replace("\r", "\n"))
    blocks = FENCE.findall(answer)
    return (blocks[-1] if blocks else answer).strip("\n")


@dataclass(frozen=True)
class MethodReply:
    """A reply that is the method: its code from the ``def`` line (decorators dropped: the file's
    own stay), or why it is not (``problem``: the turn's feedback instead of a test run)."""

    code: str
    problem: str = ""


def method_of(code: str, name: str) -> MethodReply:
    """The method ``name``, from code that must start with its ``def`` (or a decorator above it)."""
    lines = code.splitlines()
    definition = re.compile(rf"\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(")
    start = next((n for n, line in enumerate(lines) if definition.match(line)), None)
    head = [line for line in lines[: start or 0] if line.strip()]
    if start is None or (head and not head[0].lstrip().startswith("@")):
        return MethodReply("", format_problem(name))
    return MethodReply("\n".join(lines[start:]) + "\n")


def format_problem(name: str) -> str:
    return (
        f"The answer is not the method: it must be one Python code block that starts with `def {name}(` "
        "(or a decorator above it), with the method's body and nothing else."
    )


def indented(code: str, indent: str) -> str:
    """``code`` shifted so that its first line has ``indent``: every line moves by as much, so
    that the method's own structure (and a string's lines) keep their relative indentation."""
    lines = code.splitlines()
    first = lines[0]
    shift = len(indent) - (len(first) - len(first.lstrip()))
    if shift >= 0:
        return "\n".join((" " * shift + line) if line.strip() else line for line in lines) + "\n"
    return "\n".join(_unindent(line, -shift) for line in lines) + "\n"


def _unindent(line: str, width: int) -> str:
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, width) :]
