"""The predicted value (or call) out of a model's reply to a reasoning question.

The prompts ask for the completed assertion between ``[ANSWER]`` and ``[/ANSWER]``;
replies also come as a fenced block, a bare last line, or (published generation
files) the already extracted value. Standard library only: where the ``==`` of an
assertion is, is asked of ``ast`` (or ``tokenize`` for text that does not parse),
so an ``==`` inside a string literal never splits it.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass

from ..datasets.reasoning import Mode, untrusted_source
from ..extract import drop_reasoning
from .question import BLANK, ENTRY_POINT, Question


@dataclass(frozen=True)
class Prediction:
    """What a reply predicts, as Python source, and why it is counted wrong unread.

    ``dropped`` is "" for an answer to judge; otherwise the reason it fails without
    being run (CRUXEval's evaluator rules: an input answer with no call to ``f``, an
    output answer that restates the call instead of its value).
    """

    text: str
    dropped: str = ""


CUT_OFF = "reply cut at max_tokens before the answer"
CUT_INSIDE = "reply cut at max_tokens inside the answer"


@untrusted_source
def extract(reply: str, question: Question, cut: bool = False) -> Prediction:
    """The prediction in ``reply``; ``cut``: the server ended the reply at max_tokens.

    1. Reasoning in ``<think>``/``<thinking>``/``<reasoning>`` sections is dropped (and
       all before a closing tag never opened, all after an opening tag never closed).
    2. The answer is the last ``[ANSWER]...[/ANSWER]`` block (a final ``[ANSWER]``
       cut off before its closing tag counts; tags inside a string literal of the
       answer do not open or close blocks); else, with a ``[/ANSWER]`` never opened,
       all before it (where CRUXEval's stop sequence ends the reply); else the whole
       reply when it is Python or holds an assertion; else the last fenced code block
       that holds one; else (unless the reply was cut: then there is no answer) its
       last line. Lines that are only a ``[PYTHON]``, ``[THOUGHT]`` or ``[ANSWER]`` tag
       or a fence are not part of an answer.
    3. Of that, the last assertion (or expression) is taken, ``assert`` dropped, and
       of a top-level ``==`` the right side in output mode, the left one in input
       mode (the text between the first and a second ``==`` in a chain, as CRUXEval
       takes it). An assertion that still shows the prompt's blank (the task echoed)
       is not an answer.
    """
    text = drop_reasoning(reply.replace("\r\n", "\n").replace("\r", "\n"))
    block = _last_answer_block(text)
    if block is None and (closed := _block(text, 0)) is not None:
        block = closed[0]
    if block is None:
        block = _answer_outside_tags(text, question)
    if block is None:
        if cut:
            return Prediction("", CUT_OFF)
        block = _last_line(_untagged(text))
    value = _side(block, question)
    if cut and not _parses(value):  # the token limit fell inside the answer
        return Prediction(value, CUT_INSIDE)
    return Prediction(value, _dropped(value, question))


# ---------------------------------------------------------------- the answer's place

_UNPARSABLE = (SyntaxError, ValueError, RecursionError, MemoryError)  # too deep for the parser counts as not Python
_OPEN = re.compile(r"\[ANSWER\]", re.I)
_CLOSE = re.compile(r"\[/ANSWER\]", re.I)
_TAG = re.compile(r"\[(/?)ANSWER\]", re.I)
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.S | re.M)
_FENCE_LINE = re.compile(r"^[ \t]*(?:`{3,}|~{3,})[^\n]*$", re.M)
_TAG_LINE = re.compile(r"^[ \t]*\[/?(?:PYTHON|THOUGHT|ANSWER)\][ \t]*$", re.M | re.I)  # the prompt's own tags


def _last_answer_block(text: str) -> str | None:
    """The content of the last ``[ANSWER]`` block, closed or cut off; None without one."""
    blocks: list[str] = []
    pos, read_as_code = 0, True
    while (opening := _OPEN.search(text, pos)) is not None:
        found = _block(text, opening.end()) if read_as_code else _plain_block(text, opening.end())
        if found is None:  # cut off (at the stop sequence, or the token limit)
            if text[opening.end() :].strip() or not blocks:
                blocks.append(text[opening.end() :])
            break
        content, pos, read_as_code = found
        blocks.append(content)
    return blocks[-1] if blocks else None


def _plain_block(text: str, start: int) -> tuple[str, int, bool] | None:
    close = _CLOSE.search(text, start)
    return None if close is None else (text[start : close.start()], close.end(), False)


def _block(text: str, start: int) -> tuple[str, int, bool] | None:
    """The content of the block opened at ``start``, where its closing tag ends, and
    whether the next block can be read as code too.

    The content is read as code: a tag inside a string literal or a comment is part
    of the answer, and an opening tag met before the closing one starts the block
    afresh (the earlier one was a mention of the tag, not the answer). Content that
    never closes outside a string (prose: "it's ...") ends at the first closing tag,
    and the blocks after it are read that plain way too, so a reply is read once, not
    once per tag.
    """
    i, quote, begin = start, "", start
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 2
                continue
            if text.startswith(quote, i):
                i, quote = i + len(quote), ""
                continue
            if char == "\n" and len(quote) == 1:
                quote = ""  # an unterminated one-line string ends with its line
        elif char == "#":
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        elif char in "'\"":
            quote = char * 3 if text.startswith(char * 3, i) else char
            i += len(quote)
            continue
        elif char == "[" and (tag := _TAG.match(text, i)):
            if tag.group(1):
                return text[begin:i], tag.end(), True
            begin = i = tag.end()
            continue
        i += 1
    return _plain_block(text, start)


def _answer_outside_tags(text: str, question: Question) -> str | None:
    """Of a reply without answer tags: the whole reply when it holds an answer (it is
    Python, or has an assertion: the task's ``[PYTHON]`` block repeated with its answer
    filled in), else the last fenced block that holds one (a value, then prose); None
    when there is none."""
    if _holds_answer(_untagged(text), question):
        return text
    fences = [m.group(2) for m in _FENCE.finditer(text)]
    return next((fence for fence in reversed(fences) if _holds_answer(fence, question)), None)


def _holds_answer(block: str, question: Question) -> bool:
    code = textwrap.dedent(_untagged(block)).strip()
    return _answer_node(code) is not None or _last_assertion(code, question) is not None


def _untagged(text: str) -> str:
    """Text without the lines that are only a fence or one of the prompt's tags."""
    return _TAG_LINE.sub("", _FENCE_LINE.sub("", text))


def _last_line(text: str) -> str:
    lines = [line for line in text.split("\n") if line.strip()]
    return lines[-1] if lines else ""


def _parses(text: str) -> bool:
    if not text:
        return False
    try:
        ast.parse(text)
    except _UNPARSABLE:
        return False
    return True


# ---------------------------------------------------------------- the side of ==

_ASSERT = re.compile(r"^\s*assert\b\s*")
_ASSERT_LINE = re.compile(r"^[ \t]*(assert\b[^\n]*)", re.M)


def _side(block: str, question: Question) -> str:
    """The predicted value (output) or call (input) in an answer block."""
    code = textwrap.dedent(_untagged(block)).strip()
    node = _answer_node(code)
    if node is None:  # not Python: of its last assertion (or line), what parses
        code = _last_assertion(code, question) or _last_line(code)
        node = _answer_node(code)
    if node is None:
        return _side_of_text(code, question.mode)
    if isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.Eq):
        node = node.left if question.mode == "input" else node.comparators[0]
    return (ast.get_source_segment(code, node) or "").strip()


