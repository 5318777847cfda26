"""The runner of a test job: the candidate program, then its unittest module in the same
module namespace, then the selected test methods, one signed record per test as it ends.

The candidate shares this process, so the runner reports only what ``integrity.Machinery``
finds intact (a change fails the test it is found in and every later one, TAMPERED), through a
writer whose records the client can verify (``wire.signed_writer``). What this does not stop:
docs/sandbox.md.
"""

from __future__ import annotations

import contextlib
import gc
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

from . import integrity, wire
from .integrity import PROGRAM_FILENAME, PROGRAM_MODULE, Machinery
from .wire import Writer, codec, signed_writer

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

DETAIL_HEAD, DETAIL_TAIL = 1024, 3072  # what a test's traceback keeps of its start and end
# Taken before any candidate runs: the program may replace the modules' attributes.
_exit, _process_time = os._exit, time.process_time
_machinery: Machinery | None = None  # made by prepare()
_SkipTest, _ShouldStop = unittest.SkipTest, unittest.case._ShouldStop  # type: ignore[attr-defined]  # private


def prepare() -> Machinery:
    """What test jobs need, made once in the zygote on its first test job (not before: call jobs
    would pay for its pages), so that a runner only checks: unittest.mock (whose classes the
    checks cover too), loaded, and the snapshot of the machinery (which guards unittest's
    ``TestCase`` in this process and its forks: see ``integrity``)."""
    global _machinery
    if _machinery is None:
        import unittest.mock  # noqa: F401

        _machinery = Machinery([sys.modules[__name__], integrity, wire, codec])
        gc.freeze()  # as main's preload does
    return _machinery


def run_tests(job: dict[str, Any], results: int, key: bytes) -> NoReturn:
    """Load program and tests, then run the selected test methods in one suite (class and
    module fixtures apply), writing each test's outcome as it ends."""
    write = signed_writer(results, key)  # the key lives on only in the writer's MAC state
    del key
    for signum in (signal.SIGPROF, signal.SIGALRM):  # no per-call timers here: the candidate's own
        signal.signal(signum, signal.SIG_DFL)
    module = types.ModuleType(PROGRAM_MODULE)  # "if __name__ == '__main__'" blocks stay off
    module.__file__ = os.path.join(os.getcwd(), PROGRAM_MODULE + ".py")
    sys.modules[PROGRAM_MODULE] = module  # unittest looks module fixtures up there
    machinery = prepare()  # made in the zygote
    machinery.start(module.__dict__)
    write(codec.READY)  # from here on, whatever happens is the candidate's doing
    cls, names = _load(job, module, machinery, write)
    write(codec.LOADED, payload="\n".join(names).encode("utf-8", "replace"))

    recorder = _TestRecorder(write, names, machinery, _expected_failures(cls, names))
    pending: list[unittest.TestCase] = []
    for i, name in enumerate(names):
        try:
            case = cls(name)
        except BaseException as exc:  # no such method, or a constructor that fails
            recorder.end(i, name, "error", "".join(traceback.format_exception_only(exc)), 0.0)
            continue
        recorder.cases[id(case)] = i
        machinery.watch_case(case)
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
    recorder.check(None)
    write(codec.DONE)
    _exit(0)


def _load(job: dict[str, Any], module: types.ModuleType, machinery: Machinery, write: Writer) -> tuple[type, list[str]]:
    """Run the program, check the machinery, then run the tests and check it again; on a
    failure, write LOAD_ERROR and end the job. The tests run apart from the program so that
    nothing the program left in place (an import hook, a ``__build_class__``) touches them."""
    program = job["program"]
    source = program + "\n" + job["test_code"]
    # tracebacks show the source lines (an entry without mtime is never checked against a file)
    linecache.cache[PROGRAM_FILENAME] = (len(source), None, source.splitlines(True), PROGRAM_FILENAME)
    tests = "\n" * (program.count("\n") + 1) + job["test_code"]  # its lines keep their numbers in ``source``
    try:
        for part in (program, tests):
            exec(compile(part, PROGRAM_FILENAME, "exec"), module.__dict__)
            if changed := machinery.changed():
                _load_error(write, f"the program changed the test machinery: {changed}")
        found = module.__dict__.get(job["class_name"])
        if not (isinstance(found, type) and issubclass(found, unittest.TestCase)):
            _load_error(write, f"the program defines no unittest.TestCase class named {job['class_name']!r}")
        names = list(job["test_names"]) if job["test_names"] is not None else _test_methods(found)
        machinery.watch_tests(found)
    except BaseException as exc:
        _load_error(write, _candidate_traceback(exc))
    return found, names


def _load_error(write: Writer, text: str) -> NoReturn:
    write(codec.LOAD_ERROR, payload=text.encode("utf-8", "replace"))
    _exit(0)


def _expected_failures(cls: type, names: list[str]) -> set[str]:
    """The tests the test code itself marks as expected failures (the program may mark others)."""
    if getattr(cls, "__unittest_expecting_failure__", False):
        return set(names)
    return {name for name in names if getattr(getattr(cls, name, None), "__unittest_expecting_failure__", False)}


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


