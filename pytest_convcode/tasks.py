"""What a benchmark problem is, independent of where it came from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class Problem(Protocol):
    """What a model needs of a task, whatever tests it: ``Task`` and ``UnitTask`` are both one."""

    @property
    def task_id(self) -> str: ...

    @property
    def prompt(self) -> str:
        """The code a completion continues; a chat answer's missing imports come from it."""
        ...

    @property
    def entry_point(self) -> str: ...

    @property
    def canonical_solution(self) -> str:
        """The reference, as a continuation of ``prompt``."""
        ...

    def program(self, completion: str) -> str: ...


@dataclass(frozen=True)
class Task:
    """One problem: a prompt, a reference solution, and the calls that test it.

    ``tests`` maps a phase ("base", "plus") to argument lists; the expected
    outputs are not stored: they come from running ``canonical_solution``.
    """

    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    tests: Mapping[str, Sequence[Any]] = field(repr=False)
    atol: float = 0.0
    oracle: str = "exact"  # how outputs are compared; see judge.ORACLES

    def program(self, completion: str) -> str:
        """The program for a prompt continuation (EvalPlus's ``completion``)."""
        return self.prompt + completion


@dataclass(frozen=True)
class Dataset:
    name: str  # "HumanEval+"
    suite: str  # "humaneval": the suite folder and metric prefix
    version: str
    source: str  # the file it was read from
    digest: str  # sha256 of that file: ground-truth caches are keyed by it
    tasks: Mapping[str, Task] = field(repr=False)
    guard: str | None = None  # sandbox guard profile its evaluator uses


@dataclass(frozen=True)
class UnitTask:
    """A problem whose hidden tests are code: a unittest module (BigCodeBench).

    A candidate program runs with ``test`` appended as one module; the verdict is
    that of the ``TestCases`` class in it.
    """

    task_id: str
    instruct_prompt: str  # the natural-language task (ConvCodeWorld's turn-0 prompt)
    complete_prompt: str  # imports, signature and docstring: the program a completion continues
    code_prompt: str  # imports and signature only
    canonical_solution: str  # the body that completes ``complete_prompt``
    test: str = field(repr=False)  # the unittest module source
    entry_point: str = "task_func"
    libs: tuple[str, ...] = ()  # top-level modules the task uses, as its authors listed them

    @property
    def prompt(self) -> str:
        return self.complete_prompt

    def program(self, completion: str) -> str:
        """The program for a continuation of ``complete_prompt``."""
        return self.complete_prompt + completion

    @property
    def reference_program(self) -> str:
        return self.program(self.canonical_solution)


@dataclass(frozen=True)
class UnitDataset:
    """A data set of ``UnitTask``: the same description as ``Dataset``."""

    name: str
    suite: str
    version: str
    source: str
    digest: str
    tasks: Mapping[str, UnitTask] = field(repr=False)
