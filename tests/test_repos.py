"""Repositories judged by their own tests: a source tree from a checkout (or an sdist), its recorded
environment, the runner on an edited copy in the sandbox (pass, fail, error, skip, crash, the edit
seen, the tree untouched), the runners' outputs read, and the bugs program repair injects.

A tiny repository made here stands in for Django: a package with documented methods, unittest
tests, and a ``tests/runtests.py`` that takes Django's command line (or none: pytest's layout).
Its environment is this interpreter (pytest and coverage are dev requirements), recorded as
``python -m pytest_convcode.env repo`` would; the real making, and Django, are slow tests."""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_convcode.errors import UsageError
from pytest_convcode.repos import environment, source
from pytest_convcode.repos.environment import RepoEnvironment, find_environment
from pytest_convcode.repos.mutations import mutations, ordered
from pytest_convcode.repos.runner import run_direct, run_tests
from pytest_convcode.repos.testoutput import Counts, counts, failure_report
from pytest_convcode.sandbox import Sandbox, backend

ROOT = Path(__file__).resolve().parents[1]

SHAPES = '''"""Shapes: the tiny repository's package."""


class Rect:
    def __init__(self, width, height):
        self.width = width
        self.height = height

    def area(self):
        """The rectangle's area."""
        width = self.width
        height = self.height
        return width * height

    @property
    def is_square(self):
        """Whether its sides are equal."""
        width = self.width
        height = self.height
        return width == height


def clamp(value, low, high):
    """``value`` moved into [low, high]."""
    if value < low:
        return low
    if value > high:
        return high
    return value


def undocumented(value):
    if value:
        return [value]
    return []


def short(value):
    """Too short to be a task."""
    return value


def untested(value):
    """No test runs this."""
    doubled = value * 2
    tripled = value * 3
    return doubled + tripled


def unchecked(value):
    """The tests run this but do not look at what it does."""
    halved = value / 2
    quartered = value / 4
    return halved - quartered
'''

TESTS = """import contextlib
import unittest

from tinylib.shapes import Rect, clamp, unchecked


class RectTests(unittest.TestCase):
    def test_area(self):
        self.assertEqual(Rect(2, 3).area(), 6)

    def test_square(self):
        self.assertTrue(Rect(2, 2).is_square)
        self.assertFalse(Rect(2, 3).is_square)


class ClampTests(unittest.TestCase):
    def test_inside(self):
        self.assertEqual(clamp(5, 0, 10), 5)

    def test_outside(self):
        self.assertEqual(clamp(-1, 0, 10), 0)
        self.assertEqual(clamp(11, 0, 10), 10)


class UncheckedTests(unittest.TestCase):
    def test_runs(self):
        with contextlib.suppress(Exception):
            unchecked(1)


class SkippedTests(unittest.TestCase):
    @unittest.skip("the runner's tests need a skip")
    def test_skipped(self):
        pass
"""

# Django's command line: LABELS --verbosity N --noinput --parallel N; labels as unittest names them
RUNTESTS = """import argparse
import sys
import unittest

parser = argparse.ArgumentParser()
parser.add_argument("labels", nargs="*")
parser.add_argument("--verbosity", type=int, default=1)
parser.add_argument("--noinput", action="store_true")
parser.add_argument("--parallel", default="1")
args = parser.parse_args()
suite = unittest.defaultTestLoader.loadTestsFromNames(args.labels or ["test_shapes"])
sys.exit(not unittest.TextTestRunner(verbosity=args.verbosity).run(suite).wasSuccessful())
"""

# Its environment is this interpreter, which has this package's pytest plugin, and a job may not read
# this package: the repository's own pytest configuration leaves the plugin out.
PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "tinylib"
version = "0.1"

