"""Run by the repository environment's interpreter (which has coverage, not this package), from the
root of a copy of the tree: run the repository's tests under coverage.py, each test in a coverage
context of its own named by its label, and answer which tests ran each given line span, and how
each test ended and how long it took.

A context switched as each test starts covers its setUp and tearDown too, and is named as the
runner takes it back (``utils_tests.test_text.TestUtilsText.test_slugify``, a pytest node id),
which coverage's own ``dynamic_context = test_function`` would not give.

Usage: ``python tracer.py REQUEST.json ANSWER.json``; the request holds ``runner``, ``labels``,
``source`` (the folders to measure) and ``spans`` (file -> [[first, last], ...], 0-based lines);
the answer holds ``tests`` (label -> [outcome, seconds]) and ``covered`` (file -> one list of the
covering tests' labels per span).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import runpy
import sys
import time
import unittest
from typing import Any

Outcomes = dict[str, list[Any]]  # label -> [outcome, seconds]


def _trace_unittest(cov: Any, outcomes: Outcomes, labels: list[str]) -> None:
    """Django's tests/runtests.py, with unittest's result class told to switch contexts and time each test."""
    result = unittest.TestResult
    started: dict[str, float] = {}

    def start(self: unittest.TestResult, test: unittest.TestCase) -> None:
        cov.switch_context(test.id())
        started[test.id()] = time.perf_counter()
        outcomes[test.id()] = ["passed", 0.0]
        start_test(self, test)

    def stop(self: unittest.TestResult, test: unittest.TestCase) -> None:
        stop_test(self, test)
        if test.id() in started:
            outcomes[test.id()][1] = time.perf_counter() - started.pop(test.id())
        cov.switch_context("")

    def marking(outcome: str, original: Any) -> Any:
        def mark(self: unittest.TestResult, test: unittest.TestCase, *args: Any) -> None:
            if test.id() in outcomes and outcomes[test.id()][0] == "passed":
                outcomes[test.id()][0] = outcome
            original(self, test, *args)

        return mark

    def subtest(self: unittest.TestResult, test: unittest.TestCase, sub: Any, err: Any) -> None:
        if err is not None and test.id() in outcomes:
            outcomes[test.id()][0] = "failed"
        add_subtest(self, test, sub, err)

    start_test, stop_test, add_subtest = result.startTest, result.stopTest, result.addSubTest
    result.startTest, result.stopTest, result.addSubTest = start, stop, subtest  # type: ignore[method-assign,assignment]
    for name, outcome in [("addFailure", "failed"), ("addError", "error"), ("addSkip", "skipped"),
                          ("addExpectedFailure", "xfailed"), ("addUnexpectedSuccess", "failed")]:  # fmt: skip
        setattr(result, name, marking(outcome, getattr(result, name)))
    script = os.path.join("tests", "runtests.py")
    sys.argv = [script, *labels, "--verbosity", "1", "--noinput", "--parallel", "1"]
    sys.path[0] = os.path.abspath("tests")
    with contextlib.suppress(SystemExit):
        runpy.run_path(script, run_name="__main__")


def _trace_pytest(cov: Any, outcomes: Outcomes, labels: list[str]) -> None:
    import pytest

    class Tracer:
        def pytest_runtest_logstart(self, nodeid: str) -> None:
            cov.switch_context(nodeid)
            outcomes[nodeid] = ["passed", 0.0]

        def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
            outcomes[report.nodeid][1] += report.duration
            if report.outcome != "passed" and outcomes[report.nodeid][0] == "passed":
                outcomes[report.nodeid][0] = "error" if report.when != "call" else report.outcome

        def pytest_runtest_logfinish(self) -> None:
            cov.switch_context("")

    pytest.main([*labels, "-q", "-p", "no:cacheprovider"], plugins=[Tracer()])


def main(request_path: str, answer_path: str) -> None:
    with open(request_path) as opened:
        request = json.load(opened)
    cov = importlib.import_module("coverage").Coverage(data_file=None, source=request["source"])
    outcomes: Outcomes = {}
    cov.start()
    (_trace_unittest if request["runner"] == "django" else _trace_pytest)(cov, outcomes, request["labels"])
    cov.stop()
    data = cov.get_data()
    covered: dict[str, list[list[str]]] = {}
    for file, spans in request["spans"].items():
        by_line = data.contexts_by_lineno(os.path.abspath(file))
        covered[file] = [
            sorted({c for line in range(first + 1, last + 2) for c in by_line.get(line, ()) if c in outcomes})
            for first, last in spans
        ]
    with open(answer_path, "w") as opened:
        json.dump({"tests": outcomes, "covered": covered}, opened)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
