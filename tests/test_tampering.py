"""Hostile unittest programs: each wrong answer to a BigCodeBench-like task tries one trick to
pass its tests anyway. Every one fails, with a reason, and none is harness trouble (an
``InfrastructureError`` would fail the test here); the honest answer passes. Then the skip rule
(a test the program skips fails, one the reference skips too is left out), and call jobs whose
output is over its limit, sent or written around the runner, or whose answer a process left
behind keeps open.

docs/sandbox.md says what each trick runs into, and what no check here can stop.
"""

from __future__ import annotations

import json
import os
import resource
import textwrap
import time
from pathlib import Path

import pytest

from pytest_convcode.sandbox import CallJob, Limits, MiB, SuiteResult, TestJob, _codec
from pytest_convcode.sandbox.answers import calls_result
from pytest_convcode.sandbox.process import ProcessSandbox, _Answer
from pytest_convcode.tasks import UnitTask
from pytest_convcode.testers import UnitTester

TESTS = """
import unittest

class TestCases(unittest.TestCase):
    def test_small(self):
        self.assertEqual(task_func(2), 4)

    def test_large(self):
        self.assertEqual(task_func(10), 100)

    def test_zero(self):
        result = task_func(0)
        self.assertEqual(result, 0)
"""
HONEST = "def task_func(n):\n    return n * n\n"
WRONG = "def task_func(n):\n    return n + 1\n"  # wrong in every test
CHANGED = "the program changed the test machinery: "


def run(sb: ProcessSandbox, program: str, tests: str = TESTS) -> SuiteResult:
    return sb.run_tests(TestJob(program=textwrap.dedent(program), test_code=tests, cpu_budget=2.0, wall_budget=10.0))


def reasons(result: SuiteResult) -> str:
    """Why the suite did not pass: its load error, each failure's detail, how it ended."""
    return "\n".join(
        [result.load_error or "", *(f"{o.status}: {o.detail}" for o in result.failures), result.how_it_ended]
    )


def test_the_honest_answer_passes(sandbox: ProcessSandbox) -> None:
    result = run(sandbox, HONEST)
    assert result.passed, result
    assert [o.name for o in result.outcomes] == ["test_small", "test_large", "test_zero"]


