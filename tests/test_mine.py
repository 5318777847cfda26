# ruff: noqa: F811 - the fixtures imported from test_repos are these tests' parameters
"""The miner: a method's spans and record, and ``python -m pytest_convcode.mine`` end to end on the
tiny repository of test_repos.py (in both runners' layouts): which methods each stage keeps, the
tasks' fields, their tests and mutations, and the same file from the same tree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_repos import SHAPES, cache, place, tiny  # noqa: F401 - the tiny repository's fixtures, used by name

from pytest_convcode.mine.__main__ import funnel, main
from pytest_convcode.mine.methods import methods_of, packages, record_fields, source_files, stubbed
from pytest_convcode.repos.environment import RepoEnvironment


def test_a_methods_spans_run_from_its_first_decorator_and_its_code_follows_the_docstring() -> None:
    methods = {m.task_id: m for m in methods_of("tinylib/shapes.py", SHAPES)}
    assert list(methods) == [
        *("tinylib/shapes.py::Rect.__init__", "tinylib/shapes.py::Rect.area", "tinylib/shapes.py::Rect.is_square"),
        *(f"tinylib/shapes.py::{name}" for name in ("clamp", "undocumented", "short", "untested", "unchecked")),
    ]
    square = methods["tinylib/shapes.py::Rect.is_square"]
    lines = SHAPES.splitlines()
    assert lines[square.declaration[0]] == "    @property" and square.declaration == (14, 15)
    assert square.body == (16, 19) and square.code == (17, 19) and square.code_lines(lines) == 3
    assert square.description == "Whether its sides are equal." and square.class_span == (3, 19)
    assert methods["tinylib/shapes.py::undocumented"].description == ""
    stub = stubbed(square, lines).splitlines()
    assert stub[14:18] == [
        "    @property",
        "    def is_square(self):",
        '        """Whether its sides are equal."""',
        "        raise NotImplementedError",
    ]
    assert stub[18:] == lines[20:]


def test_a_record_holds_the_seeds_fields_with_the_method_cut_out() -> None:
    area = next(m for m in methods_of("tinylib/shapes.py", SHAPES) if m.name == "area")
    record = record_fields(area, SHAPES)
    method = record["method"]
    assert method["declaration"] == "    def area(self):"
    assert method["body"].splitlines()[0] == '        """The rectangle\'s area."""'
    assert method["global_method_declaration_index"] == [8, 8] and method["global_method_body_index"] == [9, 12]
    lines = SHAPES.splitlines()
    assert "\n".join(lines[8:13]) == method["declaration"] + "\n" + method["body"]  # the seed's ground truth
    assert record["file_without_method"] == "\n".join(lines[:8] + lines[13:]) + "\n"
    assert record["class_code"].startswith("class Rect:\n") and "def area" not in record["class_without_method"]
    assert record["class_without_method"].splitlines()[-1] == "        return width == height"
    assert (record["class_name"], record["raw_file_content"]) == ("Rect", SHAPES)


def test_the_source_files_are_the_packages_modules_not_their_tests(tiny: RepoEnvironment) -> None:
    (tiny.tree / "tinylib/tests").mkdir()
    for name in ("tinylib/tests/test_inner.py", "tinylib/test_helpers.py", "tinylib/conftest.py", "docs/conf.py"):
        (tiny.tree / name).parent.mkdir(exist_ok=True)
        (tiny.tree / name).write_text("")
    assert packages(tiny.tree) == ["tinylib"]
    assert source_files(tiny.tree) == ["tinylib/__init__.py", "tinylib/shapes.py"]


def mined(tiny: RepoEnvironment, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[dict], str]:
    assert main([tiny.spec, f"--out={out}", "--jobs=2"]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()], capsys.readouterr().out


