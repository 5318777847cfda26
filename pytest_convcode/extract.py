"""Turning a model's reply into the program to run.

Chat models answer in prose with Markdown code blocks, often after a reasoning
section, and add things that are not the answer: example calls and prints, a
block of tests, a ``pip install``. Completion models continue the prompt, but
servers may echo it or run past the stop sequences. The rules here undo those
so that the judge runs the code the model meant; they are kept simple so that a
surprising verdict can be traced by reading the reply.

Standard library only: the syntax questions are answered by ``compile``, and
which names a piece of code reads from module scope by ``symtable``.
"""

from __future__ import annotations

import ast
import re
import symtable
import textwrap
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

SNIPPET_CHARS = 40  # how much of a reply a failure message quotes
MAX_CODE_STARTS = 50  # lines where unfenced code may start that are tried: each costs a parse of the rest


@dataclass(frozen=True)
class Extraction:
    """The program taken from one reply.

    ``kind`` says how to run ``code``: a "solution" is a whole program, a
    "completion" is appended to the task's prompt. ``why`` explains an empty
    ``code`` in one short sentence, for the failure message.
    """

    code: str  # "" when the reply holds no code
    kind: Literal["solution", "completion"]
    why: str = ""


# ---------------------------------------------------------------- chat replies


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
    text = _normalize(reply)
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
    parsed = _statements(chosen.code)
    if parsed is None:
        return Extraction(chosen.code + "\n", "solution")
    lines, stmts = parsed
    kept = _kept(stmts, entry_point)
    if not kept:
        return _nothing(f"the reply's code defines nothing (it starts: {_snippet(chosen.code)!r})")
    donors = [s for b in candidates if b is not chosen for s in _donations(b.code)]
    imports = [s for s in _prompt_donations(prompt) if isinstance(s.node, _IMPORTS)]
    return Extraction(_join(lines, stmts, kept, _borrowed(kept, donors, imports)), "solution")


def _nothing(why: str) -> Extraction:
    return Extraction("", "solution", why)


def _normalize(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


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
        code = _trim(textwrap.dedent("\n".join(body)))
        blocks.append(_Block(tag, code if closed else _drop_cut_statement(code)))
    return blocks, "\n".join(prose)


def _unindent(line: str, width: int) -> str:
    """A line of a block whose fence is indented (in a list): without that indentation."""
    spaces = len(line) - len(line.lstrip(" \t"))
    return line[min(width, spaces) :]


def _trim(code: str) -> str:
    lines = code.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _drop_cut_statement(code: str) -> str:
    """A block cut off by the token limit, without its unfinished last statements when
    they define nothing (an example call, a print): the rest is the answer. A definition
    cut in half stays, so that the sandbox reports the syntax error."""
    if _parse(code) is not None:
        return code
    lines = code.split("\n")
    starts = [i for i, line in enumerate(lines) if line[:1] and not line[:1].isspace() and line[0] != "#"]
    limit = len(lines)  # heads longer than this hold a line with a syntax error
    for i in reversed(starts):
        if not 0 < i <= limit:
            continue
        tree, error_line = _check("\n".join(lines[:i]))
        if tree is None:
            limit = min(i, error_line or i) - 1
            continue
        if _DEFINITION_LINE.search("\n".join(lines[i:])):
            return code
        return _trim("\n".join(lines[:i]))
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
    tree = _parse(block.code)
    if tree is None:  # an untagged block cut off, or with a mistake, is still code
        return _DEFINITION_LINE.search(block.code) is not None
    return any(isinstance(node, (*_DEFINITIONS, ast.Assign)) for node in tree.body)


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
            tree, error_line = _check(span)
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
    return _parse(stripped) is None


def _choose(blocks: Sequence[_Block], entry_point: str | None) -> _Block:
    """The block holding the answer: the last that defines the entry point (one that
    compiles first), else the one with the most top-level definitions (the last on ties)."""
    if entry_point:
        defining = [b for b in blocks if entry_point in _top_level_names(b.code)]
        if defining:
            compiling = [b for b in defining if _parse(b.code) is not None]
            return (compiling or defining)[-1]
    return max(reversed(blocks), key=lambda b: _count_definitions(b.code))


_NAME_LINE = re.compile(r"^(?:(?:async\s+)?def|class)\s+(\w+)|^(\w+)\s*(?::[^=\n]*)?=(?!=)", re.M)


def _top_level_names(code: str) -> set[str]:
    tree = _parse(code)
    if tree is None:
        return {m[1] or m[2] for m in _NAME_LINE.finditer(code)}
    return {name for node in tree.body if isinstance(node, _DEFINITIONS + _ASSIGNMENTS) for name in _binds(node)}


def _count_definitions(code: str) -> int:
    tree = _parse(code)
    if tree is None:
        return sum(1 for m in _NAME_LINE.finditer(code) if m[1])
    return sum(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for node in tree.body)


# ---------------------------------------------------------------- sanitizing


@dataclass(frozen=True)
class _Stmt:
    """A top-level statement: where it is, its text, and the module-level names it binds and reads."""

    node: ast.stmt
    start: int  # first line, 1-based, decorators included
    end: int
    text: str
    binds: frozenset[str]
    reads: frozenset[str]


_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign)
_IMPORTS = (ast.Import, ast.ImportFrom)


