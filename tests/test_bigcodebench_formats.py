"""BigCodeBench's own file formats, end to end on suites/bigcodebench (standard-library tasks only):
its samples files (``solution``, ``raw_solution``; sanitized or not as their names say, calibrated
unless ``--no-calibrate``) read by ``--model replay:``, and the ``_eval_results.json`` its tools
read, written beside our samples."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode.datasets.bigcodebench import load

ROOT = Path(__file__).resolve().parents[1]
TASKS = load(None, None).tasks
TASK = "BigCodeBench/24"  # standard library only, quick
PROGRAM = (
    "import base64\nimport hashlib\nimport os\ndef task_func(password, SALT_LENGTH = 32):\n"
    + TASKS[TASK].canonical_solution
)
# BigCodeBench/1's tests use the module random without importing it: the program must
BARE = "BigCodeBench/1"
FUNCTION = "def task_func(length=100):\n" + TASKS[BARE].canonical_solution  # without the imports it needs
CHAT = f"Here is the function:\n\n```python\n{PROGRAM}\n```\n\nExample:\n\n```python\nprint(task_func('x'))\n```\n"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_bigcodebench=(ROOT / "suites/bigcodebench/test_bigcodebench.py").read_text())
    return pytester


def replay(pytester: pytest.Pytester, name: str, samples: list[dict[str, str]], *args: str) -> pytest.RunResult:
    path = pytester.path / name
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))
    tasks = ",".join({s["task_id"] for s in samples})
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", "u", "--tasks", tasks, f"--model=replay:{path}", *args
    )


def calibrated(task_id: str, program: str) -> str:
    """What BigCodeBench's evaluator runs, by default since 0.2 (and this harness)."""
    return TASKS[task_id].code_prompt + "\n    pass\n" + program


def records(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    lines = (pytester.path / "reports/u/results.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_samples_file_bigcodebench_did_not_sanitize_is_sanitized_as_its_sanitize_step_would(
    suite: pytest.Pytester,
) -> None:
    """Its codegen names a file ``<model>--bigcodebench-<split>--<backend>-<t>-<n>.jsonl``; its
    sanitize step writes ``...-sanitized.jsonl``: the evaluator tests ``solution`` as it is."""
    sample = {"task_id": TASK, "solution": CHAT, "raw_solution": CHAT}
    result = replay(suite, "m--bigcodebench-instruct--vllm-0-1.jsonl", [sample])
    result.assert_outcomes(passed=1)
    assert records(suite)[0]["program"].rstrip() == calibrated(TASK, PROGRAM).rstrip()  # the prose, the call dropped


def test_a_sanitized_samples_file_is_tested_as_it_is(suite: pytest.Pytester) -> None:
    result = replay(suite, "m--bigcodebench-instruct--vllm-0-1-sanitized.jsonl", [{"task_id": TASK, "solution": CHAT}])
    result.assert_outcomes(failed=1)  # prose is no program


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("m--bigcodebench-complete--vllm-0-1-sanitized-calibrated.jsonl", ()),  # its sanitize --calibrate
        ("m--bigcodebench-complete--vllm-0-1-sanitized_calibrated.jsonl", ()),  # its codegen
        ("m--bigcodebench-complete--vllm-0-1-sanitized.jsonl", ()),  # its 0.2 evaluator calibrates any file
        ("samples.jsonl", ("--calibrate",)),
    ],
)
def test_calibration_puts_the_code_prompt_before_the_solution(
    suite: pytest.Pytester, name: str, args: tuple[str, ...]
) -> None:
    result = replay(suite, name, [{"task_id": BARE, "solution": FUNCTION}], *args)
    result.assert_outcomes(passed=1)  # the code prompt's imports
    assert records(suite)[0]["program"] == calibrated(BARE, FUNCTION)


def test_without_calibration_a_solution_lacking_its_imports_fails(suite: pytest.Pytester) -> None:
    name = "m--bigcodebench-complete--vllm-0-1-sanitized-calibrated.jsonl"
    replay(suite, name, [{"task_id": BARE, "solution": FUNCTION}], "--no-calibrate")
    assert records(suite)[0]["outcome"] == "failed"


def test_the_run_writes_bigcodebenchs_eval_results_beside_its_samples(suite: pytest.Pytester) -> None:
    wrong = "def task_func(password, SALT_LENGTH=32):\n    return None\n"
    replay(suite, "samples.jsonl", [{"task_id": TASK, "solution": PROGRAM}, {"task_id": TASK, "solution": wrong}])
    results = json.loads((suite.path / "reports/u/samples_eval_results.json").read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", results["date"])  # its evaluator's "%Y-%m-%d %H:%M"
    right_one, wrong_one = results["eval"][TASK]
    assert right_one == {"task_id": TASK, "solution": calibrated(TASK, PROGRAM), "status": "pass", "details": {}}
    assert (wrong_one["task_id"], wrong_one["solution"], wrong_one["status"]) == (TASK, calibrated(TASK, wrong), "fail")
    assert wrong_one["details"] and all(name.startswith("test_") for name in wrong_one["details"])
    assert all(isinstance(message, str) and message for message in wrong_one["details"].values())
