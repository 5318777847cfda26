"""The evaluation environment: ``python -m pytest_convcode.env bigcodebench`` makes and checks a
virtual environment, ``--sandbox-python auto`` finds it, and a run without it says how to make it."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_convcode import env
from pytest_convcode.datasets import bigcodebench
from pytest_convcode.datasets.bigcodebench import LEADERBOARD_BUDGET
from pytest_convcode.env import references
from pytest_convcode.env.__main__ import failure_gist, summary
from pytest_convcode.env.build import StatusLine
from pytest_convcode.errors import InfrastructureError, UsageError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This machine's cache, empty: no environment has been made."""
    monkeypatch.setenv("CONVCODE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def suite(pytester: pytest.Pytester, cache: Path) -> pytest.Pytester:
    pytester.makepyfile(test_bigcodebench=(ROOT / "suites/bigcodebench/test_bigcodebench.py").read_text())
    return pytester


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder outside /tmp (which each sandbox job has to itself), removed afterwards."""
    path = ROOT / ".convcode-cache" / f"test-env-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_auto_without_an_environment_stops_the_run_naming_the_command(suite: pytest.Pytester, cache: Path) -> None:
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--sandbox-python", "auto")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --sandbox-python auto: no BigCodeBench environment is recorded on this machine "
            f"({cache}/envs/bigcodebench.json); make one with `python -m pytest_convcode.env bigcodebench`*"
        ]
    )


def test_auto_is_the_recorded_interpreter_while_it_exists(cache: Path, place: Path) -> None:
    python = place / "bin" / "python"
    env.save("bigcodebench", env.Made(str(python), "0" * 64, {}, "2026-12-07T00:00:00+00:00"))
    with pytest.raises(UsageError, match="no BigCodeBench environment"):
        env.sandbox_python("auto")  # recorded, then deleted
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert env.sandbox_python("auto") == str(python)
    assert env.sandbox_python("/usr/bin/python3") == "/usr/bin/python3"  # a path is taken as given


def test_the_modules_checked_are_every_task_import_with_the_tasks_that_need_it() -> None:
    modules = env.ENVIRONMENTS["bigcodebench"].modules()
    assert len(modules["pandas"]) == 474 and "BigCodeBench/69" in modules["matplotlib"]
    assert modules["xmltodict"] == ("BigCodeBench/490", "BigCodeBench/498")  # only its tests' import says so
    assert "unittest" in modules and len(modules) == 146  # the standard library's are checked too


def test_the_summary_lists_what_is_missing_with_its_tasks_and_the_option() -> None:
    modules = {"os": ("BigCodeBench/1",), "cv2": tuple(f"BigCodeBench/{n}" for n in range(10))}
    made = env.Made("/e/bin/python", "0" * 64, {"cv2": "ImportError: libGL.so.1"}, "2026-12-07T00:00:00+00:00")
    text = summary("bigcodebench", made, modules)
    assert text.splitlines()[:3] == [
        "checked: 1 of 2 modules the tasks import",
        "  missing cv2 (ImportError: libGL.so.1): 10 tasks: BigCodeBench/0, BigCodeBench/1, BigCodeBench/2, "
        "BigCodeBench/3, BigCodeBench/4, BigCodeBench/5 and 4 more",
        "10 tasks need a module this environment lacks: their runs are environment errors",
    ]
    assert "run with: --sandbox-python /e/bin/python   (or --sandbox-python auto" in text


def test_the_reference_verdicts_of_the_environment_check_spare_a_run_its_reference_runs(
    suite: pytest.Pytester, cache: Path
) -> None:
    """The check keeps each task's verdict in the machine's cache; a run of that interpreter reads
    it where a program fails, and runs no reference: seeded to fail, task 24 becomes an error."""
    full = bigcodebench.load(None, None)
    dataset = replace(full, tasks={t: full.tasks[t] for t in ("BigCodeBench/24", "BigCodeBench/176")})
    where, failures = references.check_all(dataset, sys.executable, LEADERBOARD_BUDGET, 2, StatusLine(io.StringIO()))
    assert list(failures) == ["BigCodeBench/176"]  # it looks host names up: the sandbox has no network
    assert where == references.machine_dir(full, sys.executable)
    verdict = where / "BigCodeBench_24.reference-241s.json"
    assert references.read(verdict) == references.Reference("", frozenset())
    # it ended far within ConvCodeWorld's budget too: its verdict holds there
    assert references.read(where / "BigCodeBench_24.reference.json") == references.Reference("", frozenset())
    references.write(verdict, references.Reference("seeded: the check found it failing", frozenset()))

    wrong = {"task_id": "BigCodeBench/24", "solution": "def task_func(password, SALT_LENGTH=32):\n    return None\n"}
    (suite.path / "samples.jsonl").write_text(json.dumps(wrong) + "\n")
    result = suite.runpytest_subprocess(
        "-p", "no:cacheprovider", "--model", "replay:samples.jsonl", "--tasks", "BigCodeBench/24"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*BigCodeBench/24 cannot be judged here*seeded: the check found it failing*"])
    assert not list((suite.path / ".convcode-cache").rglob("*.reference*.json"))  # no reference ran


@pytest.mark.parametrize(
    ("why", "shown"),
    [
        ("2 of 5 tests did not pass; first, t (failed):\n  File x\nsocket.gaierror: [Errno -3] name resolution",
         "2 of 5 tests did not pass; first, t (failed): socket.gaierror: [Errno -3] name resolution"),
        ("the program did not load:\nLookupError:\n*****\n  Resource punkt not found.\n*****",
         "the program did not load: LookupError: Resource punkt not found."),
        ("the program did not load:\n  Searched in:\n    - '/usr/lib/nltk_data'\n*****",
         "the program did not load: - '/usr/lib/nltk_data'"),
    ],
)  # fmt: skip
def test_the_summary_gives_each_failing_reference_its_error_in_a_line(why: str, shown: str) -> None:
    assert failure_gist(why) == shown


def test_a_reference_check_whose_sandboxes_cannot_start_says_so(cache: Path) -> None:
    full = bigcodebench.load(None, None)
    dataset = replace(full, tasks={t: full.tasks[t] for t in ("BigCodeBench/16", "BigCodeBench/24")})
    with pytest.raises(InfrastructureError, match="sandbox worker under '/bin/false' exited at start"):
        references.check_all(dataset, "/bin/false", LEADERBOARD_BUDGET, 2, StatusLine(io.StringIO()))


def test_an_existing_interpreter_is_checked_and_not_recorded(cache: Path) -> None:
    command = [sys.executable, "-m", "pytest_convcode.env", "bigcodebench", "--no-references", "--existing"]
    missing = subprocess.run([*command, "/no/such/python"], capture_output=True, text=True, check=False)
    assert missing.returncode == 2
    assert "error: --existing /no/such/python: no such interpreter" in missing.stderr
    checked = subprocess.run([*command, sys.executable], capture_output=True, text=True, check=False)
    assert checked.returncode == 1, checked.stderr  # this interpreter lacks most of the tasks' libraries
    assert "missing matplotlib" in checked.stdout
    assert checked.stdout.rstrip().endswith(f"run with: --sandbox-python {sys.executable}")  # not "auto"
    assert not (cache / "envs" / "bigcodebench.json").exists()


def test_an_environment_under_tmp_is_refused_since_jobs_cannot_see_it(tmp_path: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "pytest_convcode.env", "bigcodebench", f"--path={tmp_path / 'env'}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 2
    assert made.stderr == (
        f"error: --path {tmp_path / 'env'}: the sandbox mounts each job's own directory on /tmp, "
        "which hides an interpreter kept there; choose another place\n"
    )
    with pytest.raises(UsageError, match=r"^--sandbox-python /tmp/venv/bin/python: the sandbox mounts"):
        env.sandbox_python("/tmp/venv/bin/python")


@pytest.mark.slow
def test_a_small_environment_is_made_checked_found_by_auto_and_runs_its_tasks(
    suite: pytest.Pytester, cache: Path, tmp_path: Path, place: Path
) -> None:
    """A real one, from PyPI, with two of the libraries only: the tasks that need only those pass,
    the one that needs matplotlib is an environment error that names the command."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("xmltodict==0.13.0  # BigCodeBench/490, 498\npytz==2023.3.post1\n")
    command = [sys.executable, "-m", "pytest_convcode.env", "bigcodebench", f"--path={place}", "--no-references"]
    made = subprocess.run(
        [*command, f"--requirements={requirements}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 1, made.stderr  # made, but most of the tasks' libraries are missing
    lines = made.stdout.splitlines()
    assert "] installing requirements: 0 of 2" in lines[2]  # the status line, printed when its step changes
    assert any(line.startswith("  missing matplotlib (ModuleNotFoundError: ") for line in lines)
    assert not any(line.startswith(("  missing xmltodict", "  missing pytz", "  missing os ")) for line in lines)
    python = place / "bin" / "python"
    assert f"run with: --sandbox-python {python}" in made.stdout
    assert json.loads((cache / "envs" / "bigcodebench.json").read_text())["python"] == str(python)

    result = suite.runpytest_subprocess(
        "-p", "no:cacheprovider", "--sandbox-python", "auto", "--model", "reference",
        "--tasks", "BigCodeBench/490,BigCodeBench/256,BigCodeBench/69",
    )  # fmt: skip
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*BigCodeBench/69 needs the module 'matplotlib'*python -m pytest_convcode.env*"])
