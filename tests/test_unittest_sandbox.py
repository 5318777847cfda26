"""Test jobs: a program plus a unittest module, run in the process sandbox, one outcome per test.

The budgets here are small (1-2 s of CPU) so that the tests that exhaust them stay
fast; each test that ends the process early checks the sandbox still answers
afterwards, for test jobs and for call jobs alike.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode import datasets
from pytest_convcode.datasets import DatasetError
from pytest_convcode.datasets.bigcodebench import imported_modules, job_for, stdlib_only
from pytest_convcode.errors import UsageError
from pytest_convcode.sandbox import CallJob, SuiteResult, TestJob
from pytest_convcode.sandbox.process import ProcessSandbox
from pytest_convcode.tasks import UnitDataset

ADD = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def bigcodebench() -> UnitDataset:
    return datasets.load_unit("bigcodebench")


def run(sb: ProcessSandbox, tests: str, program: str = ADD, **options: Any) -> SuiteResult:
    options.setdefault("cpu_budget", 2.0)
    options.setdefault("wall_budget", 10.0)
    return sb.run_tests(TestJob(program=textwrap.dedent(program), test_code=textwrap.dedent(tests), **options))


def statuses(result: SuiteResult) -> dict[str, str]:
    return {o.name: o.status for o in result.outcomes}


def assert_healthy(sb: ProcessSandbox) -> None:
    """The same sandbox still runs a test job and a call job."""
    result = run(sb, "import unittest\nclass TestCases(unittest.TestCase):\n    def test_a(self):\n        pass\n")
    assert result.passed and statuses(result) == {"test_a": "passed"}, result
    call = sb.run(CallJob("def f(x):\n    return x + 1\n", "f", [[1]], [1.0], [3.0]))
    assert [c.value for c in call.calls] == [2] and call.complete


# ---------------------------------------------------------------- outcomes


def test_a_passing_class_reports_every_test_in_definition_order(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        def test_zero(self):
            self.assertEqual(add(0, 0), 0)
        def test_b(self):
            self.assertEqual(add(1, 2), 3)
        def test_a(self):
            self.assertEqual(add("a", "b"), "ab")
        def helper(self):
            raise AssertionError("not a test: never run")
    """
    result = run(sandbox, tests)
    assert [o.name for o in result.outcomes] == ["test_zero", "test_b", "test_a"]
    assert set(statuses(result).values()) == {"passed"}
    assert result.passed and result.complete and result.load_error is None
    assert result.how_it_ended == "exited with status 0" and result.failures == []


