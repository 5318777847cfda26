"""A reply's code cut down to a program that only defines things, and completed from elsewhere.

The chosen code keeps its imports, definitions, import guards and recursion limits, and the
assignments those read; from the reply's other blocks and the task's prompt it borrows what it
reads but does not bind. Code is looked at as top-level statements (``Stmt``): what each binds
and reads from module scope. ``Extraction``, what a reply comes to, lives here too, below both
kinds of reply.
"""

from __future__ import annotations

import ast
import re
import symtable
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal


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


def normalize(text: str) -> str:
    """The text with its line breaks as ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def trim(code: str) -> str:
    """The code without its leading and trailing blank lines."""
    lines = code.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


@dataclass(frozen=True)
class Stmt:
    """A top-level statement: where it is, its text, and the module-level names it binds and reads."""

    node: ast.stmt
    start: int  # first line, 1-based, decorators included
    end: int
    text: str
    binds: frozenset[str]
    reads: frozenset[str]


DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign)
IMPORTS = (ast.Import, ast.ImportFrom)


def check(code: str) -> tuple[ast.Module | None, int | None]:
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


def parse(code: str) -> ast.Module | None:
    return check(code)[0]


def statements(code: str) -> tuple[list[str], list[Stmt]] | None:
    """The lines and top-level statements of code that compiles; None if it does not."""
    tree = parse(code)
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
        stmts.append(Stmt(node, start, end, text, frozenset(binds(node)), frozenset(_global_reads(text))))
    return lines, stmts


def binds(node: ast.stmt) -> set[str]:
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
        return {name for stmt in inner for name in binds(stmt)}
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
    if isinstance(node, DEFINITIONS):
        return True
    if isinstance(node, ast.Try):  # try: import numpy / except ImportError: ...
        return all(isinstance(s, IMPORTS) for s in node.body)
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


def kept_statements(stmts: Sequence[Stmt], entry_point: str | None) -> list[Stmt]:
    """The statements that only define things, and the assignments those (or the entry
    point) read, so that loading the program runs no example, test or prompt for input."""
    keep = {i for i, s in enumerate(stmts) if _defines(s.node)}
    wanted = {entry_point} if entry_point else set()
    wanted.update(*(stmts[i].reads for i in keep))
    assignments = [i for i, s in enumerate(stmts) if isinstance(s.node, ASSIGNMENTS) and not _reads_input(s.node)]
    grew = True
    while grew:
        grew = False
        for i in assignments:
            if i not in keep and stmts[i].binds & wanted:
                keep.add(i)
                wanted |= stmts[i].reads
                grew = True
    return [stmts[i] for i in sorted(keep)]


def donations(code: str) -> list[Stmt]:
    """What another block may lend the chosen one: its imports, definitions and assignments."""
    parsed = statements(code)
    if parsed is None:
        return []
    return [
        s
        for s in parsed[1]
        if isinstance(s.node, DEFINITIONS + ASSIGNMENTS)
        and not _reads_input(s.node)
        and not (isinstance(s.node, ast.ImportFrom) and s.node.module == "__future__")
    ]


_IMPORT_LINE = re.compile(r"(?:import\s+\w|from\s+[\w.]+\s+import\s).*")


def prompt_donations(prompt: str) -> list[Stmt]:
    """What a task's prompt lends an answer; of a prompt that does not compile, its import
    lines, one by one."""
    donors = donations(normalize(prompt))
    if not donors:
        donors = [s for line in prompt.split("\n") if _IMPORT_LINE.fullmatch(line) for s in donations(line)]
    return donors


def borrowed_statements(kept: Sequence[Stmt], donors: Sequence[Stmt], forced: Iterable[Stmt] = ()) -> list[Stmt]:
    """The donors' statements that bind what the kept code reads but does not bind, and
    what those read in turn; the later donor wins a name. ``forced`` statements come
    first unless the kept code binds all their names already. In the donors' order."""
    bound = set().union(*(s.binds for s in kept))
    taken: list[Stmt] = []
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


def join(lines: Sequence[str], stmts: Sequence[Stmt], kept: Sequence[Stmt], borrowed: Sequence[Stmt]) -> str:
    """The program: the kept statements as written; borrowed imports join the leading
    imports, borrowed definitions follow them."""
    if not borrowed:
        return _render(lines, stmts, kept) + "\n"
    n_head = next((i for i, s in enumerate(kept) if not isinstance(s.node, IMPORTS)), len(kept))
    imports = "\n".join(
        [_render(lines, stmts, kept[:n_head]), *(s.text for s in borrowed if isinstance(s.node, IMPORTS))]
    ).strip("\n")
    others = [s.text for s in borrowed if not isinstance(s.node, IMPORTS)]
    parts = [imports, *others, _render(lines, stmts, kept[n_head:])]
    return "\n\n\n".join(p for p in parts if p) + "\n"


def _render(lines: Sequence[str], stmts: Sequence[Stmt], kept: Sequence[Stmt]) -> str:
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