# Each program is the wrong answer plus one trick; each reason is in what the result says.
TRICKS = {
    # the unittest machinery, patched at import: found once the program has loaded
    "TestCase.run at import": (
        "import unittest\nunittest.TestCase.run = lambda self, result=None: result.addSuccess(self)\n" + WRONG,
        CHANGED + "unittest.case.TestCase.run",
    ),
    "TestSuite.run at import": (
        "import unittest\nunittest.TestSuite.run = lambda self, result, debug=False: result\n" + WRONG,
        CHANGED + "unittest.suite.TestSuite.run",
    ),
    "TestResult.addFailure at import": (
        "import unittest\nunittest.TestResult.addFailure = unittest.TestResult.addSuccess\n" + WRONG,
        CHANGED + "unittest.result.TestResult.addFailure",
    ),
    "assertEqual at import": (
        "import unittest\nunittest.TestCase.assertEqual = lambda *a, **k: None\n" + WRONG,
        CHANGED + "unittest.case.TestCase.assertEqual",
    ),
    "unittest.SkipTest at import": (
        "import unittest, unittest.case\nunittest.SkipTest = unittest.case.SkipTest = AssertionError\n" + WRONG,
        CHANGED + "unittest.SkipTest",
    ),
    "sys.modules['unittest'] at import": (
        """
        import sys, types, unittest
        fake = types.ModuleType("unittest")
        class TestCase(unittest.TestCase):
            def assertEqual(self, *args, **kwargs):
                pass
        fake.TestCase = TestCase
        sys.modules["unittest"] = fake
        def task_func(n):
            return n + 1
        """,
        CHANGED + "sys.modules['unittest']",
    ),
    "builtins.__build_class__ rewrites the test class": (
        """
        import builtins
        build = builtins.__build_class__
        def rewrite(func, name, *bases, **kwargs):
            cls = build(func, name, *bases, **kwargs)
            for attr in [a for a in vars(cls) if a.startswith("test")]:
                setattr(cls, attr, lambda self: None)
            return cls
        builtins.__build_class__ = rewrite
        def task_func(n):
            return n + 1
        """,
        CHANGED + "builtins.__build_class__",
    ),
    "sys.settrace at import": ("import sys\nsys.settrace(lambda *a: None)\n" + WRONG, CHANGED + "sys.settrace"),
    "sys.setprofile at import": ("import sys\nsys.setprofile(lambda *a: None)\n" + WRONG, CHANGED + "sys.setprofile"),
    "an import hook": (
        """
        import sys
        class Finder:
            def find_spec(self, name, path, target=None):
                return None
        sys.meta_path.insert(0, Finder())
        def task_func(n):
            return n + 1
        """,
        CHANGED + "sys.meta_path",
    ),
    # the same, from inside task_func: found when the test ends, and every test fails
    "TestCase.run at call time": (
        """
        import unittest
        def task_func(n):
            unittest.TestCase.run = lambda self, result=None: result.addSuccess(self)
            return n + 1
        """,
        CHANGED + "unittest.case.TestCase.run",
    ),
    "TestSuite.run at call time": (
        """
        import unittest
        def task_func(n):
            unittest.TestSuite.run = lambda self, result, debug=False: result
            return n + 1
        """,
        CHANGED + "unittest.suite.TestSuite.run",
    ),
    "TestResult.addFailure at call time": (
        """
        import unittest
        def task_func(n):
            unittest.TestResult.addFailure = unittest.TestResult.addSuccess
            return n + 1
        """,
        CHANGED + "unittest.result.TestResult.addFailure",
    ),
    "assertEqual at call time": (
        """
        import unittest
        def task_func(n):
            unittest.TestCase.assertEqual = lambda *a, **k: None
            return n + 1
        """,
        CHANGED + "unittest.case.TestCase.assertEqual",
    ),
    "a thread that patches later": (
        """
        import threading, time, unittest
        called = threading.Event()
        def patch():
            called.wait()
            unittest.TestCase.assertEqual = lambda *a, **k: None
        threading.Thread(target=patch, daemon=True).start()
        def task_func(n):
            called.set()
            time.sleep(0.05)
            return n + 1
        """,
        CHANGED + "unittest.case.TestCase.assertEqual",
    ),
    # the test case and the runner, found through frames
    "the test case's assertEqual, set through a frame": (
        """
        import sys
        def task_func(n):
            sys._getframe(1).f_locals["self"].assertEqual = lambda *a, **k: None
            return n + 1
        """,
        "a test case's assertEqual cannot be replaced",
    ),
    "the test case's dict, through a frame": (
        """
        import sys
        def task_func(n):
            vars(sys._getframe(1).f_locals["self"])["assertEqual"] = lambda *a, **k: None
            return n + 1
        """,
        CHANGED + "the test case's assertEqual",
    ),
    "the outcome's result swapped, the failure reported as a success": (
        """
        import sys
        class Swallow:
            def __init__(self, outcome):
                self.outcome = outcome
            def addFailure(self, test, err):
                self.outcome.success = True
            addError = addFailure
        def task_func(n):
            outcome = sys._getframe(1).f_locals["self"]._outcome
            outcome.result = Swallow(outcome)
            return n + 1
        """,
        "the program kept unittest from reporting this",
    ),
    "the test marked as an expected failure": (
        """
        import sys
        def task_func(n):
            sys._getframe(1).f_locals["self"]._outcome.expecting_failure = True
            return n + 1
        """,
        "the program kept unittest from reporting this",
    ),
    "the runner's recorder, through a frame": (
        """
        import sys
        def task_func(n):
            frame = sys._getframe(1)
            while "result" not in frame.f_locals:  # TestCase.run(self, result): the runner's recorder
                frame = frame.f_back
            recorder = frame.f_locals["result"]
            type(recorder).addFailure = type(recorder).addSuccess
            return n + 1
        """,
        CHANGED + "_worker.unittests._TestRecorder.addFailure",
    ),
    # skips, exits and crashes
    "SkipTest from task_func": (
        "import unittest\ndef task_func(n):\n    raise unittest.SkipTest('not today')\n",
        "skipped: not today",
    ),
    "os._exit(0) at import": ("import os\nos._exit(0)\n", "the program did not finish loading (exited with status 0)"),
    "os._exit(0) at call time": (
        "import os\ndef task_func(n):\n    os._exit(0)\n",
        "the test did not finish (exited with status 0)",
    ),
    "sys.exit at call time": ("import sys\ndef task_func(n):\n    sys.exit(0)\n", "SystemExit"),
    "forged PASSED records and DONE on every descriptor, then os._exit(0)": (
        """
        import os, struct
        RECORD = struct.Struct("!BIdI")
        def passed(i, name):
            payload = b"\\0" + name + b"\\0"
            return RECORD.pack(8, i, 0.0, 0) + RECORD.pack(9, i, 0.0, len(payload)) + payload
        def task_func(n):
            forged = b"".join(passed(i, name) for i, name in enumerate([b"test_small", b"test_large", b"test_zero"]))
            forged += RECORD.pack(7, 0, 0.0, 0)
            for fd in range(3, 256):
                try:
                    os.write(fd, forged)
                except OSError:
                    pass
            os._exit(0)
        """,
        "wrote into the harness's result stream",
    ),
    "a flood of output": (
        "def task_func(n):\n    for _ in range(50):\n        print('flood ' * 200_000)\n    return n + 1\n",
        "AssertionError: 3 != 4",
    ),
    "a flood into every descriptor": (
        """
        import os
        def task_func(n):
            junk = bytes([9]) * (1 << 20)
            for fd in range(3, 64):
                for _ in range(40):
                    try:
                        os.write(fd, junk)
                    except OSError:
                        break
            return n + 1
        """,
        "wrote into the harness's result stream",
    ),
    "a segfault": ("import ctypes\ndef task_func(n):\n    return ctypes.string_at(0)\n", "SIGSEGV"),
    "infinite recursion": ("def task_func(n):\n    return task_func(n) + 1\n", "RecursionError"),
    "a stack overflow through C": (
        "import sys\nsys.setrecursionlimit(10**7)\ndef task_func(n):\n    return list(map(task_func, [n]))\n",
        "the test did not finish",
    ),
    # a known limit of testing in-process, closed for the plain case (docs/sandbox.md)
    "an object whose __eq__ is always True": (
        """
        class AlwaysEqual:
            def __eq__(self, other):
                return True
        def task_func(n):
            return AlwaysEqual()
        """,
        "claims to equal anything",
    ),
}


