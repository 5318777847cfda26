"""Repository tasks: one method of a real repository, judged by the repository's own tests.

A record (``RepoTask``) holds the file the method lives in, the method's line spans in it, its
description (the docstring), the tests that cover it and, for program repair, the file with a bug
injected into the method and the failing tests' output. Two sources share the field names: our
miner's JSON lines (``python -m pytest_convcode.mine``) and the seed's data set
(``anonauthor/django_multi_task``: a parquet file or ``hf:NAME``, read through ``datasets``), which
lacks ``task_id`` and ``repo`` (derived here) and ``buggy_method`` (cut out of its buggy file).

Every answer is spliced into the original file at the method's ``def`` line: the original's
decorators stay, so that a model need not (and cannot) change them.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from ..datasets import DATASETS, DatasetEntry, DataSource
from ..datasets.files import DatasetError, collect_tasks, read_jsonl, require
from ..datasets.hub import HubSpec, load_rows
from ..errors import UsageError

SEED_REPO = "django==4.0.4"  # the seed's data set was made on Django 4.0.4 and names no repository
SEED_SPLIT = "test"
MAX_TESTS = 20  # the seed's max_num_tests: the covering tests run per answer, fastest first
DEF = re.compile(r"\s*(?:async\s+)?def\s")
FORMS = "our JSON lines (python -m pytest_convcode.mine), the seed's parquet file, or hf:NAME[@SPLIT]"


@dataclass(frozen=True)
class Method:
    name: str
    declaration: str
    body: str
    description: str
    declaration_span: tuple[int, int]  # 0-based inclusive lines of the file; from the first decorator
    body_span: tuple[int, int]


@dataclass(frozen=True)
class RepoTask:
    task_id: str  # "django/utils/text.py::Truncator.chars"
    repo: str  # the repository spec its environment is made from: "django==4.0.4"
    file_path: str  # relative to the source tree's root
    class_name: str  # "" for a module-level function
    method: Method
    tests: tuple[str, ...]  # the covering tests' labels, fastest first
    time_test_norm: float  # seconds those tests took with the original method
    raw_file_content: str = field(repr=False)
    class_without_method: str = field(repr=False)
    file_without_method: str = field(repr=False)
    file_with_buggy_method: str = field(default="", repr=False)
    buggy_method: str = field(default="", repr=False)
    mutation: str = ""  # what the bug changed, for a person
    test_error_message: str = field(default="", repr=False)

    @cached_property
    def lines(self) -> list[str]:
        return self.raw_file_content.splitlines(keepends=True)

    @cached_property
    def def_line(self) -> int:
        """The method's ``def`` line: where an answer is spliced in (decorators above it stay)."""
        start, end = self.method.declaration_span
        return next(n for n in range(start, end + 1) if DEF.match(self.lines[n]))

    @property
    def end_line(self) -> int:
        return self.method.body_span[1]

    @property
    def indent(self) -> str:
        line = self.lines[self.def_line]
        return line[: len(line) - len(line.lstrip())]

    @property
    def source(self) -> str:
        """The original method from its ``def`` line, indented as in the file: the ground truth."""
        return "".join(self.lines[self.def_line : self.end_line + 1])

    @property
    def labels(self) -> tuple[str, ...]:
        return self.tests[:MAX_TESTS]

    @property
    def repairable(self) -> bool:
        return bool(self.buggy_method and self.test_error_message)

    def with_method(self, method: str) -> str:
        """The file with the method (from ``def``, indented for the file) in place of the original's."""
        new = method if method.endswith("\n") else method + "\n"
        return "".join([*self.lines[: self.def_line], new, *self.lines[self.end_line + 1 :]])

    @cached_property
    def completion_split(self) -> int:
        """Where completion cuts the method: after its declaration, its docstring and half of the
        non-empty lines of code that follow (rounded down), so that the model writes the other half."""
        head = self._docstring_end()
        code = [n for n in range(head + 1, self.end_line + 1) if self.lines[n].strip()]
        keep = len(code) // 2
        return code[keep - 1] + 1 if keep else head + 1

    @property
    def completion_prefix(self) -> str:
        return "".join(self.lines[self.def_line : self.completion_split])

    @property
    def completion_target(self) -> str:
        """The rest of the method, as completion's ground truth."""
        return "".join(self.lines[self.completion_split : self.end_line + 1])

    def _docstring_end(self) -> int:
        """The last line of the declaration, or of the docstring after it."""
        node = _function_at(self.raw_file_content, self.def_line + 1)
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            return (first.end_lineno or first.lineno) - 1
        return first.lineno - 2


def _function_at(source: str, lineno: int) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.lineno == lineno:
            return node
    raise ValueError(f"no function is defined at line {lineno}")


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class RepoTaskSet:
    """A file (or hub data set) of repository tasks, as every data set describes itself."""

    source: str
    digest: str
    tasks: dict[str, RepoTask] = field(repr=False)
    name: str = "repository tasks"
    suite: str = "repotasks"

    @property
    def version(self) -> str:
        """The repositories the tasks come from: "django==4.0.4"."""
        return ", ".join(sorted({task.repo for task in self.tasks.values()}))