def _answer_node(code: str) -> ast.expr | None:
    """The test of the last top-level assertion of ``code``, else its last expression; None
    when ``code`` is not Python or has neither."""
    if not code:
        return None
    try:
        module = ast.parse(code)
    except _UNPARSABLE:
        return None
    asserts = [s for s in module.body if isinstance(s, ast.Assert)]
    if asserts:
        return asserts[-1].test
    if module.body and isinstance(module.body[-1], ast.Expr):
        return module.body[-1].value
    return None


def _last_assertion(code: str, question: Question) -> str | None:
    """The last assertion in text that is not Python as a whole, to the end of its
    statement (a literal may go on over lines); one that still shows the prompt's blank
    is the task echoed, not an answer."""
    blanks = (BLANK, f"{ENTRY_POINT}({BLANK})")
    for line in reversed(list(_ASSERT_LINE.finditer(code))):
        if _side_of_text(line.group(1), question.mode).replace(" ", "") not in blanks:
            return _statement(code[line.start(1) :])
    return None


def _statement(text: str) -> str:
    """The first statement of ``text``: its first line, and the lines after it that are
    inside its brackets."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NEWLINE:
                return "\n".join(text.split("\n")[: token.end[0]])
    except (tokenize.TokenError, SyntaxError):
        pass  # cut off inside a bracket or a string: only its first line
    return text.split("\n", 1)[0]


def _side_of_text(text: str, mode: Mode) -> str:
    """The side of a top-level ``==`` in text that does not parse (cut off, or a typo)."""
    text = _ASSERT.sub("", text, count=1).strip()
    equals = _top_level_equals(text)
    if not equals:
        return text
    if mode == "input":
        return text[: equals[0][0]].strip()
    end = equals[1][0] if len(equals) > 1 else len(text)
    return text[equals[0][1] : end].strip()


def _top_level_equals(text: str) -> list[tuple[int, int]]:
    """The (start, end) offsets of each ``==`` outside brackets and string literals."""
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    found: list[tuple[int, int]] = []
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type != tokenize.OP:
                continue
            if token.string in ("(", "[", "{"):
                depth += 1
            elif token.string in (")", "]", "}"):
                depth = max(depth - 1, 0)
            elif token.string == "==" and depth == 0:
                (row, col), (end_row, end_col) = token.start, token.end
                found.append((starts[row - 1] + col, starts[end_row - 1] + end_col))
    except (tokenize.TokenError, SyntaxError):
        pass  # text cut off inside a bracket or string: the tokens before it still count
    return found


# ---------------------------------------------------------------- CRUXEval's drop rules


def _dropped(value: str, question: Question) -> str:
    """Why an answer counts as wrong without being run ("" when it is judged).

    CRUXEval's evaluator (evaluation/utils_general.py, ``evaluate_score``) fails an
    input answer without ``f(`` and an output answer that contains ``f(<input>)``,
    the call it was asked to evaluate. CodeGlance's own sets have no input; their
    evaluator never runs the task's code, so an answer calling a function the code
    defines could not pass there: such an answer is dropped here too.
    """
    task = question.task
    if question.mode == "input":
        if "f(" not in value:
            return "an input prediction must be a call f(...), and this answer calls no f"
        return ""
    if task.input is not None:
        if f"f({task.input})" in value:
            return f"the answer restates the call f({_short(task.input)}) instead of predicting its value"
        return ""
    called = _calls_defined(value, task.code)
    if called:
        return f"the answer calls {called}(), which the task's code defines, instead of predicting the value"
    return ""


def _calls_defined(value: str, code: str) -> str:
    """A function defined at the top level of ``code`` that ``value`` calls ("" if none)."""
    try:
        expression, module = ast.parse(value, mode="eval"), ast.parse(code)
    except _UNPARSABLE:
        return ""
    defined = {s.name for s in module.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    for node in ast.walk(expression):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in defined:
            return node.func.id
    return ""


def _short(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + " ..."