def test_a_failing_assertion_carries_its_message(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        def test_ok(self):
            self.assertEqual(add(1, 2), 3)
        def test_wrong(self):
            self.assertEqual(add(2, 2), 5, "two and two make five")
    """
    result = run(sandbox, tests)
    assert statuses(result) == {"test_ok": "passed", "test_wrong": "failed"}
    assert not result.passed and result.complete
    (failure,) = result.failures
    assert "AssertionError: 4 != 5 : two and two make five" in failure.detail
    assert 'File "<candidate>"' in failure.detail
    assert 'self.assertEqual(add(2, 2), 5, "two and two make five")' in failure.detail  # the source line


def test_an_exception_is_an_error_with_its_traceback(sandbox: ProcessSandbox) -> None:
    program = """
    def add(a, b):
        return helper(a) + b
    def helper(a):
        raise ValueError(f"cannot take {a}")
    """
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        def test_add(self):
            self.assertEqual(add(1, 2), 3)
    """
    result = run(sandbox, tests, program)
    (outcome,) = result.outcomes
    assert outcome.status == "error"
    assert outcome.detail.startswith("Traceback (most recent call last):")
    assert "in helper" in outcome.detail and "ValueError: cannot take 1" in outcome.detail
    assert "_worker" not in outcome.detail  # unittest's and the runner's frames are left out


def test_long_details_are_cut_in_the_middle(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        def test_long(self):
            raise AssertionError("start " + "x" * 100_000 + " end")
    """
    (outcome,) = run(sandbox, tests).outcomes
    assert outcome.status == "failed"
    assert len(outcome.detail) < 5000
    assert "characters cut" in outcome.detail and outcome.detail.rstrip().endswith("end")


def test_skips_expected_failures_and_subtests(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        @unittest.skip("not today")
        def test_skipped(self):
            raise AssertionError
        @unittest.expectedFailure
        def test_expected(self):
            self.assertEqual(1, 2)
        @unittest.expectedFailure
        def test_unexpected(self):
            pass
        def test_subtests(self):
            for i in range(4):
                with self.subTest(i=i):
                    self.assertLess(i, 2)
    """
    result = run(sandbox, tests)
    assert statuses(result) == {
        "test_skipped": "skipped",
        "test_expected": "passed",
        "test_unexpected": "failed",
        "test_subtests": "failed",
    }
    outcomes = {o.name: o for o in result.outcomes}
    assert outcomes["test_skipped"].detail == "not today"
    assert "(i=2)" in outcomes["test_subtests"].detail and "(i=3)" in outcomes["test_subtests"].detail
    assert "(i=1)" not in outcomes["test_subtests"].detail


def test_a_skipped_test_does_not_pass_the_suite(sandbox: ProcessSandbox) -> None:
    """The program can skip a test too; only the tester, which knows the reference's own
    skips, may leave a skip out (tests/test_tampering.py)."""
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        def test_a(self):
            pass
        @unittest.skip("later")
        def test_b(self):
            pass
    """
    result = run(sandbox, tests)
    assert not result.passed and result.complete
    assert [(o.name, o.status) for o in result.failures] == [("test_b", "skipped")]


# ---------------------------------------------------------------- selection


def test_a_selection_runs_only_those_tests_in_that_order(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    RAN = []
    class TestCases(unittest.TestCase):
        def test_1(self):
            RAN.append(1)
        def test_2(self):
            raise AssertionError("test_2 is not selected")
        def test_3(self):
            RAN.append(3)
            self.assertEqual(RAN, [3])
    """
    result = run(sandbox, tests, test_names=("test_3", "test_1"))
    assert [(o.name, o.status) for o in result.outcomes] == [("test_3", "passed"), ("test_1", "passed")]
    assert result.passed


def test_a_selected_name_that_does_not_exist_is_an_error(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        def test_1(self):
            pass
    """
    result = run(sandbox, tests, test_names=("test_1", "test_missing"))
    assert statuses(result) == {"test_1": "passed", "test_missing": "error"}
    assert "no such test method" in result.outcomes[1].detail
    assert not result.passed


def test_another_class_name(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    class Hidden(unittest.TestCase):
        def test_1(self):
            pass
    """
    assert statuses(run(sandbox, tests, class_name="Hidden")) == {"test_1": "passed"}
    missing = run(sandbox, tests)
    assert missing.load_error == "the program defines no unittest.TestCase class named 'TestCases'"
    assert not missing.passed


def test_an_empty_selection_runs_nothing(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        def test_1(self):
            raise AssertionError
    """
    result = run(sandbox, tests, test_names=())
    assert result.outcomes == [] and result.complete


# ---------------------------------------------------------------- loading


@pytest.mark.parametrize(
    "program, expected",
    [
        ("import no_such_module_here\n" + ADD, "ModuleNotFoundError: No module named 'no_such_module_here'"),
        ("def add(a, b)\n    return a + b\n", "SyntaxError"),
        ("raise RuntimeError('at import time')\n", "RuntimeError: at import time"),
    ],
    ids=["missing-module", "syntax-error", "raises"],
)
def test_a_program_that_does_not_load_is_a_load_error(sandbox: ProcessSandbox, program: str, expected: str) -> None:
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        def test_1(self):
            pass
    """
    result = run(sandbox, tests, program)
    assert result.load_error is not None and expected in result.load_error, result.load_error
    assert "<candidate>" in result.load_error and "_worker" not in result.load_error
    assert result.outcomes == [] and not result.passed and not result.complete


def test_exit_at_module_level_is_a_load_error(sandbox: ProcessSandbox) -> None:
    result = run(sandbox, "import unittest\n", "import os\nos._exit(3)\n")
    assert result.load_error == "the program did not finish loading (exited with status 3)"
    assert result.outcomes == [] and not result.passed
    assert_healthy(sandbox)


# ---------------------------------------------------------------- a test that ends the process

LOOP_TESTS = """
import os, time, unittest
class TestCases(unittest.TestCase):
    def test_1_fine(self):
        self.assertEqual(add(1, 1), 2)
    def test_2_fails(self):
        self.assertEqual(add(1, 1), 3)
    def test_3_hangs(self):
        BODY
    def test_4_never(self):
        pass
    def test_5_never(self):
        pass
"""


@pytest.mark.parametrize(
    "body, wall, ending",
    [
        ("while True:\n            pass", 30.0, "stopped at the CPU-time limit"),
        ("sum(range(10**12))", 30.0, "stopped at the CPU-time limit"),  # one C call: no Python handler runs
        ("time.sleep(600)", 2.0, "stopped at the wall-clock deadline"),
        ("os._exit(7)", 30.0, "exited with status 7"),
        ("import ctypes; ctypes.string_at(0)", 30.0, "killed by SIGSEGV (segmentation fault)"),
    ],
    ids=["python-loop", "c-loop", "sleep", "os._exit", "segfault"],
)
def test_a_test_that_ends_the_process_keeps_the_earlier_outcomes(
    sandbox: ProcessSandbox, body: str, wall: float, ending: str
) -> None:
    start = time.monotonic()
    result = run(sandbox, LOOP_TESTS.replace("BODY", body), cpu_budget=1.0, wall_budget=wall)
    assert time.monotonic() - start < 10.0
    assert result.cpu < 2.0  # the CPU budget is the process's limit (call jobs get a second more)
    assert [o.status for o in result.outcomes] == ["passed", "failed", "error", "not_run", "not_run"]
    assert result.how_it_ended == ending
    assert result.outcomes[2].detail == f"the test did not finish ({ending})"
    assert result.outcomes[3].detail == f"not run: the process ended earlier ({ending})"
    assert not result.passed and not result.complete and result.load_error is None
    assert_healthy(sandbox)


def test_exits_that_unittest_catches_are_errors_of_that_test(sandbox: ProcessSandbox) -> None:
    tests = """
    import sys, unittest
    class TestCases(unittest.TestCase):
        def test_1(self):
            sys.exit(0)
        def test_2(self):
            raise KeyboardInterrupt  # escapes unittest: its suite ends, the next tests still run
        def test_3(self):
            pass
    """
    result = run(sandbox, tests)
    assert statuses(result) == {"test_1": "error", "test_2": "error", "test_3": "passed"}
    assert "SystemExit" in result.outcomes[0].detail
    assert "KeyboardInterrupt" in result.outcomes[1].detail
    assert result.complete and not result.passed


def test_writing_into_the_result_stream_cannot_pass_the_suite(sandbox: ProcessSandbox) -> None:
    tests = """
    import os, unittest
    class TestCases(unittest.TestCase):
        def test_1(self):
            for fd in range(3, 64):  # the result stream is one of the inherited descriptors
                try:
                    os.write(fd, b"garbage" * 10)
                except OSError:
                    pass
        def test_2(self):
            pass
    """
    result = run(sandbox, tests)
    assert result.garbled and not result.passed
    assert result.how_it_ended == "wrote into the harness's result stream"
    assert [o.status for o in result.outcomes] == ["error", "not_run"]
    assert_healthy(sandbox)


# ---------------------------------------------------------------- fixtures and environment


def test_set_up_and_tear_down_are_respected(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    LOG = []
    class TestCases(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            LOG.append("class")
        def setUp(self):
            LOG.append("setUp " + self._testMethodName)
            self.value = 41
        def tearDown(self):
            LOG.append("tearDown " + self._testMethodName)
        def test_1(self):
            self.assertEqual(self.value + 1, 42)
        def test_2(self):
            self.assertEqual(LOG, ["class", "setUp test_1", "tearDown test_1", "setUp test_2"])
    """
    result = run(sandbox, tests)
    assert result.passed, result.outcomes


def test_failing_fixtures(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        def setUp(self):
            if self._testMethodName == "test_bad_setup":
                raise OSError("no fixture file")
        def tearDown(self):
            if self._testMethodName == "test_bad_teardown":
                raise RuntimeError("cleanup failed")
        def test_bad_setup(self):
            pass
        def test_bad_teardown(self):
            pass
        def test_fine(self):
            pass
    """
    result = run(sandbox, tests)
    assert statuses(result) == {"test_bad_setup": "error", "test_bad_teardown": "error", "test_fine": "passed"}
    assert "OSError: no fixture file" in result.outcomes[0].detail
    assert "RuntimeError: cleanup failed" in result.outcomes[1].detail


def test_a_failing_class_fixture(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            raise OSError("no database")
        def test_1(self):
            pass
    """
    result = run(sandbox, tests)
    assert [(o.name, o.status) for o in result.outcomes] == [
        ("test_1", "not_run"),
        ("setUpClass (__candidate__.TestCases)", "error"),
    ]
    assert "OSError: no database" in result.outcomes[1].detail
    assert result.complete and not result.passed


def test_the_candidate_environment(sandbox: ProcessSandbox) -> None:
    tests = """
    import os, sys, time, unittest
    class TestCases(unittest.TestCase):
        def test_environment(self):
            self.assertEqual(os.environ["MPLBACKEND"], "Agg")
            self.assertEqual(time.strftime("%Z", time.localtime(0)), "UTC")
            self.assertEqual(os.environ["PATH"].split(os.pathsep)[0], os.path.dirname(sys.executable))
            self.assertNotEqual(__name__, "__main__")
            self.assertTrue(os.getcwd().startswith(os.environ["TMPDIR"]))
    """
    result = run(sandbox, tests)
    assert result.passed, result.outcomes


def test_output_is_kept(sandbox: ProcessSandbox) -> None:
    tests = """
    import unittest
    class TestCases(unittest.TestCase):
        def test_1(self):
            print("hello from the test", flush=True)
    """
    result = run(sandbox, tests)
    assert result.passed and "hello from the test" in result.output


# ---------------------------------------------------------------- BigCodeBench


def test_the_bundled_bigcodebench(bigcodebench: UnitDataset) -> None:
    assert len(bigcodebench.tasks) == 1140 and bigcodebench.version == "0.1.0_hf"
    task = bigcodebench.tasks["BigCodeBench/25"]
    assert task.entry_point == "task_func" and task.libs == ("zlib", "base64", "json")
    assert task.reference_program.startswith(task.complete_prompt)
    assert "class TestCases(unittest.TestCase)" in task.test
    assert task.instruct_prompt and task.code_prompt
    assert sum(stdlib_only(t) for t in bigcodebench.tasks.values()) == 300
    with pytest.raises(UsageError, match="load_unit"):
        datasets.load("bigcodebench")
    with pytest.raises(UsageError, match=r"datasets\.load\(\)"):
        datasets.load_unit("humaneval")
    with pytest.raises(DatasetError, match="no bundled version"):
        datasets.load_unit("bigcodebench", "0.1.4")


def test_imported_modules() -> None:
    source = "import os.path, numpy as np\nfrom pandas.api import types\nfrom . import sibling\nimport\n"
    assert imported_modules(source) == set()  # does not parse
    assert imported_modules(source.rsplit("import\n", 1)[0]) == {"os", "numpy", "pandas"}


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        ({"test": None}, "field 'test' must be str"),
        ({"libs": "['os', "}, "field 'libs' must be a list of module names"),
        ({"libs": "[1, 2]"}, "field 'libs' must be a list of module names"),
        ({"task_id": 7}, "field 'task_id' must be str"),
    ],
    ids=["test", "libs-syntax", "libs-type", "task_id"],
)
def test_a_malformed_file_names_file_line_and_field(
    bigcodebench: UnitDataset, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    task = bigcodebench.tasks["BigCodeBench/25"]
    good = {
        "task_id": task.task_id,
        "complete_prompt": task.complete_prompt,
        "instruct_prompt": task.instruct_prompt,
        "canonical_solution": task.canonical_solution,
        "code_prompt": task.code_prompt,
        "test": task.test,
        "entry_point": task.entry_point,
        "doc_struct": "{}",
        "libs": repr(list(task.libs)),
    }
    path = _write_jsonl(tmp_path / "bad.jsonl.gz", [good, {**good, "task_id": "X/1", **change}])
    with pytest.raises(DatasetError, match=re.escape(f"bad.jsonl.gz:2: {message}")):
        datasets.load_unit("bigcodebench", path=path)
    missing = {k: v for k, v in good.items() if k != "entry_point"}
    with pytest.raises(DatasetError, match=re.escape("bad.jsonl.gz:1: field 'entry_point' is missing")):
        datasets.load_unit("bigcodebench", path=_write_jsonl(tmp_path / "bad.jsonl.gz", [missing]))
    loaded = datasets.load_unit("bigcodebench", path=_write_jsonl(tmp_path / "good.jsonl.gz", [good]))
    assert list(loaded.tasks) == ["BigCodeBench/25"] and loaded.source.endswith("good.jsonl.gz")


REAL_TASKS = ("BigCodeBench/25", "BigCodeBench/466", "BigCodeBench/1126")


@pytest.mark.parametrize("task_id", REAL_TASKS)
def test_bigcodebench_reference_solutions_pass(
    sandbox: ProcessSandbox, bigcodebench: UnitDataset, task_id: str
) -> None:
    task = bigcodebench.tasks[task_id]
    assert stdlib_only(task)
    result = sandbox.run_tests(job_for(task, task.reference_program))
    assert result.passed, result
    assert len(result.outcomes) >= 5 and all(o.name.startswith("test") for o in result.outcomes)


def test_a_wrong_bigcodebench_solution_fails_test_by_test(sandbox: ProcessSandbox, bigcodebench: UnitDataset) -> None:
    task = bigcodebench.tasks["BigCodeBench/1126"]
    wrong = task.canonical_solution.replace("[^A-Za-z0-9]+", "[^A-Za-z0-9 ]+")  # keeps the spaces
    assert wrong != task.canonical_solution
    result = sandbox.run_tests(job_for(task, task.program(wrong)))
    assert not result.passed and result.complete
    by_name = statuses(result)
    assert by_name["test_case_1"] == "failed" and by_name["test_case_2"] == "failed"  # inputs with spaces
    assert by_name["test_case_3"] == "passed" and by_name["test_case_4"] == "passed"  # "1234567890", ""
    assert all(o.detail.startswith("Traceback") and "AssertionError" in o.detail for o in result.failures)
    # the instruct-style answer: a whole program, not a continuation
    whole = task.code_prompt + "    return 'not a hash'\n"
    assert [o.status for o in sandbox.run_tests(job_for(task, whole)).outcomes] == ["failed"] * len(by_name)


# ---------------------------------------------------------------- a machine of its own


def test_a_test_job_has_a_private_view_of_the_machine(sandbox: ProcessSandbox) -> None:
    """Tests written for a machine of their own work (files in /tmp, a server on localhost,
    multiprocessing, /proc), without reaching the host's /tmp, network, processes or files."""
    missing = [w for w in sandbox.warnings() if not w.startswith("no per-job uid")]
    if missing:  # the private view needs the namespaces; the host files, Landlock
        pytest.skip(missing[0])
    marker = f"convcode-{uuid.uuid4().hex}"
    with socket.create_server(("127.0.0.1", 0)) as host_server:
        host_port = host_server.getsockname()[1]
        tests = f"""
        import multiprocessing, os, socket, unittest
        class TestCases(unittest.TestCase):
            def test_tmp(self):
                with open("/tmp/{marker}", "w") as f:
                    f.write("private")
                self.assertEqual(os.getcwd(), "/tmp/work")
            def test_proc(self):
                pids = [p for p in os.listdir("/proc") if p.isdigit()]
                self.assertEqual(pids, ["1"])  # only this job's runner
                with open("/proc/self/maps") as f:
                    self.assertIn("python", f.read())
            def test_localhost_server(self):
                with socket.create_server(("localhost", 0)) as server:
                    with socket.create_connection(server.getsockname()[:2], timeout=2):
                        server.accept()[0].close()
            def test_multiprocessing(self):
                with multiprocessing.Pool(2) as pool:
                    self.assertEqual(pool.map(abs, [-1, -2]), [1, 2])
            def test_host_files(self):
                with open("/etc/hosts") as f:
                    f.read()
                with self.assertRaises(PermissionError):
                    open("/etc/passwd").read()
            def test_host_server(self):
                with self.assertRaises(OSError):
                    socket.create_connection(("127.0.0.1", {host_port}), timeout=2)
        """
        result = run(sandbox, tests, cpu_budget=10.0, wall_budget=20.0)
        host_server.settimeout(0.2)
        with pytest.raises(TimeoutError):
            host_server.accept()
    assert result.passed, [(o.name, o.status, o.detail) for o in result.failures]
    assert not Path("/tmp", marker).exists()
    assert_healthy(sandbox)