def load_repo_tasks(spec: str) -> RepoTaskSet:
    """``--repo-tasks``: our JSON lines, the seed's parquet file, or ``hf:NAME[@SPLIT]`` (split
    "test" by default); a one-line DatasetError naming the file, line and field at fault."""
    if spec.startswith("hf:"):
        name, _, split = spec.removeprefix("hf:").partition("@")
        try:
            hub = load_rows(HubSpec(spec, name, split or SEED_SPLIT, None))
        except UsageError as exc:  # its messages name --dataset, the option that shares the reader
            raise UsageError("--repo-tasks" + str(exc).removeprefix("--dataset")) from None
        return RepoTaskSet(spec, hub.digest, _tasks(((f"{spec} row {n}", r) for n, r in enumerate(hub.rows)), spec))
    path = Path(spec)
    if not path.is_file():
        raise UsageError(f"--repo-tasks {spec}: no such file; give {FORMS}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if path.suffix == ".parquet":
        rows = _parquet_rows(path)
        return RepoTaskSet(spec, digest, _tasks(((f"{path} row {n}", r) for n, r in enumerate(rows)), spec))
    return RepoTaskSet(spec, digest, _tasks(((f"{path}:{n}", r) for n, r in read_jsonl(path)), spec))


def _tasks(rows: Iterable[tuple[str, dict[str, Any]]], source: str) -> dict[str, RepoTask]:
    """Tasks by id; a seed row's derived id that repeats (a property's getter and setter) gets its line."""
    seen: set[str] = set()

    def parse(row: dict[str, Any], where: str) -> RepoTask:
        task = task_from_row(row, where)
        if "task_id" not in row and task.task_id in seen:
            task = replace(task, task_id=f"{task.task_id}@{task.def_line + 1}")
        seen.add(task.task_id)
        return task

    return collect_tasks(rows, parse, source)


def task_from_row(row: dict[str, Any], where: str) -> RepoTask:
    """One record of either source, checked: its spans must lie in its file and hold a ``def``."""
    text = {name: require(row, name, str, where) for name in ("file_path", "raw_file_content")}
    method_row = require(row, "method", dict, where)
    tests_row = require(row, "tests", dict, where)
    method = Method(
        **{name: require(method_row, name, str, f"{where}: method") for name in _METHOD_TEXT},
        declaration_span=_span(method_row, "global_method_declaration_index", where),
        body_span=_span(method_row, "global_method_body_index", where),
    )
    class_name = row.get("class_name") or ""
    qualified = f"{class_name}.{method.name}" if class_name else method.name
    file_with_bug = _optional(row, "file_with_buggy_method", where)
    task = RepoTask(
        task_id=_optional(row, "task_id", where) or f"{text['file_path']}::{qualified}",
        repo=_optional(row, "repo", where) or SEED_REPO,
        file_path=text["file_path"],
        class_name=class_name,
        method=method,
        tests=tuple(_labels(tests_row, where)),
        time_test_norm=float(require(tests_row, "time_test_norm", (int, float), f"{where}: tests")),
        raw_file_content=text["raw_file_content"],
        class_without_method=_optional(row, "class_without_method", where),
        file_without_method=_optional(row, "file_without_method", where),
        file_with_buggy_method=file_with_bug,
        buggy_method=_optional(row, "buggy_method", where),
        mutation=_optional(row, "mutation", where),
        test_error_message=_optional(row, "test_error_message", where),
    )
    _check_spans(task, where)
    if file_with_bug and not task.buggy_method:
        task = _with_buggy_method(task, where)
    return task


_METHOD_TEXT = ("name", "declaration", "body", "description")


def _optional(row: dict[str, Any], name: str, where: str) -> str:
    return require(row, name, str, where) if row.get(name) is not None else ""


def _span(method: dict[str, Any], name: str, where: str) -> tuple[int, int]:
    value = method.get(name)
    if not isinstance(value, list | tuple) or len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise DatasetError(f"{where}: field 'method.{name}' must be [start, end] (0-based line numbers)")
    return int(value[0]), int(value[1])


def _labels(tests: dict[str, Any], where: str) -> list[str]:
    labels = tests.get("full_paths")
    if not isinstance(labels, list | tuple) or not labels or not all(isinstance(t, str) for t in labels):
        raise DatasetError(f"{where}: field 'tests.full_paths' must be a non-empty list of test labels")
    return list(labels)


def _check_spans(task: RepoTask, where: str) -> None:
    (start, end), (body_start, body_end) = task.method.declaration_span, task.method.body_span
    if not 0 <= start <= end < body_start <= body_end < len(task.lines):
        raise DatasetError(
            f"{where}: the method's spans ({start}-{end}, body {body_start}-{body_end}) do not lie in order "
            f"in its file's {len(task.lines)} lines"
        )
    if not any(DEF.match(task.lines[n]) for n in range(start, end + 1)):
        raise DatasetError(f"{where}: no 'def' line in the method's declaration span ({start}-{end})")


def _with_buggy_method(task: RepoTask, where: str) -> RepoTask:
    """The seed's rows: the buggy method cut out of the buggy file, which differs from the
    original only inside the method."""
    buggy = task.file_with_buggy_method.splitlines(keepends=True)
    extra = len(buggy) - len(task.lines)
    after = task.end_line + 1
    if buggy[: task.def_line] != task.lines[: task.def_line] or buggy[after + extra :] != task.lines[after:]:
        raise DatasetError(f"{where}: 'file_with_buggy_method' differs from the file outside the method")
    return replace(task, buggy_method="".join(buggy[task.def_line : after + extra]))


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise UsageError("--repo-tasks: a parquet file needs the datasets library: pip install datasets") from None
    datasets.disable_progress_bars()
    try:
        return [dict(row) for row in datasets.Dataset.from_parquet(str(path))]
    except Exception as exc:  # pyarrow's many kinds: not parquet, truncated
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"--repo-tasks {path}: not a readable parquet file ({message})") from None


def _from_source(source: DataSource) -> RepoTaskSet:
    if source.repo_tasks is None:
        raise UsageError(f"the repository tasks suite needs --repo-tasks: {FORMS}")
    return load_repo_tasks(source.repo_tasks)


DATASETS.register("repotasks")(DatasetEntry("repository", _from_source))