def _check(code: str) -> tuple[ast.Module | None, int | None]:
    """The syntax tree of code that compiles; else None and the line of the error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like
            tree = ast.parse(code)
            compile(tree, "<reply>", "exec", dont_inherit=True)  # 'return' outside a function...
        return tree, None
    except SyntaxError as exc:
        return None, exc.lineno
    except (ValueError, RecursionError, MemoryError):  # null bytes, absurd nesting
        return None, None


def _parse(code: str) -> ast.Module | None:
    return _check(code)[0]


def _statements(code: str) -> tuple[list[str], list[_Stmt]] | None:
    """The lines and top-level statements of code that compiles; None if it does not."""
    tree = _parse(code)
    if tree is None:
        return None
    lines = code.split("\n")
    stmts = []
    for node in tree.body:
        start = node.lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([start, *(d.lineno for d in node.decorator_list)])
        end = node.end_lineno or node.lineno
        text = "\n".join(lines[start - 1 : end])
        stmts.append(_Stmt(node, start, end, text, frozenset(_binds(node)), frozenset(_global_reads(text))))
    return lines, stmts


def _binds(node: ast.stmt) -> set[str]:
    """The module-level names a statement binds (an assignment to ``x[i]`` or ``x.a`` counts for ``x``)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Import):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        return {alias.asname or alias.name for alias in node.names}
    if isinstance(node, ast.Assign):
        return {name for target in node.targets for name in _target_names(target)}
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return _target_names(node.target)
    if isinstance(node, ast.Try):
        inner = [*node.body, *node.orelse, *node.finalbody, *(s for h in node.handlers for s in h.body)]
        return {name for stmt in inner for name in _binds(stmt)}
    return set()


