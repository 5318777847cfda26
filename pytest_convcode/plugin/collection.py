"""Collection and selection: a suite module's cases become its items; ``-k`` with a task id
selects exactly that task; under xdist the dearest items start first and a task's conversation
stays on one worker; once collected, work starts ahead of the items.

A suite module that cannot be run (no ``SUITE``, a bad data set or samples file, an option its
kind cannot take) is a usage error: exit status 4 and one line naming the problem.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any

import pytest

try:  # private: only to refine -k for task ids (see pytest_collection_modifyitems)
    from _pytest.mark import KeywordMatcher
    from _pytest.mark.expression import Expression
except ImportError:  # pragma: no cover - a pytest that moved them: plain -k semantics
    KeywordMatcher = Expression = None  # type: ignore[assignment,misc]

from .. import conversation
from ..datasets.options import DataOptions
from ..errors import UsageError
from ..kinds import Case, Suite
from ..options import add_options
from . import options_group
from .session import RUN

USAGE_PROBLEM = pytest.StashKey[str]()  # on the collector of a suite module that cannot be run


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(DataOptions, options_group(parser))
    conversations = parser.getgroup("convcode-conversations", "pytest-convcode: multi-turn conversations with feedback")
    add_options(conversation.Options, conversations)


def case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("convcode_case") if callspec is not None else None


def suite_of(item: pytest.Item) -> Suite[Any]:
    return item.config.stash[RUN].suite(item.module)[1]  # type: ignore[attr-defined]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "convcode_case" not in metafunc.fixturenames:
        return
    run = metafunc.config.stash[RUN]
    try:
        _, suite, settings = run.suite(metafunc.module)
        cases, notes = suite.cases(settings)
    except UsageError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:  # a bad suite module, data or samples file: its message, no harness traceback
        collector = metafunc.definition.parent
        assert collector is not None  # a test function is always collected by a module or class
        collector.stash[USAGE_PROBLEM] = problem
        pytest.fail(problem, pytrace=False)
    for note in notes:
        warnings.warn(note, stacklevel=1)
    metafunc.parametrize("convcode_case", cases, ids=[c.id for c in cases])


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    """The report of a suite module that cannot be run (its SUITE, data set or samples) says
    so; the attribute crosses from an xdist worker to the controller with the report."""
    report = yield
    problem = collector.stash.get(USAGE_PROBLEM, None)
    if problem is not None:
        report.convcode_usage_error = problem
    return report


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        config.pluginmanager.register(_UsageProblems(), "convcode-usage-problems")


class _UsageProblems:
    """A suite that cannot be run is a usage error (exit status 4, one line), as a bad option or
    samples file is; under xdist the worker's collect report carries it to the controller, which
    raises it. (An object registered on that process alone: report hooks are not given the config.)"""

    @pytest.hookimpl(tryfirst=True)  # before the terminal lists it as an error of collection
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        problem = getattr(report, "convcode_usage_error", None)
        if problem is not None:
            raise pytest.UsageError(problem)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start work for the collected items, in the order they will run: each suite's requests,
    and its conversations when this process runs them all."""
    if session.config.option.collectonly:
        return
    by_suite: dict[int, tuple[Suite[Any], list[Case]]] = {}
    for item in session.items:
        case = case_of(item)
        if case is not None:
            suite = suite_of(item)
            by_suite.setdefault(id(suite), (suite, []))[1].append(case)
    everything = not hasattr(session.config, "workerinput")
    for suite, cases in by_suite.values():
        suite.start(cases, everything)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _select_task_ids(config, items)
    if hasattr(config, "workerinput"):
        _dearest_first(items)


def _dearest_first(items: list[pytest.Item]) -> None:
    """Under xdist, start the tasks whose reference ran longest (as measured when their
    ground truth was made), so that no worker is left with a slow one at the end.
    Every worker sees the same cache, so they all collect the same order."""
    costs: dict[tuple[int, str], float] = defaultdict(float)  # a task's samples share one cost

    def cost(item: pytest.Item) -> float:
        case = case_of(item)
        if case is None:
            return 0.0
        suite = suite_of(item)
        key = (id(suite), case.task_id)
        if key not in costs:
            costs[key] = suite.cost(case)
        return costs[key]

    items.sort(key=cost, reverse=True)


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's ``load`` distribution, one item at a time (the dearest come first, see
    _dearest_first), keeping each task's conversation items together."""
    if config.getvalue("dist") != "load":
        return None
    from ..scheduling import ConversationScheduling

    return ConversationScheduling(config, log)


def _select_task_ids(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``-k HumanEval/12`` mean that task, not also HumanEval/120-129.

    pytest matches -k names as substrings; a name that is a whole task id of
    this collection is matched exactly against the item's task instead.
    """
    expression = config.option.keyword
    if not expression or Expression is None:
        return
    try:
        compiled = Expression.compile(expression)
    except Exception:  # a malformed -k: pytest reports it itself
        return
    task_ids = {case.task_id.lower() for item in items if (case := case_of(item))}
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        case = case_of(item)
        matches = case is None or compiled.evaluate(_TaskIdMatcher(item, case.task_id, task_ids))
        (keep if matches else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class _TaskIdMatcher:
    """-k names: a whole task id of this collection must be the item's own; others as pytest does."""

    def __init__(self, item: pytest.Item, task_id: str, task_ids: set[str]) -> None:
        self.item, self.task_id, self.task_ids = item, task_id.lower(), task_ids

    def __call__(self, name: str, /, **kwargs: str | int | bool | None) -> bool:
        if name.lower() in self.task_ids:
            return name.lower() == self.task_id
        return bool(KeywordMatcher.from_item(self.item)(name, **kwargs))
