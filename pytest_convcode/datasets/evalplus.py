"""HumanEval+ and MBPP+ in EvalPlus's release format.

MBPP+ stores tuples, sets and complex numbers as JSON lists and strings; the
per-task conversions below restore the argument types the reference solutions
expect (the same conversions EvalPlus applies when it loads the file), and a few
tasks are judged by a special rule rather than by equality.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..tasks import Dataset, Task
from .files import DATA_DIR, DatasetError, read_tasks, require
from .registry import DATASETS, DatasetEntry, DataSource

Args = list[Any]


def _deep_tuple(value: Any) -> Any:
    return tuple(_deep_tuple(v) for v in value) if isinstance(value, list) else value


def _tuples(args: Args) -> Args:
    return [tuple(a) for a in args]


def _nested_tuples(args: Args) -> Args:
    return [[tuple(x) for x in a] for a in args]


# MBPP+ task number -> conversion of one argument list
_MBPP_ARGUMENTS: dict[int, Callable[[Args], Any]] = {}
for _numbers, _convert in [
    (
        (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740, 744, 809),
        _tuples,
    ),
    ((63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780), _nested_tuples),
    ((75, 413, 444, 753), lambda a: [[tuple(x) for x in a[0]], a[1]]),
    ((106, 750), lambda a: [a[0], tuple(a[1])]),
    ((115,), lambda a: [[set(x) if isinstance(x, list) and x else {} for x in a[0]]]),
    ((124,), lambda a: (float(a[0]), complex(a[1]))),
    ((250, 405, 446, 617, 720, 763, 808), lambda a: [tuple(a[0]), a[1]]),
    ((259, 401, 445), lambda a: [tuple(tuple(x) for x in arg) for arg in a]),
    ((278,), lambda a: [tuple(tuple(x) if isinstance(x, list) else x for x in a[0])]),
    ((307,), lambda a: [tuple(a[0]), a[1], a[2]]),
    ((722,), lambda a: [{k: tuple(v) for k, v in a[0].items()}, *a[1:]]),
    ((252,), lambda a: [complex(a[0])]),
    ((580, 615, 791), _deep_tuple),
]:
    for _number in _numbers:
        _MBPP_ARGUMENTS[_number] = _convert

# Entry points judged by a rule of their own (see judge.ORACLES).
_MBPP_ORACLES = {
    "are_equivalent": "any",  # Mbpp/164: the reference is ambiguous
    "sum_div": "exact_or_zero",  # Mbpp/295
    "surface_Area": "pyramid_surface",  # Mbpp/581
    "digit_distance_nums": "digit_distance",  # Mbpp/558
    "check_str": "not_none",
    "text_match_three": "not_none",
    "text_starta_endb": "not_none",
    **dict.fromkeys(
        [
            "similar_elements",
            "find_char_long",
            "common_in_nested_lists",
            "extract_singly",
            "larg_nnum",
            "intersection_array",
            "find_dissimilar",
            "Diff",
        ],
        "set",
    ),
}
_HUMANEVAL_ORACLES = {"find_zero": "poly_root"}  # HumanEval/32: any root is right


@dataclass(frozen=True)
class _Release:
    name: str
    suite: str
    files: dict[str, str]  # version -> bundled file
    oracles: dict[str, str]
    convert_arguments: Callable[[str, Args], Any] | None = None

    @property
    def default_version(self) -> str:
        return next(iter(self.files))

    def from_source(self, source: DataSource) -> Dataset:
        return self.load(source.version, source.path)

    def load(self, version: str | None, path: Path | None) -> Dataset:
        version = (version or self.default_version).removeprefix("v")
        if path is None:
            if version not in self.files:
                known = ", ".join(self.files)
                raise DatasetError(f"{self.name} has no bundled version {version!r}; bundled: {known}")
            path = DATA_DIR / self.files[version]
        tasks = read_tasks(path, self._task)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return Dataset(self.name, self.suite, version, str(path), digest, tasks, guard="evalplus")

    def _task(self, record: dict[str, Any], where: str) -> Task:
        task_id = require(record, "task_id", str, where)
        entry_point = require(record, "entry_point", str, where)
        tests = {}
        for phase in ("base", "plus"):
            calls = require(record, f"{phase}_input", (list, dict), where)
            if calls and isinstance(calls, dict):
                raise DatasetError(f"{where}: field '{phase}_input' must be a list of argument lists")
            tests[phase] = calls or []  # MBPP+ 0.2.0 writes {} for "no plus tests" (Mbpp/793)
        for phase, calls in tests.items():
            for i, args in enumerate(calls):
                if not isinstance(args, list):
                    raise DatasetError(f"{where}: {phase}_input[{i}] must be a list of arguments")
            if self.convert_arguments is not None:
                tests[phase] = [self.convert_arguments(task_id, args) for args in calls]
        return Task(
            task_id=task_id,
            prompt=require(record, "prompt", str, where),
            entry_point=entry_point,
            canonical_solution=require(record, "canonical_solution", str, where),
            tests=tests,
            atol=float(require(record, "atol", (int, float), where)),
            oracle=self.oracles.get(entry_point, "exact"),
        )


def _mbpp_arguments(task_id: str, args: Args) -> Any:
    number = int(task_id.rsplit("/", 1)[-1])
    convert = _MBPP_ARGUMENTS.get(number)
    return convert(args) if convert else args


HUMANEVAL_PLUS = _Release(
    "HumanEval+",
    "humaneval",
    {"0.1.10": "HumanEvalPlus-v0.1.10.jsonl.gz", "0.1.9": "HumanEvalPlus-v0.1.9.jsonl.gz"},
    _HUMANEVAL_ORACLES,
)
MBPP_PLUS = _Release(
    "MBPP+",
    "mbpp",
    {"0.2.0": "MbppPlus-v0.2.0.jsonl.gz", "0.1.0": "MbppPlus-v0.1.0.jsonl.gz"},
    _MBPP_ORACLES,
    _mbpp_arguments,
)
DATASETS.register("humaneval")(DatasetEntry("calls", HUMANEVAL_PLUS.from_source))
DATASETS.register("mbpp")(DatasetEntry("calls", MBPP_PLUS.from_source))
