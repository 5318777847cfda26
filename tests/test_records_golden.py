"""Golden records: what a run writes (``results.jsonl`` and ``summary.json``), pinned per suite kind.

Each test runs one suite through the plugin (a pytest subprocess, as the other end-to-end tests do) on a
few tasks, normalizes what the run wrote (``normalize_records``, ``normalize_summary``) and compares it
with ``tests/golden/<run>.json``. They exist so that refactors that must not change behaviour can be
checked: a difference names the records and fields that changed.

To write the golden files anew (after a change of behaviour that is meant), run::

    CONVCODE_UPDATE_GOLDEN=1 python -m pytest tests/test_records_golden.py

and review the diff of ``tests/golden/`` before committing it.

The answers are written here, not taken from the bundled data sets, so that the test depends on the
command line and on ``OpenAIServer`` only, not on where the package keeps its modules.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("CONVCODE_UPDATE_GOLDEN") == "1"

# Keys that differ from run to run (names, timings, clocks, request ids: the cache key holds the fake server's
# port), dropped at any depth.
VOLATILE = {"run_id", "started", "finished", "timestamp", "request_id", "user_request_id"}
VOLATILE |= {"seconds_at_server", "seconds_queued", "tokens_per_second"}
TIMING_SUFFIXES = ("_s", "seconds")
# Dropped from each record's top level: a refactor adds "kind" to every record, and this test must pass
# before and after it.
RECORD_ONLY_BEFORE = {"kind"}
# summary.json: the sections compared, and what each loses (the pool size, this interpreter's path, the
# data file's absolute path). The rest (versions, model_identity, duration) is about the machine.
SUMMARY_SECTIONS: dict[str, set[str]] = {
    "complete": set(),
    "items": set(),
    "scores": set(),
    "conversations": set(),
    "features": set(),
    "generation": set(),
    "settings": {"workers", "sandbox_python"},
    "suites": {"source"},
    "gates": set(),
}
# A traceback frame in a file (the harness's sandbox worker): its path and line move with any edit.
FRAME = re.compile(r'File "/[^"]*", line \d+, in \S+')
SORT_FIELDS = ("suite", "task_id", "setting", "turn", "mode", "sample")


def scrub(value: Any, tmp: str) -> Any:
    """``value`` without volatile keys, with the run's folder as ``<tmp>`` and harness frames as ``<harness>``."""
    if isinstance(value, dict):
        return {k: scrub(v, tmp) for k, v in value.items() if k not in VOLATILE and not k.endswith(TIMING_SUFFIXES)}
    if isinstance(value, list):
        return [scrub(v, tmp) for v in value]
    if isinstance(value, str):
        return FRAME.sub('File "<harness>"', value.replace(tmp, "<tmp>"))
    return value


def record_key(record: dict[str, Any]) -> str:
    """A record's identity, stable across runs: the fields that tell its item apart."""
    return " ".join(f"{f}={record[f]}" for f in SORT_FIELDS if f in record)


def normalize_records(records: list[dict[str, Any]], tmp: Path) -> dict[str, dict[str, Any]]:
    """The records by ``record_key`` (in sorted order), each without volatile fields and without ``kind``."""
    scrubbed = [{k: v for k, v in scrub(r, str(tmp)).items() if k not in RECORD_ONLY_BEFORE} for r in records]
    keyed = {record_key(r): r for r in scrubbed}
    assert len(keyed) == len(scrubbed), "two records share a key: add the field that tells them apart"
    return dict(sorted(keyed.items()))