@pytest.mark.parametrize("trick", TRICKS)
def test_a_trick_does_not_pass_a_wrong_answer(sandbox: ProcessSandbox, trick: str) -> None:
    program, reason = TRICKS[trick]
    result = run(sandbox, program)
    assert not result.passed, result
    assert reason in reasons(result), reasons(result)
    if CHANGED in reason and result.load_error is None:  # found in a test: it and the later ones fail
        assert [o.status for o in result.outcomes] == ["failed"] * 3, result.outcomes
    assert run(sandbox, HONEST).passed  # the sandbox still judges the next job


def test_a_change_after_the_last_test_still_fails_the_suite(sandbox: ProcessSandbox) -> None:
    result = run(sandbox, HONEST, TESTS + "\ndef tearDownModule():\n    unittest.TestCase.assertEqual = None\n")
    assert [(o.name, o.status) for o in result.outcomes][-1] == ("the test machinery", "failed")
    assert CHANGED + "unittest.case.TestCase.assertEqual" in result.outcomes[-1].detail
    assert [o.status for o in result.outcomes[:3]] == ["passed"] * 3 and not result.passed


def test_a_test_marked_as_an_expected_failure_by_its_tests_still_passes_when_it_fails(sandbox: ProcessSandbox) -> None:
    result = run(sandbox, WRONG, TESTS.replace("    def test_zero", "    @unittest.expectedFailure\n    def test_zero"))
    assert [o.status for o in result.outcomes] == ["failed", "failed", "passed"]


