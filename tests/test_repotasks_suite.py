"""suites/repotasks end to end, on a tiny repository made here (outside /tmp, which each sandbox job
has to itself) with its environment made by ``python -m pytest_convcode.env repo``: the reference
passes every item, the masked stub fails every one, and a scripted model that is wrong until it
reads the tests' output solves method generation at turn 1 (MRR 50)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_conversations import messages
from test_repotasks import BUGS, TESTS, TEXT, record

from pytest_convcode.report import load_run
from pytest_convcode.repos.tasks import task_from_row
from pytest_convcode.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("chars", "words", "shout")
TURNS = 2  # --max-turns: 3 method generation items per task
ITEMS = len(NAMES) * (TURNS + 1) + len(NAMES) + len(BUGS)  # and a completion each, a repair where a bug is


@pytest.fixture(scope="module")
def repo() -> Iterator[tuple[Path, Path]]:
    """tinylib (tinylib/text.py and its pytest tests) and the machine cache its environment is in."""
    place = ROOT / ".convcode-cache" / f"test-repotasks-{uuid.uuid4().hex[:8]}"
    tree = place / "tinylib"
    (tree / "tinylib").mkdir(parents=True)
    (tree / "tests").mkdir()
    (tree / "tinylib" / "__init__.py").write_text("")
    (tree / "tinylib" / "text.py").write_text(TEXT)
    (tree / "tests" / "test_text.py").write_text(TESTS)
    (tree / "pyproject.toml").write_text('[project]\nname = "tinylib"\nversion = "0.1"\n')
    made = subprocess.run(
        [sys.executable, "-m", "pytest_convcode.env", "repo", str(tree)],
        env={**os.environ, "CONVCODE_CACHE": str(place / "cache")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    yield tree, place / "cache"
    shutil.rmtree(place, ignore_errors=True)


@pytest.fixture
def suite(pytester: pytest.Pytester, repo: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    tree, cache = repo
    monkeypatch.setenv("CONVCODE_CACHE", str(cache))
    pytester.makepyfile(test_repotasks=(ROOT / "suites/repotasks/test_repotasks.py").read_text())
    lines = [json.dumps(record(name, repo=str(tree))) for name in NAMES]
    (pytester.path / "tasks.jsonl").write_text("\n".join(lines) + "\n")
    return pytester


def ground_truth(name: str) -> str:
    return textwrap.dedent(task_from_row(record(name), "here").source)


def block(text: str, after: str) -> str:
    return re.search(after + r"\n```python\n(.*?)\n```", text, re.S)[1]  # type: ignore[index]


def stub(first: str) -> str:
    """The masked method, from what the prompt shows of it (or, to complete it, a body that raises)."""
    if first.startswith("This file of"):
        lines = block(first, "").splitlines()
        start = max(n for n, line in enumerate(lines) if re.match(r"\s*(async\s+)?def\s", line))
        below = [len(line) - len(line.lstrip()) for line in lines[start + 1 :] if line.strip()]
        indent = below[0] if below else len(lines[start]) - len(lines[start].lstrip()) + 4
        return f"```python\n{' ' * indent}raise NotImplementedError\n```"
    if "\nDeclaration:\n" in first:
        declaration = block(first, "Declaration:")
    else:  # repair: the shown method's declaration, up to the line that ends it
        lines = [line for line in textwrap.dedent(block(first, "The method:")).splitlines() if line[:1] != "@"]
        declaration = "\n".join(lines[: next(n for n, line in enumerate(lines) if line.rstrip().endswith(":")) + 1])
    return f"```python\n{declaration}\n    raise NotImplementedError\n```"


def answer(body: dict[str, Any], index: int) -> str:
    """model "stub": the masked method; model "learner": wrong at first, right once it has read the
    tests' output."""
    first, last = messages(body)[0]["content"], messages(body)[-1]["content"]
    if body["model"].endswith("stub"):
        return stub(first)
    name = re.search(r"method `(\w+)`", first)[1]  # type: ignore[index]
    completion = first.startswith("This file of")
    if completion:
        return f"```python\n{task_from_row(record(name), 'here').completion_target}```"
    if first.startswith("Write the method") and not last.startswith("Correct the answer. Tests failed:"):
        wrong = ground_truth(name).replace(*BUGS.get(name, ("return kept", "return kept[1:]")))
        return f"<think>a first try</think>Here it is:\n```python\n{wrong}```\n"
    return f"```python\n{ground_truth(name)}```"


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(answer) as s:
        yield s


def run(suite: pytest.Pytester, run_id: str, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", run_id, "--repo-tasks=tasks.jsonl", "--max-turns", str(TURNS), *args
    )  # fmt: skip


def summary(suite: pytest.Pytester, run_id: str) -> dict[str, Any]:
    return json.loads((suite.path / "reports" / run_id / "summary.json").read_text())


def results(suite: pytest.Pytester, run_id: str) -> dict[str, dict[str, Any]]:
    lines = (suite.path / "reports" / run_id / "results.jsonl").read_text().splitlines()
    return {f"{r['task_id']}-{r['setting']}-{r['turn']}": r for r in map(json.loads, lines)}


def test_the_reference_passes_every_item_with_its_ground_truth(suite: pytest.Pytester) -> None:
    result = run(suite, "ref", "--model", "reference")
    result.assert_outcomes(passed=ITEMS)
    scores = summary(suite, "ref")["repotasks"]
    assert set(scores) == {"repotasks method_gen", "repotasks completion", "repotasks repair"}
    for entry in scores.values():
        assert (entry["pass_rate"], entry["share"], entry["chrf"], entry["prefix_ratio"]) == (
            100.0,
            100.0,
            100.0,
            100.0,
        )
    assert scores["repotasks method_gen"]["curve"] == [100.0] * (TURNS + 1)
    chars = results(suite, "ref")["tinylib/text.py::Truncator.chars-method_gen-0"]
    assert chars["tests"] == {"ran": 2, "failures": 0, "errors": 0, "skipped": 0} and chars["kind"] == "repotasks"
    assert "program" not in results(suite, "ref")["tinylib/text.py::Truncator.chars-method_gen-1"]  # settled
    result.stdout.fnmatch_lines(
        ["repository tasks * tasks * pass * MRR * tests * chrF * prefix*", "repotasks method_gen * 3 * 100.0 *"]
    )