def normalize_summary(summary: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The compared sections of summary.json (``SUMMARY_SECTIONS``), scrubbed like the records."""
    out: dict[str, Any] = {}
    for section, dropped in SUMMARY_SECTIONS.items():
        value = scrub(summary[section], str(tmp))
        if section == "suites":  # keyed by suite: the dropped keys are one level down
            value = {name: without(entry, dropped) for name, entry in value.items()}
        out[section] = without(value, dropped)
    return out


def without(value: Any, keys: set[str]) -> Any:
    return {k: v for k, v in value.items() if k not in keys} if isinstance(value, dict) else value


def differences(golden: Any, actual: Any, where: str = "") -> list[str]:
    """One line per value that differs, with its path (``['records']['suite=... task_id=...']['failure']``):
    readable where a diff of two whole files is not."""
    if isinstance(golden, dict) and isinstance(actual, dict):
        lines = []
        for key in [*golden, *(k for k in actual if k not in golden)]:
            path = f"{where}[{key!r}]"
            if key not in actual:
                lines.append(f"{path}: missing; golden: {shorten(golden[key])}")
            elif key not in golden:
                lines.append(f"{path}: new; actual: {shorten(actual[key])}")
            else:
                lines += differences(golden[key], actual[key], path)
        return lines
    if isinstance(golden, list) and isinstance(actual, list) and len(golden) == len(actual):
        return [
            line
            for i, (g, a) in enumerate(zip(golden, actual, strict=True))
            for line in differences(g, a, f"{where}[{i}]")
        ]
    if golden == actual:
        return []
    long_texts = isinstance(golden, str) and isinstance(actual, str) and max(len(golden), len(actual)) > 200
    if long_texts:  # shown from where they part, which a shortened repr would hide
        start = next(
            (i for i, (g, a) in enumerate(zip(golden, actual, strict=False)) if g != a), min(len(golden), len(actual))
        )
        start = max(0, start - 40)
        return [f"{where} from character {start}: golden {shorten(golden[start:])} != actual {shorten(actual[start:])}"]
    return [f"{where}: golden {shorten(golden)} != actual {shorten(actual)}"]


def shorten(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def check(pytester: pytest.Pytester, name: str, run_id: str = "t") -> None:
    """Compare the run's normalized output with ``tests/golden/<name>.json``, or write it there."""
    folder = pytester.path / "reports" / run_id
    records = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    summary = json.loads((folder / "summary.json").read_text())
    actual = {
        "records": normalize_records(records, pytester.path),
        "summary": normalize_summary(summary, pytester.path),
    }
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
        return
    assert path.exists(), f"{path} is missing: write it with CONVCODE_UPDATE_GOLDEN=1"
    golden = json.loads(path.read_text())
    actual = json.loads(json.dumps(actual))  # tuples as lists, as the golden file has them
    diffs = differences(golden, actual)
    assert not diffs, f"{name}: {len(diffs)} values differ from {path}:\n" + "\n".join(diffs)


def run(pytester: pytest.Pytester, *args: str, run_id: str = "t") -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "--run-id", run_id, *args)


def suite(pytester: pytest.Pytester, name: str) -> None:
    pytester.makepyfile(**{f"test_{name}": (ROOT / f"suites/{name}/test_{name}.py").read_text()})


def write_jsonl(pytester: pytest.Pytester, name: str, lines: list[dict[str, str]]) -> str:
    (pytester.path / name).write_text("".join(json.dumps(line) + "\n" for line in lines))
    return name  # relative: the run's cwd is pytester.path, and the model's name keeps no tmp path


def chat(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] != "system"]


# ---------------------------------------------------------------- single-turn code generation (HumanEval+)

HE_TASKS = "HumanEval/0,HumanEval/2,HumanEval/4"
HE_RIGHT = {
    "HumanEval/0": "def has_close_elements(numbers, threshold):\n"
    "    ordered = sorted(numbers)\n"
    "    return any(b - a < threshold for a, b in zip(ordered, ordered[1:]))\n",
    "HumanEval/2": "def truncate_number(number):\n    return number % 1.0\n",
}
HE_WRONG_VALUE = "def truncate_number(number):\n    return 0.0\n"
HE_RAISES = "def mean_absolute_deviation(numbers):\n    return sum(numbers) / 0\n"


def test_humaneval_reference(pytester: pytest.Pytester) -> None:
    suite(pytester, "humaneval")
    result = run(pytester, "--model", "reference", "--tasks", HE_TASKS)
    result.assert_outcomes(passed=3)
    check(pytester, "humaneval_reference")


def test_humaneval_replay_right_wrong_and_raising(pytester: pytest.Pytester) -> None:
    suite(pytester, "humaneval")
    samples = [
        {"task_id": "HumanEval/0", "solution": HE_RIGHT["HumanEval/0"]},
        {"task_id": "HumanEval/2", "solution": HE_WRONG_VALUE},
        {"task_id": "HumanEval/4", "solution": HE_RAISES},
    ]
    path = write_jsonl(pytester, "samples.jsonl", samples)
    result = run(pytester, "--model", f"replay:{path}", "--tasks", HE_TASKS)
    result.assert_outcomes(passed=1, failed=2)
    check(pytester, "humaneval_replay")


