"""Execution feedback: which tests failed and how, for all tests (full) or a public few (partial).

Takes per-test outcomes that some sandbox produced; runs nothing itself.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from ..errors import UsageError

Status = Literal["passed", "failed", "error", "skipped", "not_run"]
Rule = Literal["tests", "original"]

LIMIT = 8000  # feedback this long or longer is cut to its head and tail
PUBLIC_COUNT = 3  # tests shown in partial mode
CUT_MARKER = "\n\n[... {cut} characters cut ...]\n\n"
NOT_PASSING: frozenset[str] = frozenset({"failed", "error", "not_run"})
_HEADINGS = {"failed": "FAILED", "error": "ERROR", "not_run": "NOT RUN"}


class OutcomeLike(Protocol):
    """Anything with a test's name, status and detail, e.g. a sandbox's own record type."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def detail(self) -> str: ...


@dataclass(frozen=True)
class Outcome:
    """One test's result: ``detail`` holds its traceback or the reason it did not run."""

    name: str
    status: Status
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in get_args(Status):
            raise ValueError(f"test {self.name!r}: unknown status {self.status!r}; use one of {get_args(Status)}")


OutcomeInput = OutcomeLike | tuple[str, str] | tuple[str, str, str]


def as_outcome(item: OutcomeInput) -> Outcome:
    """An Outcome from a (name, status[, detail]) tuple or an object with those attributes."""
    if isinstance(item, Outcome):
        return item
    if isinstance(item, tuple):
        name, status, *rest = item
        detail = rest[0] if rest else ""
    else:
        name, status, detail = item.name, item.status, item.detail
    return Outcome(name, status, detail or "")  # type: ignore[arg-type]  # checked in __post_init__


@dataclass(frozen=True)
class ExecutionFeedback:
    """Rendered execution feedback, with what a reader of it can tell."""

    text: str
    passed: bool  # no failure visible in this feedback
    shown: tuple[str, ...]  # names of the tests this feedback covers
    failing: tuple[str, ...]  # of those, the ones that did not pass
    run_failed: bool = False  # the run failed as a whole (import error, time-out before any result)


def method_name(test_name: str) -> str:
    """The bare method name in a test id: "test_x (__main__.TestCases.test_x)", "TestCases.test_x"
    and "file.py::TestCases::test_x" all give "test_x"."""
    first = test_name.split()[0] if test_name.strip() else test_name
    return first.replace("::", ".").rsplit(".", 1)[-1]


def truncate(text: str, limit: int = LIMIT) -> str:
    """Cut text of ``limit`` characters or more to its head and tail around a marker.

    The result is shorter than ``limit``, so cutting twice changes nothing. The head keeps the
    first failures' names, the tail the last traceback's error line.
    """
    if len(text) < limit:
        return text
    room = limit - 1 - len(CUT_MARKER.format(cut=len(text)))  # the marker's widest count
    if room < 2:
        raise ValueError(f"limit {limit} leaves no room for text beside the cut marker")
    head, tail = room - room // 2, room // 2
    cut = len(text) - head - tail
    return text[:head] + CUT_MARKER.format(cut=cut) + text[len(text) - tail :]


def _common_failure(outcomes: list[Outcome]) -> str:
    """The one error every test ended with (an import-time error, a time-out before any
    result), or "": such a failure is shown even where no failing test is public."""
    if len(outcomes) < 2 or any(o.status not in NOT_PASSING for o in outcomes):
        return ""
    details = {o.detail.strip() for o in outcomes}
    return details.pop() if len(details) == 1 else ""


def execution_feedback(
    outcomes: Iterable[OutcomeInput],
    *,
    public: Collection[str] | None = None,
    run_error: str = "",
    limit: int = LIMIT,
) -> ExecutionFeedback:
    """Feedback on a test run: the tests that did not pass, each with its traceback.

    ``public``: the method names a partial setting shows (``public_tests``); None shows every
    test (full). ``run_error``: a failure of the whole run that the sandbox reports apart from
    the tests (the module failed to import, the time ran out); a failure that every test shares
    counts as one too. Either is reported in partial mode as well, since it hits the public tests
    just as it hits the hidden ones, even where the public ones are helpers or none.
    """
    every = [as_outcome(item) for item in outcomes]
    wanted = None if public is None else {method_name(name) for name in public}
    shown = [o for o in every if wanted is None or method_name(o.name) in wanted]
    names = tuple(o.name for o in shown)
    common = run_error.strip() or _common_failure(every)
    if common:
        text = f"The test run failed as a whole, so no test could pass. The error:\n{common}"
        failing = tuple(o.name for o in shown if o.status in NOT_PASSING)
        return ExecutionFeedback(truncate(text, limit), False, names, failing, run_failed=True)
    failures = [o for o in shown if o.status in NOT_PASSING]
    if not shown:
        text = "No test results to show."
    elif not failures:
        skipped = sum(o.status == "skipped" for o in shown)
        ran = len(shown) - skipped
        text = f"All {ran} tests passed." if not skipped else f"All {ran} tests that ran passed ({skipped} skipped)."
    else:
        parts = [f"{len(failures)} of {len(shown)} tests did not pass."]
        for o in failures:
            detail = o.detail.rstrip() or ("The test did not run." if o.status == "not_run" else "(no details)")
            parts.append(f"{_HEADINGS[o.status]}: {o.name}\n{detail}")
        text = "\n\n".join(parts)
    return ExecutionFeedback(truncate(text, limit), not failures, names, tuple(o.name for o in failures))


def public_tests(test_source: str, rule: Rule = "tests", count: int = PUBLIC_COUNT) -> tuple[str, ...]:
    """The method names of class TestCases that a partial setting shows.

    ``"tests"`` (default): the first ``count`` methods unittest runs as tests (names starting with
    "test"). ``"original"``: the first ``count`` methods of any name, setUp and helpers included,
    as ConvCodeWorld chose them; kept to reproduce its numbers, though it leaves many tasks with
    fewer public tests, some with none.
    """
    if rule not in get_args(Rule):
        raise UsageError(f"unknown public-test rule {rule!r}; use one of {get_args(Rule)}")
    try:
        tree = ast.parse(test_source)
    except SyntaxError as exc:
        raise ValueError(f"test source does not parse: {exc}") from None
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TestCases"), None)
    if cls is None:
        return ()
    names = [n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if rule == "tests":
        names = list(dict.fromkeys(n for n in names if n.startswith("test")))  # a redefined test runs once
    return tuple(names[:count])
