"""The bugs program repair injects: one small change to a method's code, as a person could have
made it. An operator (``+`` for ``-``), a comparison (``<`` for ``<=``), ``and`` for ``or``, a
constant (``0`` for ``1``, ``True`` for ``False``), a condition negated, a returned value
replaced by None.

Each mutation edits the file's text where the AST puts the changed node, so the rest of the
method keeps its formatting and comments (``ast.unparse`` would rewrite all of it). Columns are
UTF-8 byte offsets, as the AST gives them.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Iterator
from dataclasses import dataclass

Function = ast.FunctionDef | ast.AsyncFunctionDef

OPERATORS = {"+": "-", "-": "+", "*": "/", "/": "*", "//": "*", "%": "//", "**": "*", "<<": ">>", ">>": "<<",
             "|": "&", "&": "|", "^": "&"}  # fmt: skip
COMPARISONS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==", "in": "not in", "not in": "in",
               "is": "is not", "is not": "is"}  # fmt: skip
BOOLEANS = {"and": "or", "or": "and"}
_GROUPING = b" \t\r\n\\()"  # what may stand between an operand and its operator besides the operator


@dataclass(frozen=True)
class Mutation:
    description: str  # for a person: "Compare: < -> <= at line 12" (the file's line)
    start: int  # the changed bytes of the file's UTF-8 text
    end: int
    replacement: bytes

    def apply(self, text: str) -> str:
        data = text.encode()
        return (data[: self.start] + self.replacement + data[self.end :]).decode()


def mutations(text: str, function: Function) -> list[Mutation]:
    """Every mutation of the function's code (its docstring left alone), in source order."""
    data = text.encode()
    starts = [0]
    for line in data.split(b"\n"):
        starts.append(starts[-1] + len(line) + 1)
    found = _Finder(data, starts)
    body = function.body[1:] if ast.get_docstring(function) is not None else function.body
    for statement in body:
        for node in _nodes(statement):
            found.visit(node)
    return sorted(found.mutations, key=lambda m: (m.start, m.description))


def ordered(found: list[Mutation], seed: str) -> list[Mutation]:
    """The mutations in the order a task tries them: shuffled, the same way for the same task."""
    shuffled = list(found)
    random.Random(seed).shuffle(shuffled)
    return shuffled


def _nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The node and those under it, f-strings left out (their parts' positions are not their own)."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.JoinedStr):
            yield from _nodes(child)


class _Finder:
    def __init__(self, data: bytes, starts: list[int]) -> None:
        self.data, self.starts = data, starts
        self.mutations: list[Mutation] = []

    def offset(self, line: int, column: int) -> int:
        return self.starts[line - 1] + column

    def span(self, node: ast.expr) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno or 0, node.end_col_offset or 0)

    def add(self, kind: str, old: str, new: str, start: int, end: int, replacement: bytes) -> None:
        line = self.data.count(b"\n", 0, start) + 1
        self.mutations.append(Mutation(f"{kind}: {old} -> {new} at line {line}", start, end, replacement))

    def between(self, kind: str, left: ast.expr, right: ast.expr, swaps: dict[str, str], suffix: str = "") -> None:
        """Swap the operator between two operands, when only grouping stands beside it."""
        gap_start, gap_end = self.span(left)[1], self.span(right)[0]
        gap = self.data[gap_start:gap_end]
        word = gap.strip(_GROUPING)
        old = " ".join(word.decode().split())
        if not old.endswith(suffix) or old.removesuffix(suffix) not in swaps:
            return
        new = swaps[old.removesuffix(suffix)] + suffix
        start = gap_start + gap.index(word)
        self.add(kind, old, new, start, start + len(word), new.encode())

    def visit(self, node: ast.AST) -> None:
        match node:
            case ast.BinOp(left=left, right=right):
                self.between("Operator", left, right, OPERATORS)
            case ast.AugAssign(target=target, value=value):
                self.between("Operator", target, value, OPERATORS, "=")
            case ast.Compare(left=left, comparators=comparators):
                for before, after in zip([left, *comparators], comparators, strict=False):
                    self.between("Compare", before, after, COMPARISONS)
            case ast.BoolOp(values=[first, second, *_]):
                self.between("Boolean", first, second, BOOLEANS)
            case ast.Constant(value=bool(value)):
                self.add("Constant", str(value), str(not value), *self.span(node), str(not value).encode())
            case ast.Constant(value=int(value)):
                self.add("Constant", str(value), str(value + 1), *self.span(node), str(value + 1).encode())
            case ast.If(test=test) | ast.While(test=test) | ast.IfExp(test=test):
                self.negate(test, type(node).__name__.lower().replace("ifexp", "conditional expression"))
            case ast.Return(value=value) if value is not None and not _is_none(value):
                start, end = self.span(value)
                shown = self.data[start:end].decode().split("\n")[0][:40]
                self.add("Return", f"`{shown}`", "None", start, end, b"None")

    def negate(self, test: ast.expr, where: str) -> None:
        start, end = self.span(test)
        text = self.data[start:end]
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner_start, inner_end = self.span(test.operand)
            replacement = b"(" + self.data[inner_start:inner_end] + b")"
        else:
            replacement = b"not (" + text + b")"
        line = self.data.count(b"\n", 0, start) + 1
        self.mutations.append(Mutation(f"Condition: {where} negated at line {line}", start, end, replacement))


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None