def test_humaneval_several_samples_per_task(pytester: pytest.Pytester) -> None:
    """Five samples a task (pass@1 and pass@5); HumanEval/2's are completions of the prompt."""
    suite(pytester, "humaneval")
    right0 = {"task_id": "HumanEval/0", "solution": HE_RIGHT["HumanEval/0"]}
    wrong0 = {"task_id": "HumanEval/0", "solution": "def has_close_elements(numbers, threshold):\n    return True\n"}
    completion2 = {"task_id": "HumanEval/2", "completion": "    return number - int(number)\n"}
    path = write_jsonl(pytester, "samples.jsonl", [right0, wrong0, right0, wrong0, wrong0] + [completion2] * 5)
    result = run(pytester, "--model", f"replay:{path}", "--tasks", "HumanEval/0,HumanEval/2")
    result.assert_outcomes(passed=7, failed=3)
    check(pytester, "humaneval_samples")


# ---------------------------------------------------------------- conversations (ConvCodeWorld, HumanEval)

BCB_TASKS = "BigCodeBench/16,BigCodeBench/24"  # standard library only, and quick to test
BCB_RIGHT = {  # the data set's reference programs, without their docstrings
    "BigCodeBench/16": """\
import os
import glob
import subprocess
def task_func(directory, backup_dir='/path/to/backup'):
    if not os.path.exists(directory):
        raise FileNotFoundError(f"Directory '{directory}' not found.")
    log_files = glob.glob(os.path.join(directory, '*.log'))
    if not log_files:
        return "No logs found to backup."
    if not os.path.exists(backup_dir):
        os.makedirs(backup_dir)
    backup_file = os.path.join(backup_dir, 'logs_backup.tar.gz')
    subprocess.call(['tar', '-czvf', backup_file] + log_files)
    for file in log_files:
        os.remove(file)
    return backup_file
""",
    "BigCodeBench/24": """\
import base64
import hashlib
import os
def task_func(password, SALT_LENGTH = 32):
    if not password:
        raise ValueError
    salt = os.urandom(SALT_LENGTH)
    hashed_password = hashlib.pbkdf2_hmac('sha256', password.encode(), salt, 100000)
    return base64.b64encode(salt), base64.b64encode(hashed_password)
""",
}
EXPERT_ADVICE = "The attempt returns nothing; do what the task says."


def convcodeworld(body: dict[str, Any], index: int) -> str:
    """Coder and simulated user in one. The coder is wrong at first and right once the feedback shows a
    failing test or the expert's advice; the expert leaks a line of the reference, the novice says little."""
    first = chat(body)[0]
    reference = re.search(r"<reference>\n(.*?)\n</reference>", first, re.S)
    if reference is not None:  # the expert
        longest = max(reference.group(1).rsplit('"""', 1)[-1].splitlines(), key=len).strip()  # code, not docstring
        return f"{EXPERT_ADVICE} Like this: {longest}\n```python\nprint('code that must not reach the model')\n```"
    if "You are role-playing" in first:  # the novice
        return "I ran it and it failed."
    told = chat(body)[-1] if len(chat(body)) > 1 else ""
    if "FAILED" in told or EXPERT_ADVICE in told:
        task = "BigCodeBench/16" if "logs_backup.tar.gz" in first else "BigCodeBench/24"
        return f"Fixed.\n```python\n{BCB_RIGHT[task]}```"
    return "```python\ndef task_func(*args, **kwargs):\n    return None\n```"


def test_convcodeworld_feedback_settings(pytester: pytest.Pytester) -> None:
    """Turns fail, get compiler, execution or simulated-user feedback, and pass (or never do, for cf)."""
    suite(pytester, "convcodeworld")
    with OpenAIServer(convcodeworld) as server:
        pytester.makepyprojecttoml(f'[tool.convcode.models.sim]\nmodel = "simulator"\nbase_url = "{server.url}"\n')
        result = run(
            pytester, "--model", "test/coder", "--base-url", server.url, "--tasks", BCB_TASKS, "--max-turns", "2",
            "--feedback", "cf,cf-ef_full,cf-novice,cf-expert", "--user-model", "sim",
        )  # fmt: skip
    result.assert_outcomes(passed=8, failed=16)
    check(pytester, "convcodeworld")


