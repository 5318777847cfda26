"""The runner of a test job: the candidate program and its unittest module loaded as one
module, then the selected test methods, one record per test as it ends."""

from __future__ import annotations

import contextlib
import linecache
import os
import signal
import sys
import time
import traceback
import types
import unittest
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from .wire import codec, record

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

TEST_MODULE = "__candidate__"  # the module's __name__: "if __name__ == '__main__'" blocks stay off
TEST_FILENAME = "<candidate>"
DETAIL_HEAD, DETAIL_TAIL = 1024, 3072  # what a test's traceback keeps of its start and end


def run_tests(job: dict[str, Any], results: int) -> NoReturn:
    """Load program and tests as one module, then run the selected test methods in one
    suite (class and module fixtures apply), writing each test's outcome as it ends."""
    for signum in (signal.SIGPROF, signal.SIGALRM):  # no per-call timers here: the candidate's own
        signal.signal(signum, signal.SIG_DFL)
    source = job["program"] + "\n" + job["test_code"]
    module = types.ModuleType(TEST_MODULE)
    module.__file__ = os.path.join(os.getcwd(), TEST_MODULE + ".py")
    sys.modules[TEST_MODULE] = module  # unittest looks module fixtures up there
    # tracebacks show the source lines (an entry without mtime is never checked against a file)
    linecache.cache[TEST_FILENAME] = (len(source), None, source.splitlines(True), TEST_FILENAME)
    try:
        exec(compile(source, TEST_FILENAME, "exec"), module.__dict__)
        found = module.__dict__.get(job["class_name"])
        cls = found if isinstance(found, type) and issubclass(found, unittest.TestCase) else None
        if cls is not None:
            names = list(job["test_names"]) if job["test_names"] is not None else _test_methods(cls)
    except BaseException as exc:
        record(results, codec.LOAD_ERROR, payload=_candidate_traceback(exc).encode())
        os._exit(0)
    if cls is None:
        text = f"the program defines no unittest.TestCase class named {job['class_name']!r}"
        record(results, codec.LOAD_ERROR, payload=text.encode())
        os._exit(0)
    record(results, codec.LOADED, payload="\n".join(names).encode("utf-8", "replace"))

    recorder = _TestRecorder(results, len(names))
    pending: list[unittest.TestCase] = []
    for i, name in enumerate(names):
        try:
            case = cls(name)
        except BaseException as exc:  # no such method, or a constructor that fails
            recorder.write(i, name, "error", "".join(traceback.format_exception_only(exc)), 0.0)
            continue
        recorder.cases[id(case)] = i
        pending.append(case)
    while pending:
        # An exception that escapes unittest (KeyboardInterrupt) ends a suite; stopTest has
        # recorded the test it came from, and the tests after it still run, in a new suite.
        recorder._testRunEntered = False
        with contextlib.suppress(BaseException):
            unittest.TestSuite(pending).run(recorder)
        left = [case for case in pending if id(case) not in recorder.started]
        if len(left) == len(pending):  # none started: a class or module fixture failed
            break
        pending = left
    record(results, codec.DONE)
    os._exit(0)


def _candidate_traceback(exc: BaseException) -> str:
    """The traceback of an exception from the candidate's module, without the runner's frame."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb, limit=-8))
    except BaseException:  # a hostile exception that cannot be formatted
        return f"{type(exc).__name__} (its message could not be formatted)"


def _test_methods(cls: type[unittest.TestCase]) -> list[str]:
    """The class's test methods (as unittest finds them), in the order they were defined."""
    found = set(unittest.TestLoader().getTestCaseNames(cls))
    ordered: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        ordered.update((name, None) for name in vars(klass) if name in found)
    return list(ordered)


def _cut(text: str) -> str:
    if len(text) <= DETAIL_HEAD + DETAIL_TAIL:
        return text
    cut = len(text) - DETAIL_HEAD - DETAIL_TAIL
    return f"{text[:DETAIL_HEAD]}\n[... {cut} characters cut ...]\n{text[-DETAIL_TAIL:]}"


_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


class _TestRecorder(unittest.TestResult):
    """Keeps the worst outcome of the test in progress (subtests, tearDown and cleanups
    can add to it) and writes it as a record when the test stops."""

    # TestResult's own, left out of typeshed's stubs: whether a suite runs with this result
    # (False: the next suite runs as a top-level one), and its traceback formatter (it drops
    # unittest's frames)
    _testRunEntered: bool
    _exc_info_to_string: Callable[[OptExcInfo, unittest.TestCase], str]

    def __init__(self, results: int, n_tests: int) -> None:
        super().__init__()
        self.results = results
        self.cases: dict[int, int] = {}  # id of a TestCase -> its index in the job's list
        self.started: set[int] = set()  # ids of the TestCases that started
        self.extra = n_tests  # next index for a fixture that fails outside any test
        self.current: unittest.TestCase | None = None
        self.status: str | None = None
        self.details: list[str] = []
        self.cpu_start = 0.0

    def write(self, index: int, name: str, status: str, detail: str, cpu: float) -> None:
        head = bytes([codec.TEST_STATUSES.index(status)]) + name.encode("utf-8", "replace") + b"\0"
        record(self.results, codec.TEST_END, index, cpu, head + _cut(detail).encode("utf-8", "replace"))

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self.current, self.status, self.details = test, None, []
        self.started.add(id(test))
        self.cpu_start = time.process_time()
        record(self.results, codec.TEST_START, self.cases.get(id(test), 0))

    def stopTest(self, test: unittest.TestCase) -> None:
        super().stopTest(test)
        status, detail = self.status, "\n".join(self.details)
        if status is None:  # nothing reported: an exception is passing through unittest
            exc = sys.exc_info()
            status, detail = "error", self._describe(exc, test) if exc[0] else "the test ended without an outcome"
        cpu = time.process_time() - self.cpu_start
        self.write(self.cases.get(id(test), 0), test._testMethodName, status, detail, cpu)
        self.current = None

    def _describe(self, err: OptExcInfo, test: unittest.TestCase) -> str:
        try:
            return self._exc_info_to_string(err, test)
        except BaseException:  # a hostile exception that cannot be formatted
            return f"{getattr(err[0], '__name__', 'exception')} (its message could not be formatted)"

    def _add(self, test: unittest.TestCase, status: str, detail: str) -> None:
        if isinstance(test, unittest.case._SubTest):  # type: ignore[attr-defined]  # private: not in the stubs
            test = test.test_case
        if test is not self.current:  # outside any test: setUpClass, tearDownModule...
            self.write(self.extra, str(test), status, detail, 0.0)
            self.extra += 1
            return
        if self.status is None or _RANK[status] > _RANK[self.status]:
            self.status = status
        if detail:
            self.details.append(detail)

    def addSuccess(self, test: unittest.TestCase) -> None:
        self._add(test, "passed", "")

    def addFailure(self, test: unittest.TestCase, err: OptExcInfo) -> None:
        self._add(test, "failed", self._describe(err, test))

    def addError(self, test: unittest.TestCase, err: OptExcInfo) -> None:
        self._add(test, "error", self._describe(err, test))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        self._add(test, "skipped", str(reason))

    def addExpectedFailure(self, test: unittest.TestCase, err: OptExcInfo) -> None:
        self._add(test, "passed", "")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        self._add(test, "failed", "unexpected success: the test is marked as an expected failure")

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: OptExcInfo | None) -> None:
        if err is not None:
            failed = err[0] is not None and issubclass(err[0], test.failureException)
            self._add(test, "failed" if failed else "error", f"{subtest}:\n{self._describe(err, test)}")
