"""The code in a chat reply: reasoning dropped, then the code blocks (fenced, or CodeLlama's
``[PYTHON]`` tags) or, without any, the unfenced span that compiles; of several blocks, the one
holding the answer, sanitized and completed by ``sanitize``.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from .sanitize import (
    ASSIGNMENTS,
    DEFINITIONS,
    IMPORTS,
    Extraction,
    binds,
    borrowed_statements,
    check,
    donations,
    join,
    kept_statements,
    normalize,
    parse,
    prompt_donations,
    statements,
    trim,
)

SNIPPET_CHARS = 40  # how much of a reply a failure message quotes
MAX_CODE_STARTS = 50  # lines where unfenced code may start that are tried: each costs a parse of the rest


def from_chat(reply: str, entry_point: str | None = None, prompt: str = "") -> Extraction:
    """The solution in a chat reply (to the task ``prompt``, when given).

    1. Reasoning is dropped: ``<think>``/``<thinking>``/``<reasoning>`` sections,
       everything after an opening tag that is never closed, and everything
       before a closing tag that was never opened (DeepSeek-R1's template opens
       the section in the prompt).
    2. Code blocks are fenced with ``` or ~~~ (indented inside lists too) or
       CodeLlama's ``[PYTHON]`` tags; a last block cut off by the token limit
       counts, without an unfinished last statement that is no definition.
       A block is Python when its tag says so (``python``, ``py``,
       ``Python3``...) or, untagged, when it compiles and defines or assigns
       something; shell commands and ``>>>`` sessions never are.
    3. Without such a block, the code is the longest span of lines that
       compiles, starting at the first ``import``/``from``/``def``/``class``/
       ``@`` line that starts one (code indented as a whole is dedented and
       ends where its indentation does).
    4. Of several blocks the chosen one is the last that defines
       ``entry_point`` (one that compiles before one that does not); without
       such a block, the one with the most top-level functions and classes
       (the last on ties).
    5. The chosen block is sanitized: it keeps its imports, functions,
       classes, import guards (``try: import ...``), ``sys.setrecursionlimit``
       calls, and the top-level assignments that those (or ``entry_point``)
       read, unless they read input; example calls, prints, asserts and
       ``if __name__ == "__main__":`` go, so that loading the program only
       defines things. Code that does not compile is returned as written: the
       sandbox reports its syntax error.
    6. From the other Python blocks it borrows the imports, functions,
       classes and assignments that bind a name the chosen code reads and does
       not bind itself (and what those need in turn), placed after the chosen
       code's leading imports. Only what is needed: a test block's
       ``import pytest`` never comes along.
    7. The prompt's imports join them, unless the code binds their names
       already: a chat answer often leaves out the ``from typing import List``
       that its signature needs.
    """
    text = normalize(reply)
    if not text.strip():
        return _nothing("the reply is empty")
    answer = drop_reasoning(text)
    if not answer.strip():
        return _nothing("the reply holds only reasoning, with no answer after it")
    blocks, prose = _split_fences(answer)
    candidates = [b for b in blocks if _is_python(b)]
    if not candidates:
        span = _unfenced(prose)
        if span is None:
            return _nothing(_why_no_code(answer, blocks))
        candidates = [_Block("python", span)]
    chosen = _choose(candidates, entry_point)
    parsed = statements(chosen.code)
    if parsed is None:
        return Extraction(chosen.code + "\n", "solution")
    lines, stmts = parsed
    kept = kept_statements(stmts, entry_point)
    if not kept:
        return _nothing(f"the reply's code defines nothing (it starts: {_snippet(chosen.code)!r})")
    donors = [s for b in candidates if b is not chosen for s in donations(b.code)]
    imports = [s for s in prompt_donations(prompt) if isinstance(s.node, IMPORTS)]
    return Extraction(join(lines, stmts, kept, borrowed_statements(kept, donors, imports)), "solution")


def _nothing(why: str) -> Extraction:
    return Extraction("", "solution", why)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[:SNIPPET_CHARS].rstrip() + " ..."


def _why_no_code(answer: str, blocks: Sequence[_Block]) -> str:
    if blocks:
        kinds = sorted({_block_kind(b) for b in blocks})
        return f"the reply holds no Python code, only {', '.join(kinds)} blocks"
    return f"the reply holds no code (it starts: {_snippet(answer)!r})"


# -- reasoning

_REASONING_TAG = re.compile(r"<(/?)(think|thinking|reasoning)\b[^<>]{0,200}>", re.I)


def drop_reasoning(text: str) -> str:
    """The reply without its reasoning, whose drafts are not the answer: each section
    from an opening tag to its closing one, all before a closing tag never opened (the
    chat template opened it), all after an opening tag never closed (the model was
    still thinking when it stopped). One pass over the tags, however hostile the reply."""
    kept: list[str] = []
    pos, inside = 0, ""
    for tag in _REASONING_TAG.finditer(text):
        closing, name = tag.group(1) == "/", tag.group(2).lower()
        if inside:
            if closing and name == inside:
                pos, inside = tag.end(), ""
        elif closing:
            kept, pos = [], tag.end()
        else:
            kept.append(text[pos : tag.start()])
            inside = name
    if not inside:
        kept.append(text[pos:])
    return "".join(kept)


# -- code blocks


@dataclass(frozen=True)
class _Block:
    lang: str  # the fence's language tag in lower case; "" when there is none
    code: str


_FENCE = re.compile(r"(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*")
_PYTHON_OPEN = re.compile(r"[ \t]*\[PYTHON\][ \t]*")
_PYTHON_CLOSE = re.compile(r"[ \t]*\[/PYTHON\][ \t]*")
_LANG = re.compile(r"[\w+#.-]*")
_PYTHON_TAG = re.compile(r"(?:python|py)[0-9.]*|ipython")
_NOT_CODE = re.compile(
    r"\$\s|>>>|%|!|pip3?\s+(?:install|uninstall)\b|python3?\s+(?:-m\s+pip\b|\S+\.py\b)"
    r"|conda\s+install\b|uv\s+(?:pip|add|run)\b|poetry\s+(?:add|install|run)\b"
)
_DEFINITION_LINE = re.compile(r"^(?:(?:async\s+)?def|class)\s+\w+|^(?:import|from)\s+[\w.]+|^@\w", re.M)


def _split_fences(text: str) -> tuple[list[_Block], str]:
    """The fenced blocks of a Markdown text, and the text outside them."""
    lines = text.split("\n")
    blocks: list[_Block] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.fullmatch(lines[i])
        if fence:
            marker = fence["fence"]
            close = re.compile(rf"[ \t]*{re.escape(marker[0])}{{{len(marker)},}}[ \t]*")
            lang = _LANG.match(fence["info"].lower())
            tag, indent = (lang[0] if lang else ""), len(fence["indent"])
        elif _PYTHON_OPEN.fullmatch(lines[i]):
            close, tag, indent = _PYTHON_CLOSE, "python", 0
        else:
            prose.append(lines[i])
            i += 1
            continue
        body, closed, i = [], False, i + 1
        while i < len(lines) and not closed:
            closed = close.fullmatch(lines[i]) is not None
            if not closed:
                body.append(_unindent(lines[i], indent))
            i += 1
        code = trim(textwrap.dedent("\n".join(body)))
        blocks.append(_Block(tag, code if closed else _drop_cut_statement(code)))
    return blocks, "\n".join(prose)


def _unindent(line: str, width: int) -> str:
    """A line of a block whose fence is indented (in a list): without that indentation."""
    spaces = len(line) - len(line.lstrip(" \t"))
    return line[min(width, spaces) :]


def _drop_cut_statement(code: str) -> str:
    """A block cut off by the token limit, without its unfinished last statements when
    they define nothing (an example call, a print): the rest is the answer. A definition
    cut in half stays, so that the sandbox reports the syntax error."""
    if parse(code) is not None:
        return code
    lines = code.split("\n")
    starts = [i for i, line in enumerate(lines) if line[:1] and not line[:1].isspace() and line[0] != "#"]
    limit = len(lines)  # heads longer than this hold a line with a syntax error
    for i in reversed(starts):
        if not 0 < i <= limit:
            continue
        tree, error_line = check("\n".join(lines[:i]))
        if tree is None:
            limit = min(i, error_line or i) - 1
            continue
        if _DEFINITION_LINE.search("\n".join(lines[i:])):
            return code
        return trim("\n".join(lines[:i]))
    return code


def _first_line(block: _Block) -> str:
    """The block's first line that is neither blank nor a comment, stripped."""
    return next((s for s in (line.strip() for line in block.code.split("\n")) if s and s[0] != "#"), "")


def _block_kind(block: _Block) -> str:
    """What a block that is not Python holds, for a failure message."""
    first = _first_line(block)
    if not first:
        return "empty"
    if _NOT_CODE.match(first):
        return "console" if first.startswith(">>>") else "shell"
    return block.lang or "untagged"


def _is_python(block: _Block) -> bool:
    """Whether a block is Python source, rather than shell commands, a session or output."""
    first = _first_line(block)
    if not first or _NOT_CODE.match(first):
        return False
    if block.lang:
        return _PYTHON_TAG.fullmatch(block.lang) is not None
    tree = parse(block.code)
    if tree is None:  # an untagged block cut off, or with a mistake, is still code
        return _DEFINITION_LINE.search(block.code) is not None
    return any(isinstance(node, (*DEFINITIONS, ast.Assign)) for node in tree.body)


def _unfenced(text: str) -> str | None:
    """The longest span of lines that compiles, from the first line that starts code
    (of the first ``MAX_CODE_STARTS``: a bound on the work for a long reply)."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if _CODE_START.match(line) and not _prose_import(line)]
    for start in starts[:MAX_CODE_STARTS]:
        indent = len(lines[start]) - len(lines[start].lstrip())
        outdented = (j for j in range(start + 1, len(lines)) if lines[j].strip() and not _indented(lines[j], indent))
        end = next(outdented, len(lines))  # code indented as a whole ends where its indentation does
        while end > start:
            if not lines[end - 1].strip():
                end -= 1
                continue
            span = "\n".join(line[indent:] for line in lines[start:end])
            tree, error_line = check(span)
            if tree is not None:
                return span
            # no shorter span that still holds the line the error is on can compile
            end = min(end - 1, start + error_line - 1) if error_line else end - 1
    return None


_CODE_START = re.compile(
    r"[ \t]*(?:import\s+\w|from\s+[\w.]+\s+import\s|(?:async\s+)?def\s+\w+\s*\(|class\s+\w+|@[\w.]+)"
)


def _indented(line: str, width: int) -> bool:
    return len(line) - len(line.lstrip()) >= width


def _prose_import(line: str) -> bool:
    """A line that reads like an import but is prose ("import it first"): an import fits on
    its line unless it opens a parenthesis or ends with a backslash."""
    stripped = line.strip()
    if not stripped.startswith(("import", "from")) or stripped.endswith(("(", "\\")):
        return False
    return parse(stripped) is None


def _choose(blocks: Sequence[_Block], entry_point: str | None) -> _Block:
    """The block holding the answer: the last that defines the entry point (one that
    compiles first), else the one with the most top-level definitions (the last on ties)."""
    if entry_point:
        defining = [b for b in blocks if entry_point in _top_level_names(b.code)]
        if defining:
            compiling = [b for b in defining if parse(b.code) is not None]
            return (compiling or defining)[-1]
    return max(reversed(blocks), key=lambda b: _count_definitions(b.code))


_NAME_LINE = re.compile(r"^(?:(?:async\s+)?def|class)\s+(\w+)|^(\w+)\s*(?::[^=\n]*)?=(?!=)", re.M)


def _top_level_names(code: str) -> set[str]:
    tree = parse(code)
    if tree is None:
        return {m[1] or m[2] for m in _NAME_LINE.finditer(code)}
    return {name for node in tree.body if isinstance(node, DEFINITIONS + ASSIGNMENTS) for name in binds(node)}


def _count_definitions(code: str) -> int:
    tree = parse(code)
    if tree is None:
        return sum(1 for m in _NAME_LINE.finditer(code) if m[1])
    return sum(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for node in tree.body)
