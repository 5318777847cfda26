"""Plugin behaviour, end to end: real pytest runs in a subprocess (the plugin holds sandbox processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode import datasets

ROOT = Path(__file__).resolve().parents[1]
HUMANEVAL = datasets.load("humaneval")


def canonical(task_id: str) -> dict[str, str]:
    return {"task_id": task_id, "completion": HUMANEVAL.tasks[task_id].canonical_solution}


def wrong(task_id: str) -> dict[str, str]:
    entry = HUMANEVAL.tasks[task_id].entry_point
    return {"task_id": task_id, "solution": f"def {entry}(*args):\n    return 'wrong'\n"}


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_humaneval=(ROOT / "suites/humaneval/test_humaneval.py").read_text())
    return pytester


def write_samples(pytester: pytest.Pytester, samples: list[dict[str, str]], name: str = "samples.jsonl") -> Path:
    path = pytester.path / name
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))
    return path


def run(pytester: pytest.Pytester, *args: str, run_id: str = "t") -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--run-id", run_id, *args)
    path = pytester.path / "reports" / run_id / "results.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return result, records


def summary(pytester: pytest.Pytester, run_id: str = "t") -> dict[str, Any]:
    return json.loads((pytester.path / "reports" / run_id / "summary.json").read_text())


def test_k_with_a_task_id_selects_exactly_that_task(suite: pytest.Pytester) -> None:
    result, records = run(suite, "-k", "HumanEval/12")
    result.assert_outcomes(passed=1, deselected=163)
    assert [(r["task_id"], r["kind"]) for r in records] == [("HumanEval/12", "single")]
    assert records[0]["generate_s"] >= 0 and records[0]["judge_s"] > 0  # judging ran the sandbox


def test_several_samples_per_task_give_unbiased_pass_at_k(suite: pytest.Pytester) -> None:
    samples = [canonical("HumanEval/0")] * 3 + [wrong("HumanEval/0")] * 7
    samples += [canonical("HumanEval/2")] * 10
    path = write_samples(suite, samples)
    result, records = run(suite, "--model", f"replay:{path}")
    result.assert_outcomes(passed=13, failed=7)
    assert result.ret == 0, "wrong answers are measurements: the run itself succeeded"
    assert len(records) == 20 and {r["sample"] for r in records} == set(range(10))
    scores = summary(suite)["scores"]["humaneval+"]
    assert scores["pass@1"] == pytest.approx((0.3 + 1.0) / 2)
    assert scores["pass@10"] == pytest.approx(1.0)
    assert "pass@100" not in scores  # n = 10 < 100
    result.stdout.re_match_lines([r"humaneval\+\s+2\s+20\s+13\s+0\s+65\.0\s+95\.8\s+100\.0"])  # pass@1, @5, @10


def test_gates_decide_the_exit_status_with_one_reason_each(suite: pytest.Pytester) -> None:
    path = write_samples(suite, [canonical("HumanEval/0"), wrong("HumanEval/2")])
    failing, _ = run(suite, "--model", f"replay:{path}", "--gate", "pass@1>=0.8", "--gate", "humaneval:pass@1>0.1")
    assert failing.ret == 1
    failing.stdout.fnmatch_lines(
        ["gate pass@1>=0.8: FAILED: humaneval+:pass@1 = 50.0%, needs >= 80.0%", "gate humaneval:pass@1>0.1: passed"]
    )
    passing, _ = run(suite, "--model", f"replay:{path}", "--gate", "pass@1>=0.5", run_id="t2")
    assert passing.ret == 0
    assert summary(suite, "t2")["gates"] == [{"gate": "pass@1>=0.5", "passed": True, "reasons": []}]


def test_unknown_model_is_a_usage_error_listing_the_known_ones(suite: pytest.Pytester) -> None:
    result, _ = run(suite, "--model", "gpt-17")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown model 'gpt-17'; known models: *reference, replay:PATH*; aliases: *ds6.7b*"])


@pytest.mark.parametrize("workers", ["0", "2"])
def test_malformed_data_file_is_a_usage_error_naming_the_file_line_and_field(
    suite: pytest.Pytester, workers: str
) -> None:
    good = {"task_id": "T/0", "prompt": "", "entry_point": "f", "canonical_solution": "def f(): return 1\n"}
    good |= {"base_input": [[]], "plus_input": [], "atol": 0}
    bad = dict(good, task_id="T/1")
    del bad["entry_point"]
    data = suite.path / "data.jsonl"
    data.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    result, records = run(suite, "--dataset-path", str(data), "-n", workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR and records == []
    assert result.stderr.lines[0] == f"ERROR: {data}:2: field 'entry_point' is missing"


def test_a_suite_module_without_suite_is_a_usage_error_naming_the_module(pytester: pytest.Pytester) -> None:
    source = (ROOT / "suites/humaneval/test_humaneval.py").read_text()
    module = pytester.makepyfile(test_nameless=source.replace('SUITE = "humaneval"', ""))
    result, _ = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == f"ERROR: {module}: a suite module must set SUITE = '<data set>'"


def test_malformed_samples_file_names_the_line(suite: pytest.Pytester) -> None:
    path = suite.path / "samples.jsonl"
    path.write_text(json.dumps(canonical("HumanEval/0")) + '\n{"task_id": "HumanEval/1"}\n')
    result, _ = run(suite, "--model", f"replay:{path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{path}:2: a sample needs a 'solution' or a 'completion' field*"])


def test_samples_for_another_data_set_version_are_flagged(suite: pytest.Pytester) -> None:
    path = write_samples(suite, [canonical("HumanEval/0"), {"task_id": "HumanEval/999", "solution": "x = 1"}])
    result, records = run(suite, "--model", f"replay:{path}")
    result.assert_outcomes(passed=1, warnings=2)
    result.stdout.fnmatch_lines(["*1 samples name tasks that HumanEval+ 0.1.10 lacks (e.g. HumanEval/999)*"])
    assert len(records) == 1


def test_xdist_gives_the_same_verdicts_as_one_process(suite: pytest.Pytester) -> None:
    ids = ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/7", "HumanEval/12", "HumanEval/13"]
    path = write_samples(suite, [canonical(t) if i % 2 else wrong(t) for i, t in enumerate(ids)])
    _, serial = run(suite, "--model", f"replay:{path}", "-n", "0", run_id="serial")
    _, parallel = run(suite, "--model", f"replay:{path}", "-n", "2", run_id="parallel")

    def verdicts(records: list[dict[str, Any]]) -> dict[str, Any]:
        return {r["task_id"]: (r["outcome"], r["phases"]) for r in records}

    assert len(serial) == 6
    assert verdicts(serial) == verdicts(parallel)


def test_xdist_workers_label_records_with_the_run_folder_name(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-k", "HumanEval/0 or HumanEval/2", "-n", "2")
    result.assert_outcomes(passed=2)
    (folder,) = (suite.path / "reports").iterdir()
    records = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    assert [r["run_id"] for r in records] == [folder.name] * 2


def test_xdist_workers_start_the_tasks_whose_reference_ran_longest(suite: pytest.Pytester) -> None:
    ids = ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/7"]
    selection = " or ".join(ids)
    run(suite, "-k", selection, "--no-bundled-digests", run_id="measure")  # the ground truth, each task's cost
    (cache,) = (suite.path / ".convcode-cache" / "groundtruth").iterdir()
    for seconds, task_id in enumerate(ids):  # pretend the later tasks were slower
        (cache / f"{task_id.replace('/', '_')}.cost").write_text(f"{seconds}\n")
    suite.makeconftest(
        """
        import os
        def pytest_collection_finish(session):
            if os.environ.get("PYTEST_XDIST_WORKER") == "gw0":
                with open("order.txt", "w") as f:
                    f.write(" ".join(item.callspec.id for item in session.items))
        """
    )
    result, _ = run(suite, "-k", selection, "-n", "2")
    result.assert_outcomes(passed=4)
    assert (suite.path / "order.txt").read_text().split() == ids[::-1]


def test_base_only_runs_the_original_tests(suite: pytest.Pytester) -> None:
    result, records = run(suite, "-k", "HumanEval/12", "--base-only")
    result.assert_outcomes(passed=1, deselected=163)
    assert list(records[0]["phases"]) == ["base"]
    assert list(summary(suite)["scores"]) == ["humaneval"]


def test_solution_and_completion_samples_are_both_understood(suite: pytest.Pytester) -> None:
    task = HUMANEVAL.tasks["HumanEval/2"]
    whole = {"task_id": "HumanEval/2", "solution": task.prompt + task.canonical_solution}
    path = write_samples(suite, [whole, canonical("HumanEval/2")])
    result, records = run(suite, "--model", f"replay:{path}")
    result.assert_outcomes(passed=2)
    assert [r["sample"] for r in records] == [0, 1]


def test_json_report_carries_the_scores(suite: pytest.Pytester) -> None:
    result, _ = run(suite, "-k", "HumanEval/12", "--json-report", "--json-report-file=report.json")
    assert result.ret == 0
    report = json.loads((suite.path / "report.json").read_text())
    assert report["convcode"]["scores"]["humaneval+"]["pass@1"] == 1.0


def test_a_killed_run_keeps_every_finished_item(suite: pytest.Pytester) -> None:
    done = [canonical(t) for t in ("HumanEval/0", "HumanEval/2", "HumanEval/4")]
    entry = HUMANEVAL.tasks["HumanEval/7"].entry_point
    stuck = {"task_id": "HumanEval/7", "solution": f"import time\ndef {entry}(*a):\n    time.sleep(600)\n"}
    path = write_samples(suite, [*done, stuck])
    results = suite.path / "reports" / "killed" / "results.jsonl"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--run-id", "killed"]
    command += ["--model", f"replay:{path}", "--min-time", "30", "-p", "no:randomly"]
    proc = subprocess.Popen(command, cwd=suite.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 3):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["task_id"] for r in records] == ["HumanEval/0", "HumanEval/2", "HumanEval/4"]
    assert all(r["outcome"] == "passed" for r in records)


def test_under_xdist_every_item_runs_once_and_a_crashed_workers_items_are_run_again(
    pytester: pytest.Pytester,
) -> None:
    """The plugin's scheduler (``scheduling.py``) drops finished units from its bookkeeping: the
    items a worker had not finished when it died still run, on the other or on its replacement."""
    pytester.makepyfile(
        test_plain=f"""
        import os
        import pytest

        @pytest.mark.parametrize("i", range(40))
        def test_item(i):
            here = {str(pytester.path)!r}
            open(os.path.join(here, f"ran-{{i}}-{{os.getpid()}}"), "w").close()
            if i == 25 and not os.path.exists(os.path.join(here, "crashed")):
                open(os.path.join(here, "crashed"), "w").close()
                os._exit(1)
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:randomly", "--max-worker-restart", "1")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 40 and outcomes["failed"] == 1, outcomes  # the crash, and 25 run again
    ran = sorted(int(p.name.split("-")[1]) for p in pytester.path.glob("ran-*"))
    assert ran == sorted([*range(40), 25])  # each once, and the item that crashed its worker twice
