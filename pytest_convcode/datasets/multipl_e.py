"""MultiPL-E: HumanEval translated to 19 languages (and C# with fixed tests, ``cs-bu``), as the
DeepSeek-Coder and Qwen2.5-Coder evaluation kits use it (``data/README.md``).

A task is one problem in one language: its id names both (``HumanEval_23_strlen-java``), so that
one run may hold every language. The model continues ``prompt`` (completion style, cut at the
task's stop tokens); the tests are appended to the result, and the program passes when it
compiles, runs and passes them (``languages``). MultiPL-E has no reference solutions: its
validity comes from published verdicts (``bench/multipl_e_replay.py``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..languages.catalog import JAVATUPLES, LANGUAGES
from .files import DATA_DIR, DatasetError, read_tasks, require
from .registry import DATASETS, DatasetEntry, DataSource

SUITE = "multipl_e"
VERSION = "a4ba628"  # DeepSeek-Coder's commit that last changed the files (the Qwen2.5-Coder kit's are the same)
# HumanEval in Python comes in HumanEval-X's format, without stop tokens: the kit's own for Python
PYTHON_STOPS = ("\ndef", "\nclass", "\nif", "\n#", "\nprint")
_FILE = re.compile(r"humaneval-([\w-]+)\.jsonl(?:\.gz)?$")


@dataclass(frozen=True)
class ProgramTask:
    """A problem in one language (a ``tasks.Problem``). ``program`` is the code before the tests:
    the prompt and its continuation."""

    task_id: str  # "HumanEval_23_strlen-java"
    name: str  # "HumanEval_23_strlen": the problem, the same in every language
    language: str
    prompt: str
    tests: str = field(repr=False)
    stop_tokens: tuple[str, ...]
    entry_point: str  # the function the prompt declares ("strlen"; "Strlen" in C#)
    canonical_solution: str = ""  # MultiPL-E has none

    def program(self, completion: str) -> str:
        return self.prompt + completion


@dataclass(frozen=True)
class ProgramDataset:
    name: str
    suite: str
    version: str
    source: str
    digest: str
    tasks: Mapping[str, ProgramTask] = field(repr=False)

    def languages(self) -> list[str]:
        return list(dict.fromkeys(task.language for task in self.tasks.values()))


def load(path: Path | None = None) -> ProgramDataset:
    """Every bundled language, or the one data file at ``path`` (named ``humaneval-<lang>.jsonl``)."""
    paths = [path] if path is not None else [DATA_DIR / language.data_file for language in LANGUAGES.values()]
    tasks: dict[str, ProgramTask] = {}
    digest = hashlib.sha256()
    for file in paths:
        match = _FILE.search(file.name)
        if match is None or match[1] not in LANGUAGES:
            raise DatasetError(f"{file}: a MultiPL-E data file is named humaneval-<language>.jsonl[.gz]")
        tasks.update(read_tasks(file, functools.partial(_task, language=match[1])))
        digest.update(file.read_bytes())
    source = str(path) if path is not None else str(DATA_DIR / "humaneval-*.jsonl.gz")
    return ProgramDataset("MultiPL-E", SUITE, VERSION, source, digest.hexdigest(), tasks)


DATASETS.register(SUITE)(DatasetEntry("programs", lambda source: _load_source(source)))


def _load_source(source: DataSource) -> ProgramDataset:
    if source.version not in (None, VERSION):
        raise DatasetError(f"MultiPL-E has no bundled version {source.version!r}; bundled: {VERSION}")
    return load(source.path)


def _task(record: dict[str, Any], where: str, language: str) -> ProgramTask:
    prompt = require(record, "prompt", str, where)
    if language == "python":  # HumanEval-X's fields: Python/0, test (with its check call), declaration
        number = require(record, "task_id", str, where).rpartition("/")[2]
        entry = _declared(require(record, "declaration", str, where), r"def\s+(\w+)")
        name, tests, stops = f"HumanEval_{number}_{entry}", require(record, "test", str, where), PYTHON_STOPS
    else:
        name = require(record, "name", str, where)
        tests = require(record, "tests", str, where)
        stops = tuple(require(record, "stop_tokens", list, where))
        entry = _entry_point(prompt, name)
    return ProgramTask(f"{name}-{language}", name, language, prompt, tests, stops, entry)


def _entry_point(prompt: str, name: str) -> str:
    """The prompt's function: the last identifier in it that is the problem's name, whatever its
    case and underscores (``has_close_elements`` is ``hasCloseElements`` in Java)."""
    wanted = name.split("_", 2)[-1].replace("_", "").lower()
    found = [word for word in re.findall(r"\w+", prompt) if word.replace("_", "").lower() == wanted]
    return found[-1] if found else name.split("_", 2)[-1]


def _declared(text: str, pattern: str) -> str:
    found = re.findall(pattern, text)
    return found[-1] if found else ""


def support_files() -> dict[str, bytes]:
    """The bundled files the languages' jobs need beside their program: the javatuples jar."""
    return {JAVATUPLES: (DATA_DIR / JAVATUPLES).read_bytes()}