def test_the_miner_keeps_the_methods_whose_tests_catch_a_stub_and_records_their_tests_and_a_caught_bug(
    tiny: RepoEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks, printed = mined(tiny, tmp_path / "tasks.jsonl", capsys)
    assert [task["task_id"] for task in tasks] == [
        "tinylib/shapes.py::Rect.area",
        "tinylib/shapes.py::Rect.is_square",
        "tinylib/shapes.py::clamp",
    ]
    assert printed.splitlines()[-8:] == [
        "       8 methods (module functions and methods of module classes)",
        "       6 with a docstring (75% of the stage before)",
        "       5 with a body of 3 to 60 lines (83% of the stage before)",  # not short()
        "       4 run by a passing test (80% of the stage before)",  # not untested()
        "       4 whose tests pass in the sandbox (100% of the stage before)",
        "       3 whose tests fail on the stub (75% of the stage before)",  # not unchecked()
        "       3 of 3 tasks with a mutation their tests catch (program repair)",
        printed.splitlines()[-1],
    ]
    assert printed.splitlines()[-1].startswith(f"wrote 3 tasks to {tmp_path / 'tasks.jsonl'} in ")
    area = tasks[0]
    test_area = (
        "test_shapes.RectTests.test_area" if tiny.runner == "django" else "tests/test_shapes.py::RectTests::test_area"
    )
    assert area["repo"] == tiny.spec and area["tests"]["full_paths"] == [test_area]
    assert 0 < area["tests"]["time_test_norm"] < 30
    assert (
        area["mutation"].endswith(" at line 13")
        and area["buggy_method"] != area["method"]["declaration"] + "\n" + area["method"]["body"]
    )
    buggy, truth = area["file_with_buggy_method"].splitlines(), area["raw_file_content"].splitlines()
    assert buggy[:8] + buggy[13:] == truth[:8] + truth[13:] and "\n".join(buggy[8:13]) == area["buggy_method"]
    assert "test_area" in area["test_error_message"] and "Ran 1 test" not in area["test_error_message"]
    assert str(tiny.tree) not in area["test_error_message"]  # paths relative to the tree: the same on every machine
    clamp_tests = tasks[2]["tests"]["full_paths"]
    assert len(clamp_tests) == 2 and clamp_tests == sorted(clamp_tests)  # fast ones, by name


@pytest.mark.parametrize("tiny", ["django"], indirect=True)  # pytest's layout: the same code, a slower runner
def test_the_same_tree_gives_the_same_tasks(
    tiny: RepoEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = mined(tiny, tmp_path / "first.jsonl", capsys)
    second, _ = mined(tiny, tmp_path / "second.jsonl", capsys)
    for task in (*first, *second):
        task["tests"].pop("time_test_norm")  # measured: the one field that differs
    assert first == second


def test_a_repository_without_an_environment_names_the_command(
    cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["django==4.0.4", f"--out={tmp_path / 'tasks.jsonl'}"])
    assert exited.value.code == 2
    assert "make one with `python -m pytest_convcode.env repo django==4.0.4`" in capsys.readouterr().err


def test_with_a_limit_the_last_stages_shares_are_of_the_methods_checked() -> None:
    assert funnel([100, 50, 40, 30, 8, 7], 8, 5, 7).splitlines()[3:] == [
        "      30 run by a passing test (75% of the stage before)",
        "       8 of them checked: --limit 7 was reached",
        "       8 whose tests pass in the sandbox (100% of the stage before)",
        "       7 whose tests fail on the stub (88% of the stage before)",
        "       5 of 7 tasks with a mutation their tests catch (program repair)",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("version", ["4.0.4", "5.2.20"])  # the seed's, and the LTS
def test_djangos_tasks_are_mined_from_its_sdist(
    version: str, place: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Django's sdist from PyPI, its environment made and checked, tasks mined from one test module."""
    monkeypatch.setenv("CONVCODE_CACHE", str(place / "cache"))  # the tree too must be where jobs see it
    made = subprocess.run([sys.executable, "-m", "pytest_convcode.env", "repo", f"django=={version}"], check=False)
    assert made.returncode == 0
    out = tmp_path / "tasks.jsonl"
    assert main([f"django=={version}", f"--out={out}", "--tests", "utils_tests.test_text", "--limit=3"]) == 0
    tasks = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(tasks) == 3 and all(task["task_id"].startswith("django/") for task in tasks)
    assert all(label.startswith("utils_tests.test_text.") for task in tasks for label in task["tests"]["full_paths"])
    assert "3 of 3 tasks" in capsys.readouterr().out or any(not task["buggy_method"] for task in tasks)
