"""The methods of a source file, as tasks see them: module-level functions and the methods of
module-level classes, each with its line spans (0-based, inclusive: the declaration from its first
decorator to the signature's colon, the body from there to its last statement), its docstring,
and the text the task record is made of."""

from __future__ import annotations

import ast
import tokenize
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Function = ast.FunctionDef | ast.AsyncFunctionDef
STUB = "raise NotImplementedError"
TEST_FOLDERS = {"tests"}  # not "test": django/test is a library for tests, not tests


@dataclass(frozen=True)
class Method:
    file_path: str  # relative to the tree's root
    class_name: str  # "" for a module-level function
    name: str
    declaration: tuple[int, int]
    body: tuple[int, int]  # its docstring included
    code: tuple[int, int]  # the body after its docstring
    indent: str  # of the body's statements
    description: str  # the docstring, cleaned
    class_span: tuple[int, int] | None
    node: Function

    @property
    def task_id(self) -> str:
        return f"{self.file_path}::{self.class_name + '.' if self.class_name else ''}{self.name}"

    def code_lines(self, lines: list[str]) -> int:
        """The body's non-blank lines, its docstring left out."""
        return sum(1 for line in lines[self.code[0] : self.code[1] + 1] if line.strip())


def methods_of(file_path: str, text: str) -> list[Method]:
    """Every function and method of the file whose name its scope holds once (a property's
    getter and setter share a name: neither is a task, their ids would clash), in the file's order."""
    tree = ast.parse(text)
    lines = text.splitlines()
    found: list[Method] = []
    for scope, class_node in [(tree, None)] + [(n, n) for n in tree.body if isinstance(n, ast.ClassDef)]:
        functions = [n for n in scope.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        names = Counter(function.name for function in functions)
        for function in functions:
            if names[function.name] == 1 and (method := _method(file_path, lines, function, class_node)):
                found.append(method)
    return sorted(found, key=lambda method: method.declaration)


def _method(file_path: str, lines: list[str], node: Function, class_node: ast.ClassDef | None) -> Method | None:
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    signature_end = _signature_end(lines, node.lineno - 1)
    body_start, body_end = signature_end + 1, (node.end_lineno or node.lineno) - 1
    if node.body[0].lineno - 1 < body_start:  # "def f(): return 1": no body lines of its own
        return None
    description = ast.get_docstring(node) or ""
    first_code = node.body[1] if description and len(node.body) > 1 else node.body[0]
    code_start = (node.body[0].end_lineno or 0) if description else body_start
    class_span = None
    if class_node is not None:
        first = min([class_node.lineno, *(d.lineno for d in class_node.decorator_list)]) - 1
        class_span = (first, (class_node.end_lineno or class_node.lineno) - 1)
    return Method(
        file_path,
        class_node.name if class_node else "",
        node.name,
        (start, signature_end),
        (body_start, body_end),
        (code_start, body_end),
        lines[first_code.lineno - 1][: first_code.col_offset],
        description,
        class_span,
        node,
    )


def _signature_end(lines: list[str], def_line: int) -> int:
    """The line of the colon that ends the signature which starts at ``def_line``."""
    depth = 0
    source = iter(line + "\n" for line in lines[def_line:])
    for token in tokenize.generate_tokens(lambda: next(source, "")):
        if token.type == tokenize.OP:
            depth += token.string in "([{"
            depth -= token.string in ")]}"
            if token.string == ":" and depth == 0:
                return def_line + token.start[0] - 1
    raise ValueError(f"line {def_line + 1}: a def without its colon")


def stubbed(method: Method, lines: list[str]) -> str:
    """The file with the method's code (what follows its docstring) replaced by ``raise NotImplementedError``."""
    kept = [*lines[: method.code[0]], method.indent + STUB, *lines[method.code[1] + 1 :]]
    return "\n".join(kept) + "\n"


def _joined(lines: list[str], start: int, end: int) -> str:
    return "\n".join(lines[start : end + 1])


def _without(lines: list[str], start: int, end: int) -> str:
    return "\n".join(lines[:start] + lines[end + 1 :])


def record_fields(method: Method, text: str) -> dict[str, Any]:
    """The task record's fields that the file and the method give (the seed's names)."""
    lines = text.splitlines()
    first, last = method.declaration[0], method.body[1]
    class_code = class_without_method = ""
    if method.class_span:
        class_code = _joined(lines, *method.class_span)
        class_lines = lines[method.class_span[0] : method.class_span[1] + 1]
        class_without_method = _without(class_lines, first - method.class_span[0], last - method.class_span[0])
    ending = "\n" if text.endswith("\n") else ""
    return {
        "task_id": method.task_id,
        "file_path": method.file_path,
        "class_name": method.class_name,
        "class_code": class_code,
        "class_without_method": class_without_method,
        "raw_file_content": text,
        "file_without_method": _without(lines, first, last) + ending,
        "method": {
            "name": method.name,
            "declaration": _joined(lines, *method.declaration),
            "body": _joined(lines, *method.body),
            "description": method.description,
            "global_method_declaration_index": list(method.declaration),
            "global_method_body_index": list(method.body),
        },
    }


def packages(tree: Path) -> list[str]:
    """The tree's top-level packages (at its root, or under src/), relative to the root: what is
    mined and measured (a repository's docs, scripts and tests folders are not packages)."""
    roots = [tree / "src"] if (tree / "src").is_dir() else [tree]
    found = (folder for root in roots for folder in root.iterdir() if (folder / "__init__.py").is_file())
    return sorted(str(folder.relative_to(tree)) for folder in found if folder.name not in TEST_FOLDERS)


def source_files(tree: Path) -> list[str]:
    """The files a repository's methods are mined from: its packages' modules, not their tests."""
    kept = []
    for package in packages(tree):
        for path in (tree / package).rglob("*.py"):
            parts = path.relative_to(tree).parts
            test = parts[-1].startswith("test_") or parts[-1].endswith("_test.py") or parts[-1] == "conftest.py"
            if not TEST_FOLDERS & set(parts[:-1]) and not test:
                kept.append("/".join(parts))
    return sorted(kept)
