"""Code reasoning data sets: CRUXEval (bundled) and CodeGlance (the user's copy).

Both ask a model what a short program does rather than to write one: predict the
value a call returns (output mode) or arguments that make it return a given value
(input mode). A task keeps the expected value as Python source, as its authors
wrote it, because that is what their evaluators put into ``assert``.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

from ..errors import UsageError
from .files import DATA_DIR, DatasetError, read_jsonl, require
from .registry import DATASETS, DatasetEntry, DataSource

Mode = Literal["output", "input"]
PromptStyle = Literal["direct", "cot", "rag"]
MODES: tuple[Mode, ...] = ("output", "input")
STYLES: tuple[PromptStyle, ...] = ("direct", "cot", "rag")

P = ParamSpec("P")
R = TypeVar("R")
PLACEHOLDER = "<ground_truth>"  # where CodeGlance's ``test`` wants the predicted value
CRUXEVAL_FILE = DATA_DIR / "cruxeval.jsonl.gz"
CRUXEVAL_VERSION = "1.0"  # upstream has no versions; the file is unchanged since its first release (2024-01-03)

# Columns that are not code features: the task's text and identity in either schema.
_KNOWN_COLUMNS = frozenset({"ID", "id", "code", "test", "result", "input", "output"})
_RAG_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")


@dataclass(frozen=True)
class ApiDoc:
    """Documentation of one library API, retrieved for a task (CodeGlance's RAG setting)."""

    api_path: str  # "pandas.DataFrame.where"
    api_signature: str = ""
    api_description: str = ""


@dataclass(frozen=True)
class ReasoningTask:
    """One program to reason about.

    ``test`` is the assertion the model completes in output mode, with ``PLACEHOLDER``
    where the value goes: CodeGlance's own (after lines that set up its arguments), or
    ``assert f(<input>) == <ground_truth>`` built for CRUXEval. ``input`` is None where
    input prediction is impossible (CodeGlance's own sets have no argument list).
    """

    task_id: str
    code: str
    result: str  # the expected value, as Python source
    test: str = field(repr=False)
    input: str | None = None
    features: Mapping[str, float] = field(default_factory=dict, repr=False, hash=False)  # a dict: not hashable
    apis: tuple[ApiDoc, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class ReasoningDataset:
    name: str  # "CRUXEval", "PanNumEval"
    suite: str  # "cruxeval" or "codeglance"
    version: str
    source: str  # the file it was read from
    digest: str  # sha256 of that file's bytes
    tasks: Mapping[str, ReasoningTask] = field(repr=False)
    modes: tuple[Mode, ...] = ("output",)
    rag_source: str | None = None  # the RAG file the tasks' ``apis`` came from
    skipped: tuple[str, ...] = ()  # malformed records left out (``skip_malformed``), one message each


def untrusted_source(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` with the parser's warnings about the source it reads silenced (invalid
    escapes...): that source is the data set's or the model's, not the harness's."""

    @functools.wraps(func)
    def quiet(*args: P.args, **kwargs: P.kwargs) -> R:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return func(*args, **kwargs)

    return quiet


# ---------------------------------------------------------------- loaders


def load_cruxeval(path: Path | None = None) -> ReasoningDataset:
    """CRUXEval's 800 functions: the bundled copy (MIT) unless ``path`` names another.

    A file in the same schema with extra numeric columns (CodeGlance's annotated
    CRUXEval) loads too, its columns becoming the tasks' features.
    """
    path = CRUXEVAL_FILE if path is None else path
    tasks, _, schema = _read_tasks(path, skip_malformed=False)
    if schema != "cruxeval":
        raise DatasetError(f"{path}: holds CodeGlance records (ID, test, result): load it with load_codeglance()")
    return ReasoningDataset("CRUXEval", "cruxeval", CRUXEVAL_VERSION, str(path), _digest(path), tasks, MODES)


def load_codeglance(path: Path, rag_path: Path | None = None, *, skip_malformed: bool = False) -> ReasoningDataset:
    """A CodeGlance file (``<Set>_reasoning.jsonl[.gz]``), with its RAG documents when found.

    The sets are not bundled (their licence is unstated), so ``path`` is the user's
    copy. Its own sets (ID, code, test, result) are output prediction only; the
    annotated CRUXEval file (id, code, input, output) allows both modes. Without
    ``rag_path`` the RAG file is looked for beside the data file, as
    ``<Set>_RAG_result_total.json`` (or ``.json.gz``, ``.jsonl``, ``.jsonl.gz``).

    A malformed record is a DatasetError naming every bad line, unless
    ``skip_malformed``: then those tasks are left out and listed in ``skipped``
    (the published DS1000 and torchdata files each hold one test without a
    placeholder).
    """
    tasks, skipped, schema = _read_tasks(path, skip_malformed)
    if rag_path is None:
        rag_path = _rag_beside(path)
    if rag_path is not None:
        docs = read_rag(rag_path)
        if docs and not docs.keys() & tasks.keys():
            raise DatasetError(f"{rag_path}: none of its IDs is a task of {path}: is it the RAG file of another set?")
        tasks = {tid: _with_apis(task, docs.get(tid, ())) for tid, task in tasks.items()}
    modes: tuple[Mode, ...] = MODES if schema == "cruxeval" else ("output",)
    name = _set_name(path)
    digest = _digest(path)
    rag_source = str(rag_path) if rag_path is not None else None
    return ReasoningDataset(
        name, "codeglance", digest[:12], str(path), digest, tasks, modes, rag_source, tuple(skipped)
    )


def _with_apis(task: ReasoningTask, apis: tuple[ApiDoc, ...]) -> ReasoningTask:
    return dataclasses.replace(task, apis=apis)


def _set_name(path: Path) -> str:
    """The set's name as the CodeGlance paper uses it: PanNumEval for PanNumEval_reasoning.jsonl.gz."""
    stem = path.name.removesuffix(".gz").removesuffix(".jsonl").removesuffix(".json")
    return stem.removesuffix("_reasoning") or stem


def _rag_beside(path: Path) -> Path | None:
    stem = path.name.removesuffix(".gz").removesuffix(".jsonl")
    if not stem.endswith("_reasoning"):
        return None
    base = stem.removesuffix("_reasoning") + "_RAG_result_total"
    for suffix in _RAG_SUFFIXES:
        candidate = path.with_name(base + suffix)
        if candidate.is_file():
            return candidate
    return None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- records


def _read_tasks(path: Path, skip_malformed: bool) -> tuple[dict[str, ReasoningTask], list[str], str]:
    """The tasks by id, the messages of malformed records left out, and the file's schema
    ("cruxeval" or "codeglance", decided by its first record)."""
    tasks: dict[str, ReasoningTask] = {}
    problems: list[str] = []
    schema = ""
    for lineno, record in read_jsonl(path):
        where = f"{path}:{lineno}"
        schema = schema or ("codeglance" if "ID" in record or "test" in record else "cruxeval")
        try:
            task = _cruxeval_task(record, where) if schema == "cruxeval" else _codeglance_task(record, where)
        except DatasetError as exc:
            problems.append(str(exc))
            continue
        if task.task_id in tasks:
            raise DatasetError(f"{where}: task id {task.task_id!r} appears twice")
        tasks[task.task_id] = task
    if problems and not skip_malformed:
        more = f"\n(and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise DatasetError("\n".join(problems[:5]) + more)
    if not tasks:
        raise DatasetError(f"{path}: holds no tasks")
    return tasks, problems, schema


def _cruxeval_task(record: dict[str, Any], where: str) -> ReasoningTask:
    task_id = _text(record, "id", where)
    code = _code(record, where)
    arguments = require(record, "input", str, where)  # may be "" (a call with no arguments)
    result = _text(record, "output", where)
    call = f"f({arguments})"
    _expression(call, "input", where, "an argument list, as it would appear between f( and )")
    return ReasoningTask(task_id, code, result, f"assert {call} == {PLACEHOLDER}", arguments, _features(record, where))


def _codeglance_task(record: dict[str, Any], where: str) -> ReasoningTask:
    if isinstance(record.get("ID"), int) and not isinstance(record["ID"], bool):
        record = record | {"ID": str(record["ID"])}  # a numeric ID names the task all the same
    task_id = _text(record, "ID", where)
    code = _code(record, where)
    test = require(record, "test", str, where)
    if PLACEHOLDER not in test:
        raise DatasetError(
            f"{where}: field 'test' has no {PLACEHOLDER} placeholder, so the model cannot be asked to fill it in: "
            f"write the assertion as `assert <expression> == {PLACEHOLDER}`, or remove the record"
        )
    result = require(record, "result", str, where)  # kept even when it is not valid Python: the judge says so
    return ReasoningTask(task_id, code, result, test, None, _features(record, where))


def _text(record: dict[str, Any], name: str, where: str) -> str:
    value: str = require(record, name, str, where)
    if not value.strip():
        raise DatasetError(f"{where}: field {name!r} is empty")
    return value


def _code(record: dict[str, Any], where: str) -> str:
    """The program; one that does not compile is kept (16 of DS1000's do not): its
    questions are judged environment errors, as the data's fault, not the model's."""
    return _text(record, "code", where)


@untrusted_source
def _expression(text: str, name: str, where: str, what: str) -> None:
    try:
        compile(text, f"{where}:{name}", "eval", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        raise DatasetError(f"{where}: field {name!r} must be {what} ({exc})") from None


def _features(record: dict[str, Any], where: str) -> dict[str, float]:
    """Every numeric column other than the task's own fields: code_lines, cyclomatic_complexity..."""
    features: dict[str, float] = {}
    for name, value in record.items():
        if name in _KNOWN_COLUMNS or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not math.isfinite(value):
            raise DatasetError(f"{where}: feature {name!r} is {value}, not a finite number")
        features[name] = value
    return features


# ---------------------------------------------------------------- RAG documents


def read_rag(path: Path) -> dict[str, tuple[ApiDoc, ...]]:
    """CodeGlance's retrieved API documents by task ID.

    The file is a JSON array (the published ones are named ``.jsonl`` all the same;
    JSON lines are read too), optionally gzipped, of ``{ID, matches: [{query,
    results: [{api_path, api_signature, api_description, ...}]}]}``. It holds bare
    ``NaN`` where a field is missing, which Python's json reads as a float: any field
    that is not a string counts as absent. An API matched by several queries is kept once.
    """
    items = _json_records(path)
    docs: dict[str, tuple[ApiDoc, ...]] = {}
    for i, item in enumerate(items):
        where = f"{path}: item {i}"
        if not isinstance(item, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(item).__name__}")
        task_id = item.get("ID")
        if isinstance(task_id, int) and not isinstance(task_id, bool):
            task_id = str(task_id)
        if not isinstance(task_id, str):
            raise DatasetError(f"{where}: field 'ID' must be str, got {type(task_id).__name__}")
        matches = require(item, "matches", list, where)
        found: dict[str, ApiDoc] = {}
        for j, match in enumerate(matches):
            results = match.get("results") if isinstance(match, dict) else None
            if not isinstance(results, list):
                raise DatasetError(f"{where}: matches[{j}] must be an object with a 'results' list")
            for result in results:
                if not isinstance(result, dict):
                    raise DatasetError(f"{where}: matches[{j}].results holds a {type(result).__name__}, not an object")
                api_path = _string(result.get("api_path"))
                if api_path and api_path not in found:
                    found[api_path] = ApiDoc(
                        api_path, _string(result.get("api_signature")), _string(result.get("api_description"))
                    )
        docs[task_id] = tuple(found.values())
    return docs


def _string(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _json_records(path: Path) -> list[Any]:
    text = _read_text(path)
    try:
        data = json.loads(text)
    except ValueError as whole:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            raise DatasetError(f"{path}: neither a JSON array nor JSON lines ({whole})") from None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON array, got a JSON {type(data).__name__}")
    return data


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from None


# ---------------------------------------------------------------- published generations


def read_generations(path: Path) -> dict[str, list[str]]:
    """A generations file in CRUXEval's and CodeGlance's format: ``{"sample_<i>": ["pred", ...]}``.

    Their evaluators read exactly this (a JSON object of task id to a list of
    answers, one per sample), so published model outputs can be scored here.
    """
    text = _read_text(path)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(
            f"{path}: expected a JSON object of task id -> list of answers "
            f'(e.g. {{"sample_0": ["..."]}}), got a JSON {type(data).__name__}'
        )
    generations: dict[str, list[str]] = {}
    for task_id, answers in data.items():
        if not isinstance(answers, list):
            raise DatasetError(f"{path}: {task_id!r} must map to a list of strings, got {type(answers).__name__}")
        for i, answer in enumerate(answers):
            if not isinstance(answer, str):
                raise DatasetError(f"{path}: {task_id!r}[{i}] must be a string, got {type(answer).__name__}")
        generations[task_id] = list(answers)
    if not generations:
        raise DatasetError(f"{path}: holds no generations")
    return generations


def _codeglance_from(source: DataSource) -> ReasoningDataset:
    if source.path is None:
        raise UsageError(
            "codeglance needs --dataset-path: a CodeGlance set (e.g. DS1000_reasoning.jsonl) from your copy of the "
            "CodeGlance repository; its licence is unstated, so pytest-convcode does not bundle them"
        )
    # The published sets hold a few records that cannot be asked (a test without its placeholder):
    # DS1000 and torchdata one each. They are left out with a note rather than stopping the run.
    return load_codeglance(source.path, source.rag_path, skip_malformed=True)


DATASETS.register("cruxeval")(DatasetEntry("reasoning", lambda source: load_cruxeval(source.path)))
DATASETS.register("codeglance")(DatasetEntry("reasoning", _codeglance_from))
