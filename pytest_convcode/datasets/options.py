"""The command line's data options: which copy of a suite's data set, which of its tasks, and
how they are put to the model."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import UsageError
from ..options import option
from .hub import parse_spec
from .registry import DataSource

# BigCodeBench: the natural-language task or the code to complete; code reasoning: how it is asked
Prompt = Literal["instruct", "complete", "direct", "cot", "rag"]
Subset = Literal["full", "hard", "stdlib"]


def task_ids(value: str) -> frozenset[str]:
    """--tasks: a file of ids (one per line) when such a file exists, else ids separated by commas."""
    path = Path(value)
    text = path.read_text() if path.is_file() else value.replace(",", "\n")
    ids = frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if not ids:
        raise UsageError(f"--tasks {value!r} names no task")
    return ids


@dataclass(frozen=True)
class DataOptions:
    dataset_version: str | None = option(
        "--dataset-version", help="bundled data set version (HumanEval+ 0.1.10 or 0.1.9; MBPP+ 0.2.0 or 0.1.0)"
    )
    dataset_path: Path | None = option(
        "--dataset-path", type=Path, help="a data file of the suite's schema instead of the bundled one"
    )
    dataset: str | None = option(
        "--dataset",
        parse=lambda value: parse_spec(value).text if value else None,
        help="BigCodeBench: a version on the model hub through `datasets`: hf:NAME@VERSION (VERSION: the split, "
        "as BigCodeBench names its versions, e.g. hf:bigcode/bigcodebench@v0.1.4) or hf:NAME@REVISION:SPLIT; "
        "NAME may be a local folder in the hub's layout; offline, from the datasets cache",
    )
    tasks: frozenset[str] | None = option(
        "--tasks",
        parse=lambda value: task_ids(value) if value else None,
        show=sorted,
        help="only these tasks: ids separated by commas, or a file of ids, one per line",
    )
    subset: Subset | None = option(
        "--subset",
        help="BigCodeBench: full (every task, the default), hard (BigCodeBench-Hard's 148) "
        "or stdlib (the tasks needing only the standard library)",
    )
    prompt: Prompt | None = option(
        "--prompt",
        "--split",  # BigCodeBench's name for it
        help="BigCodeBench (--split): the natural-language task (instruct, the default) or the code to complete; "
        "code reasoning: direct (the default), cot (chain of thought) or rag (with the API documentation)",
    )
    calibrate: bool | None = option(
        "--calibrate",
        action=argparse.BooleanOptionalAction,
        help="BigCodeBench: put each task's code prompt (its imports and signature) before the program, as its "
        "evaluator does by default since 0.2 (the default here too); --no-calibrate tests the programs as they are",
    )
    rag_path: Path | None = option(
        "--rag-path",
        type=Path,
        help="CodeGlance: the API documentation file for --prompt rag (default: <Set>_RAG_result_total.json "
        "beside the data file)",
    )
    reference_log: str | None = option(
        "--reference-log",
        help="ConvCodeBench: the frozen reference conversations: a ConvCodeWorld run folder (reports/<run-id>), "
        "an official-format parquet file, or hf:NAME from the model hub",
    )
    languages: tuple[str, ...] | None = option(
        "--language",
        parse=lambda value: tuple(name.strip() for name in value.split(",") if name.strip()),
        show=list,
        help="MultiPL-E: the languages, separated by commas (java,cpp,js), or all "
        "(default: cpp,cs,java,js,php,sh,ts, those the Qwen2.5-Coder kit publishes)",
    )
    repo_tasks: str | None = option(
        "--repo-tasks",
        help="repository tasks: a task file of python -m pytest_convcode.mine, the seed's parquet file, "
        "or hf:NAME[@SPLIT] (e.g. hf:anonauthor/django_multi_task)",
    )

    def __post_init__(self) -> None:
        if self.dataset and (self.dataset_version or self.dataset_path):
            given = "--dataset-version" if self.dataset_version else "--dataset-path"
            raise UsageError(f"--dataset {self.dataset} names the data itself: leave out {given}")

    @property
    def source(self) -> DataSource:
        return DataSource(self.dataset_version, self.dataset_path, self.rag_path, self.dataset, self.repo_tasks)