def test_the_masked_stub_fails_every_item(suite: pytest.Pytester, server: OpenAIServer) -> None:
    result = run(suite, "stub", "--model", "test/stub", "--base-url", server.url)
    result.assert_outcomes(failed=ITEMS)
    for entry in summary(suite, "stub")["repotasks"].values():
        assert (entry["pass_rate"], entry["crashed"], entry["not_run"]) == (0.0, 0, 0)
    assert "raise NotImplementedError" in results(suite, "stub")["tinylib/text.py::shout-repair-0"]["program"]


def test_a_model_that_reads_the_tests_output_solves_at_turn_1(suite: pytest.Pytester, server: OpenAIServer) -> None:
    result = run(suite, "learner", "--model", "test/learner", "--base-url", server.url, "-n", "2")
    result.assert_outcomes(passed=ITEMS - len(NAMES), failed=len(NAMES))  # each task's turn 0
    method = summary(suite, "learner")["repotasks"]["repotasks method_gen"]
    assert (method["mrr"], method["pass_rate"], method["curve"]) == (50.0, 100.0, [0.0, 100.0, 100.0])
    assert method["share_curve"][0] < 100.0 == method["share_curve"][1]
    # turn 1 was sent the whole history: the task, the wrong answer (reasoning dropped), the seed's feedback
    learner = [b for b in server.requests if b["model"].endswith("learner")]
    turn1 = next(b for b in learner if len(messages(b)) == 3 and "method `chars`" in messages(b)[0]["content"])
    feedback = messages(turn1)[2]["content"]
    assert feedback.startswith("Correct the answer. Tests failed:\nTEST_RESULT:\n```\n")
    assert "test_cut FAILED" in feedback and "```\nWrite the method `chars` of class `Truncator`" in feedback
    assert "num - 2" in messages(turn1)[1]["content"] and "<think>" not in str(messages(turn1))
    # a task's turns ran on one worker: its conversation log is one file's
    logs = sorted((suite.path / "reports/learner/conversations").glob("repotasks-*.jsonl"))
    by_task = {}
    for path in logs:
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            by_task.setdefault((entry["task_id"], entry["setting"]), set()).add(path.name)
    assert all(len(files) == 1 for files in by_task.values())
    # the report: each turn's method, and the tests' output it answered
    problem = next(
        p for p in load_run(suite.path / "reports/learner").problems if p.row_id.endswith("chars method_gen")
    )
    assert problem.solved_at == 1 and [t.status for t in problem.turns] == ["failed", "passed"]
    assert "test_cut FAILED" in (problem.turns[1].feedback or {})["execution"]
    assert 'id="repotasks-scores"' in (suite.path / "reports/learner/report.html").read_text()


def test_k_selects_the_kinds(suite: pytest.Pytester) -> None:
    method = run(suite, "k1", "--model", "reference", "-k", "method_gen and turn0")
    method.assert_outcomes(passed=len(NAMES))
    others = run(suite, "k2", "--model", "reference", "-k", "completion or repair")
    others.assert_outcomes(passed=len(NAMES) + len(BUGS))


def test_without_a_task_file_the_suite_is_skipped_saying_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_repotasks=(ROOT / "suites/repotasks/test_repotasks.py").read_text())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*repository tasks need their task file: give --repo-tasks=<our JSON lines*"])


def test_a_repository_without_an_environment_names_the_command(suite: pytest.Pytester, tmp_path: Path) -> None:
    (suite.path / "tasks.jsonl").write_text(json.dumps(record("shout", repo="tinylib==9.9")) + "\n")
    result = run(suite, "noenv", "--model", "reference")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*repository tinylib==9.9: no environment is recorded*python -m pytest_convcode.env repo tinylib==9.9*"]
    )


@pytest.mark.slow
def test_djangos_mined_tasks_pass_with_the_reference_and_fail_with_the_stub(
    pytester: pytest.Pytester, server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django 4.0.4's sdist, its environment and a few tasks mined from one test module."""
    place = ROOT / ".convcode-cache" / f"test-repotasks-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CONVCODE_CACHE", str(place / "cache"))  # the tree too must be where jobs see it
    try:
        mine = [
            "pytest_convcode.mine",
            "django==4.0.4",
            "--out=tasks.jsonl",
            "--tests=utils_tests.test_text",
            "--limit=4",
        ]
        for command in (["pytest_convcode.env", "repo", "django==4.0.4"], mine):
            assert subprocess.run([sys.executable, "-m", *command], cwd=pytester.path, check=False).returncode == 0
        pytester.makepyfile(test_repotasks=(ROOT / "suites/repotasks/test_repotasks.py").read_text())
        tasks = [json.loads(line) for line in (pytester.path / "tasks.jsonl").read_text().splitlines()]
        items = len(tasks) * (TURNS + 2) + sum(bool(task.get("buggy_method")) for task in tasks)
        run(pytester, "ref", "--model", "reference", "-n", "2").assert_outcomes(passed=items)
        stubbed = run(pytester, "stub", "--model", "test/stub", "--base-url", server.url)
        stubbed.assert_outcomes(failed=items)
    finally:
        shutil.rmtree(place, ignore_errors=True)
