"""End to end through pytest: hostile and wrong samples fail, for the right reason,
without failing the run; correct samples pass.

Each test copies the real HumanEval+ suite module into a ``pytester`` directory,
writes a samples file there and runs pytest in a subprocess with the replay
model (the plugin holds sandbox processes, so not in this process). Only the
tasks named in the samples file are collected.

The samples live in ``fixtures/``: EvalPlus's format plus two fields the replay
model ignores, ``case`` (what the sample tries) and ``expect`` (substrings its
failure message must contain). Hostile samples run under the EvalPlus guard, as
HumanEval+ always does; where the guard would stop them early (``os.fork`` is
None) they go around it (``posix.fork``) to reach the sandbox's own isolation.
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode import datasets
from pytest_convcode.sandbox.process import ProcessSandbox

ROOT = Path(__file__).resolve().parent.parent
SUITE_FILE = ROOT / "suites" / "humaneval" / "test_humaneval.py"
HOSTILE = ROOT / "fixtures" / "hostile" / "humaneval_hostile.jsonl"
WRONG = ROOT / "fixtures" / "wrong" / "humaneval_wrong.jsonl"
CORRECT = ("HumanEval/53", "HumanEval/45", "HumanEval/42")  # canonical solutions, as completions
SECRET = "sk-test-secret"


@pytest.fixture(scope="module")
def isolation_warnings() -> list[str]:
    """What this machine's sandbox cannot isolate (nothing, as root on Linux >= 5.13)."""
    sandbox = ProcessSandbox()
    try:
        return sandbox.warnings()
    finally:
        sandbox.close()


def read_samples(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_samples(pytester: pytest.Pytester, samples: list[dict[str, Any]], run_id: str) -> tuple[Any, dict[str, Any]]:
    """Run the HumanEval+ suite on these samples; the pytest result and the records by task."""
    pytester.makepyfile(test_humaneval=SUITE_FILE.read_text())
    path = pytester.path / "samples.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))
    reports = pytester.path / "reports"
    start = time.monotonic()
    result = pytester.runpytest_subprocess(
        "--model", f"replay:{path}", "--reports-dir", str(reports), "--run-id", run_id, "-rf", timeout=120
    )
    elapsed = time.monotonic() - start
    assert elapsed < 60, f"the run took {elapsed:.0f} s: something held a job up"
    results = reports / run_id / "results.jsonl"
    assert results.is_file(), result.stdout.str()
    records = [json.loads(line) for line in results.read_text().splitlines()]
    by_task = {r["task_id"]: r for r in records}
    assert len(by_task) == len(records) == len(samples), "not one record per item"
    return result, by_task


def test_hostile_samples_fail_and_correct_ones_pass(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, isolation_warnings: list[str]
) -> None:
    if isolation_warnings:  # without the isolation, some hostile samples would succeed
        pytest.skip("; ".join(isolation_warnings))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)  # the harness has a secret; candidates must not see it
    escape = Path(tempfile.gettempdir(), f"convcode-escape-{uuid.uuid4().hex}.txt")
    hostile = read_samples(HOSTILE)
    tasks = datasets.load("humaneval").tasks
    correct = [{"task_id": t, "completion": tasks[t].canonical_solution} for t in CORRECT]
    assert not {s["task_id"] for s in hostile} & set(CORRECT)

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for sample in hostile:
            sample["solution"] = sample["solution"].replace("__PORT__", str(port)).replace("__ESCAPE__", str(escape))
        try:
            result, records = run_samples(pytester, hostile + correct, "hostile")
        finally:
            escape_existed = escape.exists()
            escape.unlink(missing_ok=True)
        server.settimeout(0.2)
        with pytest.raises(TimeoutError):
            server.accept()  # no candidate reached the host's loopback
    assert not escape_existed, "a candidate wrote outside its directory"

    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 0, output  # wrong answers are measurements, not a failed run
    result.assert_outcomes(passed=len(correct), failed=len(hostile))
    for sample in hostile:
        record = records[sample["task_id"]]
        assert record["outcome"] == "failed", (sample["case"], record)
        for text in sample["expect"]:
            assert text in record["failure"], (sample["case"], text, record["failure"])
        result.stdout.fnmatch_lines([f"FAILED test_humaneval.py::test_humaneval[[]{sample['task_id']}[]]*"])
    for task_id in CORRECT:
        assert records[task_id]["outcome"] == "passed", records[task_id]
        assert records[task_id]["phases"]["plus"]["passed"]
    results_text = (pytester.path / "reports" / "hostile" / "results.jsonl").read_text()
    assert SECRET not in output and SECRET not in results_text
    summary = json.loads((pytester.path / "reports" / "hostile" / "summary.json").read_text())
    assert summary["items"] == {"passed": len(correct), "failed": len(hostile), "error": 0}


def test_wrong_solutions_fail_for_the_right_reason(pytester: pytest.Pytester) -> None:
    wrong = read_samples(WRONG)
    result, records = run_samples(pytester, wrong, "wrong")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(failed=len(wrong))
    for sample in wrong:
        record = records[sample["task_id"]]
        assert record["outcome"] == "failed", (sample["case"], record)
        for text in sample["expect"]:
            assert text in record["failure"], (sample["case"], text, record["failure"])
    # the time limit is a CPU-time limit: the naive fib passes its small base inputs
    slow = records["HumanEval/55"]["phases"]
    assert slow["base"]["passed"] and "T" in slow["plus"]["tests"]
    assert (
        records["HumanEval/60"]["phases"]["base"]["passed"] and not records["HumanEval/60"]["phases"]["plus"]["passed"]
    )
    summary = json.loads((pytester.path / "reports" / "wrong" / "summary.json").read_text())
    assert summary["items"] == {"passed": 0, "failed": len(wrong), "error": 0}