def humaneval_refine(body: dict[str, Any], index: int) -> str:
    """Wrong at turn 0, right once the execution feedback shows a failed base test."""
    first = chat(body)[0]
    task = "HumanEval/0" if "def has_close_elements" in first else "HumanEval/2"
    if "FAILED: base" in chat(body)[-1]:
        return f"```python\n{HE_RIGHT[task]}```"
    name = "has_close_elements" if task == "HumanEval/0" else "truncate_number"
    return f"```python\ndef {name}(*args):\n    return None\n```"


def test_humaneval_with_execution_feedback(pytester: pytest.Pytester) -> None:
    suite(pytester, "humaneval")
    with OpenAIServer(humaneval_refine) as server:
        result = run(
            pytester, "--model", "test/coder", "--base-url", server.url, "--tasks", "HumanEval/0,HumanEval/2",
            "--feedback", "cf-ef_full", "--max-turns", "2",
        )  # fmt: skip
    result.assert_outcomes(passed=4, failed=2)
    check(pytester, "humaneval_feedback")


# ---------------------------------------------------------------- code reasoning (CRUXEval)

# Per task and mode: the answer the model gives (a right one, or a wrong value / wrong call).
CRUX_ANSWERS = {
    ("sample_0", "output"): "[(4, 1), (4, 1), (4, 1), (4, 1), (2, 3), (2, 3)]",
    ("sample_0", "input"): "[1, 1, 3, 1, 3, 1]",
    ("sample_1", "output"): "{1: None}",  # wrong
    ("sample_1", "input"): "(1, ), (1, ), (1, 2)",
    ("sample_2", "output"): "'hbtofdeiequ'",
    ("sample_2", "input"): "'h+btofdeiequ', 3",  # wrong: f takes one argument
}
CRUX_CODE = {  # a line of each task's program, to tell the prompts apart
    "sample_0": "output.append((nums.count(n), n))",
    "sample_1": "result.update(dict.fromkeys(d))",
    "sample_2": "new_text.remove(i)",
}


def cruxeval(body: dict[str, Any], index: int) -> str:
    """Completes the prompt's last assertion, as the prompts ask, from ``CRUX_ANSWERS``."""
    prompt = chat(body)[-1].rpartition("Your task:")[2]
    task = next(t for t, line in CRUX_CODE.items() if line in prompt)
    assertion = next(line for line in prompt.splitlines() if line.startswith("assert") and "??" in line)
    mode = "input" if "f(??)" in assertion else "output"
    return f"[ANSWER]\n{assertion.replace('??', CRUX_ANSWERS[task, mode])}\n[/ANSWER]"


def test_cruxeval_both_modes(pytester: pytest.Pytester) -> None:
    suite(pytester, "cruxeval")
    with OpenAIServer(cruxeval) as server:
        result = run(
            pytester, "--model", "test/coder", "--base-url", server.url, "--tasks", ",".join(CRUX_CODE),
        )  # fmt: skip
    result.assert_outcomes(passed=4, failed=2)
    check(pytester, "cruxeval")


def test_cruxeval_replay_several_samples(pytester: pytest.Pytester) -> None:
    """A generations file in CRUXEval's format, three answers a task, output mode."""
    suite(pytester, "cruxeval")
    generations = {
        "sample_0": ["[(4, 1), (4, 1), (4, 1), (4, 1), (2, 3), (2, 3)]", "[]", "f([1, 1, 3, 1, 3, 1])"],
        "sample_1": ["{1: None, 2: None}", "{2: None, 1: None}", "None"],
        "sample_2": ["'x'", "'hbtofdeiequ ", ""],  # a wrong value, an unterminated string, no answer
    }
    (pytester.path / "generations.json").write_text(json.dumps(generations))
    result = run(pytester, "--model", "replay:generations.json", "--tasks", ",".join(CRUX_CODE), "-k", "output")
    result.assert_outcomes(passed=3, failed=6, deselected=9)
    check(pytester, "cruxeval_replay")