def _target_names(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return {name for element in target.elts for name in _target_names(element)}
    if isinstance(target, (ast.Starred, ast.Subscript, ast.Attribute)):
        return _target_names(target.value)
    return set()


def _global_reads(source: str) -> set[str]:
    """The names code reads from module scope: at its top level, and inside its functions
    and classes wherever they are not local there."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            top = symtable.symtable(source, "<reply>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    tables = list(top.get_children())
    while tables:
        table = tables.pop()
        names.update(
            s.get_name() for s in table.get_symbols() if s.is_global() and (s.is_referenced() or s.is_declared_global())
        )
        tables.extend(table.get_children())
    return names


def _defines(node: ast.stmt) -> bool:
    """Whether a top-level statement is kept for what it is: it only defines things."""
    if isinstance(node, _DEFINITIONS):
        return True
    if isinstance(node, ast.Try):  # try: import numpy / except ImportError: ...
        return all(isinstance(s, _IMPORTS) for s in node.body)
    return _is_recursion_limit(node)


def _is_recursion_limit(node: ast.stmt) -> bool:
    """``sys.setrecursionlimit(...)``: recursive solutions need it at load time."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name == "setrecursionlimit"


def _reads_input(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "input":
            return True
        if isinstance(sub, ast.Attribute) and sub.attr == "stdin":
            return True
    return False


def _kept(stmts: Sequence[_Stmt], entry_point: str | None) -> list[_Stmt]:
    """The statements that only define things, and the assignments those (or the entry
    point) read, so that loading the program runs no example, test or prompt for input."""
    keep = {i for i, s in enumerate(stmts) if _defines(s.node)}
    wanted = {entry_point} if entry_point else set()
    wanted.update(*(stmts[i].reads for i in keep))
    assignments = [i for i, s in enumerate(stmts) if isinstance(s.node, _ASSIGNMENTS) and not _reads_input(s.node)]
    grew = True
    while grew:
        grew = False
        for i in assignments:
            if i not in keep and stmts[i].binds & wanted:
                keep.add(i)
                wanted |= stmts[i].reads
                grew = True
    return [stmts[i] for i in sorted(keep)]


def _donations(code: str) -> list[_Stmt]:
    """What another block may lend the chosen one: its imports, definitions and assignments."""
    parsed = _statements(code)
    if parsed is None:
        return []
    return [
        s
        for s in parsed[1]
        if isinstance(s.node, _DEFINITIONS + _ASSIGNMENTS)
        and not _reads_input(s.node)
        and not (isinstance(s.node, ast.ImportFrom) and s.node.module == "__future__")
    ]


def _borrowed(kept: Sequence[_Stmt], donors: Sequence[_Stmt], forced: Iterable[_Stmt] = ()) -> list[_Stmt]:
    """The donors' statements that bind what the kept code reads but does not bind, and
    what those read in turn; the later donor wins a name. ``forced`` statements come
    first unless the kept code binds all their names already. In the donors' order."""
    bound = set().union(*(s.binds for s in kept))
    taken: list[_Stmt] = []
    for s in forced:
        if not s.binds <= bound:
            taken.append(s)
            bound |= s.binds
    providers = {name: s for s in donors for name in s.binds}
    needed = set().union(*(s.reads for s in kept), *(s.reads for s in taken)) - bound
    while needed:
        provider = providers.get(needed.pop())
        if provider is None or any(provider is t for t in taken):
            continue
        taken.append(provider)
        bound |= provider.binds
        needed |= provider.reads - bound
    order = {id(s): i for i, s in enumerate([*forced, *donors])}
    return sorted(taken, key=lambda s: order.get(id(s), len(order)))


def _join(lines: Sequence[str], stmts: Sequence[_Stmt], kept: Sequence[_Stmt], borrowed: Sequence[_Stmt]) -> str:
    """The program: the kept statements as written; borrowed imports join the leading
    imports, borrowed definitions follow them."""
    if not borrowed:
        return _render(lines, stmts, kept) + "\n"
    n_head = next((i for i, s in enumerate(kept) if not isinstance(s.node, _IMPORTS)), len(kept))
    imports = "\n".join(
        [_render(lines, stmts, kept[:n_head]), *(s.text for s in borrowed if isinstance(s.node, _IMPORTS))]
    ).strip("\n")
    others = [s.text for s in borrowed if not isinstance(s.node, _IMPORTS)]
    parts = [imports, *others, _render(lines, stmts, kept[n_head:])]
    return "\n\n\n".join(p for p in parts if p) + "\n"


def _render(lines: Sequence[str], stmts: Sequence[_Stmt], kept: Sequence[_Stmt]) -> str:
    """The kept statements' lines, with the comment lines right above each; where
    statements were dropped between two of them, one blank line."""
    out: list[str] = []
    previous = 0  # the last line written
    kept_ids = {id(s) for s in kept}
    for s in kept:
        start = max(s.start, previous + 1)  # statements can share a line: a; b
        if start > s.end:
            continue
        while start - 1 > max(previous, 0) and lines[start - 2].startswith("#"):
            start -= 1
        if out:
            dropped = any(previous < d.start < start and id(d) not in kept_ids for d in stmts)
            out.extend([""] if dropped else lines[previous : start - 1])
        out.extend(lines[start - 1 : s.end])
        previous = s.end
    return "\n".join(out)


# ---------------------------------------------------------------- completions


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


_IMPORT_LINE = re.compile(r"(?:import\s+\w|from\s+[\w.]+\s+import\s).*")


def _prompt_donations(prompt: str) -> list[_Stmt]:
    """What a task's prompt lends an answer; of a prompt that does not compile, its import
    lines, one by one."""
    donors = _donations(_normalize(prompt))
    if not donors:
        donors = [s for line in prompt.split("\n") if _IMPORT_LINE.fullmatch(line) for s in _donations(line)]
    return donors


def _restated(prompt: str, text: str, name: str) -> str:
    """A whole program written instead of a continuation, with what it takes from the prompt."""
    code = _trim(_normalize(text))
    donors = _prompt_donations(prompt)
    imports = [s for s in donors if isinstance(s.node, _IMPORTS)]
    parsed = _statements(code)
    if parsed is None:
        return "\n".join([*(s.text for s in imports), "", code] if imports else [code]) + "\n"
    lines, stmts = parsed
    kept = _kept(stmts, name)
    return _join(lines, stmts, kept, _borrowed(kept, donors, imports))