# ---------------------------------------------------------------- skips: the program's fail


SKIPPING_TESTS = (
    TESTS
    + """
    @unittest.skip("needs a GPU")
    def test_gpu(self):
        self.assertEqual(task_func(3), 9)
"""
)


def skipping_task() -> UnitTask:
    return UnitTask(
        task_id="Tampering/0",
        instruct_prompt="Square n.",
        complete_prompt="def task_func(n):\n",
        code_prompt="def task_func(n):\n",
        canonical_solution="    return n * n\n",
        test=SKIPPING_TESTS,
    )


def test_a_test_the_reference_skips_is_left_out_and_one_the_program_skips_fails(
    sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    task = skipping_task()
    tester = UnitTester(sandbox, tmp_path)
    honest = tester.evaluate(task, HONEST)
    assert honest.passed, honest
    assert [o.name for o in honest.outcomes] == ["test_small", "test_large", "test_zero"]  # test_gpu left out
    assert [p.name for p in tmp_path.iterdir()] == ["Tampering_0.reference.json"]

    program = """
import unittest
def task_func(n):
    if n == 10:
        raise unittest.SkipTest("too big")
    return n * n
"""
    skipping = tester.evaluate(task, program)
    assert not skipping.passed and not skipping.environment_error
    assert {o.name: o.status for o in skipping.outcomes}["test_large"] == "failed"
    assert "test_large was skipped by the program: too big" in skipping.explanation


# ---------------------------------------------------------------- a call job's output over its limit


def test_an_output_over_the_limit_is_a_failed_call_and_the_last(sandbox: ProcessSandbox) -> None:
    code = "def f(big):\n    return b'x' * (700 << 20) if big else 'small'\n"
    job = CallJob(
        code, "f", [[False], [True], [False]], [5.0] * 3, [20.0] * 3, limits=Limits(max_output_bytes=64 * MiB)
    )
    start = time.monotonic()
    result = sandbox.run(job)
    assert time.monotonic() - start < 15.0
    assert [c.status for c in result.calls] == ["ok", "output_limit"]  # the third call did not run
    assert result.calls[1].error == "returned 700 MiB, over the 64 MiB output limit"
    assert not result.complete and result.ended == "output_limit"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1 << 20  # KiB: this process stayed under 1 GiB


def test_a_flood_written_around_the_runner_is_cut_at_the_limit(sandbox: ProcessSandbox) -> None:
    code = """
    import os
    def f(x):
        junk = bytes([4]) * (1 << 20)  # the header of an OK record, over and over
        for fd in range(3, 64):
            try:
                for _ in range(200):
                    os.write(fd, junk)
            except OSError:
                pass
        return x
    """
    job = CallJob(
        textwrap.dedent(code), "f", [[1], [2]], [5.0] * 2, [20.0] * 2, limits=Limits(max_output_bytes=64 * MiB)
    )
    result = sandbox.run(job)
    assert result.calls == [] and not result.complete and result.ended == "output_limit"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1 << 20


def test_a_process_left_holding_the_records_pipe_does_not_hold_up_the_answer() -> None:
    """Without PID namespaces, a process the candidate started may outlive it and keep the
    records pipe open: the answer ends with the supervisor's trailer all the same."""
    records_r, records_w = os.pipe()
    trailer_r, trailer_w = os.pipe()
    os.write(records_w, _codec.RECORD.pack(_codec.READY, 0, 0.0, 0))
    trailer = {"ended": "exit", "code": 0, "signal": None, "wall": 0.1, "cpu": 0.1, "output": ""}
    os.write(trailer_w, json.dumps(trailer).encode())
    os.close(trailer_w)
    answer = _Answer(records_r, trailer_r, time.monotonic() + 5.0, 1 << 20)
    try:
        answer.read_all([answer])
        result = calls_result(answer.records, answer.trailer, 1, 1 << 20, answer.overflow)
    finally:
        answer.close()
        os.close(records_w)
    assert result.load_error == "" and result.calls == [] and not result.complete