def _status_of(exc: BaseException, test: unittest.TestCase) -> str:
    """What unittest makes of an exception a test part raised."""
    if isinstance(exc, _SkipTest):
        return "skipped"
    if isinstance(exc, _ShouldStop):  # failfast's: not an outcome
        return "passed"
    failure = getattr(type(test), "failureException", AssertionError)
    return "failed" if isinstance(failure, type) and isinstance(exc, failure) else "error"


class _TestRecorder(unittest.TestResult):
    """Keeps the worst outcome of the test in progress (subtests, tearDown and cleanups
    can add to it) and writes it as a record when the test stops, once the machinery has been
    checked. (A change between tests stands at the next test's end, and ``verified`` says which
    tests ended with the machinery intact.)"""

    # TestResult's own, left out of typeshed's stubs: whether a suite runs with this result
    # (False: the next suite runs as a top-level one), and its traceback formatter (it drops
    # unittest's frames)
    _testRunEntered: bool
    _exc_info_to_string: Callable[[OptExcInfo, unittest.TestCase], str]

    def __init__(self, write: Writer, names: list[str], machinery: Machinery, expected_failures: set[str]) -> None:
        super().__init__()
        self.write, self.names, self.machinery = write, names, machinery
        self.expected_failures = expected_failures
        self.cases: dict[int, int] = {}  # id of a TestCase -> its index in the job's list
        self.started: set[int] = set()  # ids of the TestCases that started
        self.verified = 0  # the tests before this index ended with the machinery intact
        self.extra = len(names)  # next index for a fixture that fails outside any test
        self.current: unittest.TestCase | None = None
        self.status: str | None = None
        self.details: list[str] = []
        self.cpu_start = 0.0

    def check(self, case: unittest.TestCase | None) -> None:
        """End the job if the program changed the test machinery: the tests from the first one
        not verified on fail."""
        changed = self.machinery.changed(case)
        if changed:
            text = f"the program changed the test machinery: {changed}"
            self.write(codec.TAMPERED, self.verified, payload=text.encode("utf-8", "replace"))
            self.write(codec.DONE)
            _exit(0)

    def end(self, index: int, name: str, status: str, detail: str, cpu: float) -> None:
        head = bytes([codec.TEST_STATUSES.index(status)]) + name.encode("utf-8", "replace") + b"\0"
        self.write(codec.TEST_END, index, cpu, head + _cut(detail).encode("utf-8", "replace"))

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self.current, self.status, self.details = test, None, []
        self.machinery.raised.clear()
        self.started.add(id(test))
        self.cpu_start = _process_time()
        self.write(codec.TEST_START, self.cases.get(id(test), 0))

    def stopTest(self, test: unittest.TestCase) -> None:
        super().stopTest(test)
        status, detail = self.status, "\n".join(self.details)
        if status is None:  # nothing reported: an exception is passing through unittest
            exc = sys.exc_info()
            status, detail = "error", self._describe(exc, test) if exc[0] else "the test ended without an outcome"
        cpu = _process_time() - self.cpu_start
        self.current = None
        self.check(test)
        index = self.cases.get(id(test), 0)
        if self.names[index] not in self.expected_failures:
            status, detail = self._unreported(test, status, detail)
        self.end(index, self.names[index], status, detail, cpu)
        self.verified = index + 1

    def _unreported(self, test: unittest.TestCase, status: str, detail: str) -> tuple[str, str]:
        """The outcome, worsened by what the test raised and unittest did not report: the
        program can change what unittest reports (the outcome's result, its success flag), not
        what the test raised."""
        for exc in self.machinery.raised:
            seen = _status_of(exc, test)
            if _RANK[seen] > _RANK[status]:
                tb = exc.__traceback__
                text = self._describe((type(exc), exc, tb), test) if tb is not None else repr(exc)
                status, detail = seen, f"the program kept unittest from reporting this:\n{text}"
        return status, detail

    def _describe(self, err: OptExcInfo, test: unittest.TestCase) -> str:
        try:
            return self._exc_info_to_string(err, test)
        except BaseException:  # a hostile exception that cannot be formatted
            return f"{getattr(err[0], '__name__', 'exception')} (its message could not be formatted)"

    def _add(self, test: unittest.TestCase, status: str, detail: str) -> None:
        if isinstance(test, unittest.case._SubTest):  # type: ignore[attr-defined]  # private: not in the stubs
            test = test.test_case
        if test is not self.current:  # outside any test: setUpClass, tearDownModule...
            self.end(self.extra, str(test), status, detail, 0.0)
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
        if self.names[self.cases.get(id(test), 0)] in self.expected_failures:
            self._add(test, "passed", "")
        else:
            self._add(
                test, "failed", "the program marked the test as an expected failure:\n" + self._describe(err, test)
            )

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        self._add(test, "failed", "unexpected success: the test is marked as an expected failure")

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: OptExcInfo | None) -> None:
        if err is not None:
            failed = err[0] is not None and issubclass(err[0], test.failureException)
            self._add(test, "failed" if failed else "error", f"{subtest}:\n{self._describe(err, test)}")