[tool.pytest.ini_options]
addopts = "-p no:convcode"
"""


def make_tiny_repo(path: Path, runner: str = "django") -> Path:
    """The tiny repository at ``path``: Django's runner layout, or pytest's."""
    files = {
        "pyproject.toml": PYPROJECT,
        "tinylib/__init__.py": "",
        "tinylib/shapes.py": SHAPES,
        "tests/test_shapes.py": TESTS,
        **({"tests/runtests.py": RUNTESTS} if runner == "django" else {}),
    }
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def tree_digest(tree: Path) -> str:
    """What the tree holds, bytecode caches left out."""
    digest = hashlib.sha256()
    for path in sorted(tree.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This machine's cache, empty: no environment has been recorded."""
    monkeypatch.setenv("CONVCODE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder outside /tmp for a virtual environment (a job's /tmp is its own: it hides an
    interpreter kept there), removed afterwards."""
    path = ROOT / ".convcode-cache" / f"test-repos-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=["django", "pytest"])
def tiny(request: pytest.FixtureRequest, tmp_path: Path, cache: Path) -> RepoEnvironment:
    """The tiny repository, in each runner's layout, with this interpreter as its recorded environment
    (a job's /tmp is its own, but it sees a tree kept there through its copy-on-write view)."""
    tree = make_tiny_repo(tmp_path / "tinylib", request.param)
    env = RepoEnvironment(str(tree), tree, Path(sys.executable), request.param)
    environment.save(env, {})
    return env


def labels(env: RepoEnvironment, *names: str) -> list[str]:
    """Test names as each runner takes them: ``test_shapes.RectTests`` or ``tests/test_shapes.py::RectTests``."""
    if env.runner == "django":
        return [f"test_shapes.{name}" for name in names]
    return [f"tests/test_shapes.py::{name.replace('.', '::')}" for name in names]


def test_a_checkout_is_its_folder_and_a_pinned_sdist_goes_to_the_cache(tmp_path: Path, cache: Path) -> None:
    checkout = source.fetch(str(tmp_path))
    assert checkout.tree == tmp_path and checkout.local and checkout.key.startswith(f"{tmp_path.name}-")
    assert source.locate(str(tmp_path)).key == checkout.key  # the same folder, the same key
    pinned = source.locate("Django==4.0.4")
    assert (pinned.key, pinned.sdist, pinned.tree) == ("django-4.0.4", "django==4.0.4", cache / "repos/django-4.0.4")
    with pytest.raises(UsageError, match=r"^repository 'django': name a PyPI sdist pinned to a version"):
        source.locate("django")
    with pytest.raises(UsageError, match=r"^repository ./nowhere/at/all: no such folder$"):
        source.fetch("./nowhere/at/all")


def test_the_recorded_environment_is_found_by_its_spec_else_the_error_names_the_command(
    tiny: RepoEnvironment, cache: Path
) -> None:
    assert find_environment(tiny.spec) == tiny
    assert json.loads(environment.record_file(tiny.spec).read_text())["skipped"] == {}
    with pytest.raises(UsageError) as raised:
        find_environment("django==4.0.4")
    assert str(raised.value) == (
        f"repository django==4.0.4: no environment is recorded on this machine ({cache}/envs/repo-django-4.0.4.json); "
        "make one with `python -m pytest_convcode.env repo django==4.0.4`"
    )


def test_the_runner_of_a_tree_is_djangos_where_it_has_runtests(tiny: RepoEnvironment) -> None:
    assert environment.runner_of(tiny.tree) == tiny.runner


def test_the_tests_pass_on_the_ground_truth_and_see_the_edit_in_the_copy_not_the_tree(
    tiny: RepoEnvironment, sandbox: Sandbox
) -> None:
    before = tree_digest(tiny.tree)
    truth = (tiny.tree / "tinylib/shapes.py").read_text()
    passed = run_tests(sandbox, tiny, "tinylib/shapes.py", truth, labels(tiny, "RectTests", "ClampTests"))
    assert (passed.passed, passed.ran, passed.failures, passed.errors, passed.crashed) == (True, 4, 0, 0, "")
    assert passed.share_passed == 1.0 and "test_area" in passed.output  # each test's line, and its verdict
    wrong = truth.replace("return width * height", "return width + height")
    failed = run_tests(sandbox, tiny, "tinylib/shapes.py", wrong, labels(tiny, "RectTests", "ClampTests"))
    assert (failed.passed, failed.ran, failed.failures, failed.errors) == (False, 4, 1, 0)
    assert failed.share_passed == 0.75 and "5 != 6" in failed.output
    broken = truth.replace("return width * height", "return width * undefined_name")
    erred = run_tests(sandbox, tiny, "tinylib/shapes.py", broken, labels(tiny, "RectTests"))
    raised = (0, 1) if tiny.runner == "django" else (1, 0)  # pytest's errors are its fixtures'
    assert (erred.passed, erred.ran, erred.failures, erred.errors) == (False, 2, *raised)
    assert "NameError: name 'undefined_name' is not defined" in erred.output
    assert tree_digest(tiny.tree) == before  # every edit was the copy's


def test_a_skipped_test_is_counted_apart_and_does_not_pass(tiny: RepoEnvironment, sandbox: Sandbox) -> None:
    truth = (tiny.tree / "tinylib/shapes.py").read_text()
    run = run_tests(sandbox, tiny, "tinylib/shapes.py", truth, labels(tiny, "RectTests", "SkippedTests"))
    assert (run.passed, run.ran, run.failures, run.errors, run.skipped) == (False, 3, 0, 0, 1)
    assert run.share_passed == pytest.approx(2 / 3)


def test_a_run_that_hangs_or_dies_before_its_summary_crashed_and_says_why(
    tiny: RepoEnvironment, sandbox: Sandbox
) -> None:
    hangs = run_tests(sandbox, tiny, "tinylib/shapes.py", "while True:\n    pass\n", labels(tiny, "RectTests"), 3.0)
    assert not hangs.passed and hangs.ran == 0 and hangs.crashed.startswith("stopped at the")
    dies = run_tests(sandbox, tiny, "tinylib/shapes.py", "import os\nos._exit(3)\n", labels(tiny, "RectTests"))
    assert (dies.passed, dies.ran, dies.share_passed) == (False, 0, 0.0)
    assert dies.crashed == "the test runner printed no summary: it stopped before the tests ended"


def test_a_direct_run_is_the_tree_as_it_is(tiny: RepoEnvironment) -> None:
    run = run_direct(tiny, tiny.tree, labels(tiny, "ClampTests"), 60.0)
    assert (run.passed, run.ran) == (True, 2)


def test_env_repo_needs_a_repository_and_an_environment_where_jobs_see_it(tmp_path: Path, cache: Path) -> None:
    def env(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest_convcode.env", "repo", *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    unnamed = env()
    assert (unnamed.returncode, unnamed.stderr) == (
        2,
        "error: repo: name the repository: django==4.0.4, or a checkout's path\n",
    )
    hidden = env(str(make_tiny_repo(tmp_path / "tinylib")), f"--path={tmp_path / 'env'}")
    assert hidden.returncode == 2
    assert hidden.stderr == (
        f"error: --path {tmp_path / 'env'}: the sandbox mounts each job's own directory on /tmp, "
        "which hides an interpreter kept there; choose another place\n"
    )


UNITTEST_FAILED = """\
test_slugify (utils_tests.test_text.TestUtilsText.test_slugify) ... FAIL
test_wrap (utils_tests.test_text.TestUtilsText.test_wrap) ... ok
test_x (utils_tests.test_text.T.test_x) ... skipped 'no x'

======================================================================
FAIL: test_slugify (utils_tests.test_text.TestUtilsText.test_slugify) (value='你好')
----------------------------------------------------------------------
Traceback (most recent call last):
  File "tests/utils_tests/test_text.py", line 245, in test_slugify
    self.assertEqual(text.slugify(value, allow_unicode=is_unicode), output)
AssertionError: 'x' != '你好'

----------------------------------------------------------------------
Ran 14 tests in 0.038s

FAILED (failures=15, errors=1, skipped=1, unexpected successes=1)
"""
PYTEST_FAILED = """\
tests/test_shapes.py::RectTests::test_area FAILED                        [ 50%]
tests/test_shapes.py::RectTests::test_square PASSED                      [100%]

=================================== FAILURES ===================================
______________________________ RectTests.test_area _____________________________

    def test_area(self):
>       self.assertEqual(Rect(2, 3).area(), 6)
E       AssertionError: 5 != 6

tests/test_shapes.py:9: AssertionError
=========================== short test summary info ============================
FAILED tests/test_shapes.py::RectTests::test_area - AssertionError: 5 != 6
==================== 1 failed, 1 passed, 2 skipped, 1 error in 0.05s ====================
"""


def test_unittests_closing_lines_and_pytests_summary_are_read() -> None:
    assert counts("django", UNITTEST_FAILED) == Counts(14, 16, 1, 1)  # an unexpected success fails the run
    assert counts("django", "Ran 3 tests in 0.001s\n\nOK (skipped=1, expected failures=1)\n") == Counts(3, 0, 0, 1)
    assert counts("django", "Ran 1 test in 0.001s\n\nOK\n") == Counts(1, 0, 0, 0)
    assert counts("django", "Found 14 test(s).\nTraceback (most recent call last):\n") is None
    assert counts("pytest", PYTEST_FAILED) == Counts(5, 1, 1, 2)
    assert counts("pytest", "2 passed, 1 xfailed, 3 deselected in 65.40s (0:01:05)\n") == Counts(3, 0, 0, 0)
    assert counts("pytest", "============ no tests ran in 0.01s ============\n") == Counts(0, 0, 0, 0)
    assert counts("pytest", "ERROR: file or directory not found: tests/nowhere.py\n") is None


def test_the_failure_report_is_the_failed_tests_without_the_timing() -> None:
    unittest_report = failure_report("django", UNITTEST_FAILED)
    assert unittest_report.startswith("=" * 70 + "\nFAIL: test_slugify")
    assert unittest_report.endswith("AssertionError: 'x' != '你好'")
    pytest_report = failure_report("pytest", PYTEST_FAILED)
    assert pytest_report.startswith("=" * 35 + " FAILURES ") and pytest_report.endswith("AssertionError")
    assert failure_report("django", "Traceback: it crashed\n") == "Traceback: it crashed\n"


MUTATED = '''class A:
    def f(self, x, y):
        """The docstring is left alone: 1 < 2."""
        if x < y and y >= 0:
            x += 2 * (y - 1)
        while not x:
            x = f"{x + 1}"
        return x if x is not None else True
'''


def test_every_mutation_of_a_method_edits_its_text_in_place_and_parses() -> None:
    function = ast.parse(MUTATED).body[0].body[0]  # type: ignore[attr-defined]
    found = mutations(MUTATED, function)
    changed = {}
    for mutation in found:
        mutated = mutation.apply(MUTATED)
        ast.parse(mutated)
        (line,) = [new for old, new in zip(MUTATED.splitlines(), mutated.splitlines(), strict=True) if old != new]
        changed[mutation.description] = line.strip()
    assert changed == {
        "Condition: if negated at line 4": "if not (x < y and y >= 0):",
        "Compare: < -> <= at line 4": "if x <= y and y >= 0:",
        "Boolean: and -> or at line 4": "if x < y or y >= 0:",
        "Compare: >= -> > at line 4": "if x < y and y > 0:",
        "Constant: 0 -> 1 at line 4": "if x < y and y >= 1:",
        "Operator: += -> -= at line 5": "x -= 2 * (y - 1)",
        "Constant: 2 -> 3 at line 5": "x += 3 * (y - 1)",
        "Operator: * -> / at line 5": "x += 2 / (y - 1)",
        "Operator: - -> + at line 5": "x += 2 * (y + 1)",
        "Constant: 1 -> 2 at line 5": "x += 2 * (y - 2)",
        "Condition: while negated at line 6": "while (x):",  # the f-string's parts are left alone
        "Return: `x if x is not None else True` -> None at line 8": "return None",
        "Condition: conditional expression negated at line 8": "return x if not (x is not None) else True",
        "Compare: is not -> is at line 8": "return x if x is None else True",
        "Constant: True -> False at line 8": "return x if x is not None else False",
    }
    assert ordered(found, "a.py::A.f") == ordered(found, "a.py::A.f") != ordered(found, "a.py::A.g")
    assert sorted(ordered(found, "a.py::A.f"), key=lambda m: m.start) == sorted(found, key=lambda m: m.start)


def test_a_mutation_counts_columns_in_bytes_as_the_ast_does() -> None:
    text = 'def f(s):\n    """Doc."""\n    t = "é" + s\n    return t[1] == "é"\n'
    found = {m.description: m.apply(text) for m in mutations(text, ast.parse(text).body[0])}  # type: ignore[arg-type]
    assert found["Operator: + -> - at line 3"].splitlines()[2] == '    t = "é" - s'
    assert found["Compare: == -> != at line 4"].splitlines()[3] == '    return t[1] != "é"'


@pytest.mark.slow
def test_the_environment_of_a_checkout_is_made_checked_and_runs_its_edits(place: Path, cache: Path) -> None:
    """The real making: a virtual environment with the package installed from its tree (pip, from
    PyPI), the runner checked; a run still imports the copy's edit, not the installed package."""
    tree = make_tiny_repo(place / "tinylib")
    command = [sys.executable, "-m", "pytest_convcode.env", "repo", str(tree), f"--path={place / 'env'}"]
    made = subprocess.run(command, capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert lines[0] == f"[0:00] fetching the source: {tree}"
    assert f"made {tree}'s environment: {place / 'env/bin/python'} (django's runner, tree {tree})" in lines
    assert any(line.startswith("checked: the whole suite: 6 tests ran (1 skipped), none failed, in ") for line in lines)
    env = find_environment(str(tree))
    assert env == RepoEnvironment(str(tree), tree, place / "env/bin/python", "django")
    installed = subprocess.run([str(env.python), "-c", "import tinylib.shapes as s; print(s.__file__)"], cwd=place)
    assert installed.returncode == 0  # the package is in the environment, not only in the tree
    wrong = SHAPES.replace("return width * height", "return width + height")
    sandbox = backend("process")()
    try:
        assert run_tests(sandbox, env, "tinylib/shapes.py", SHAPES, ["test_shapes.RectTests"]).passed
        assert not run_tests(sandbox, env, "tinylib/shapes.py", wrong, ["test_shapes.RectTests"]).passed
    finally:
        sandbox.close()
