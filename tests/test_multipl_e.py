"""MultiPL-E without compilers: the data set, programs assembled as the Qwen2.5-Coder kit assembles
them, the script's marks and how a job's output becomes a status, code out of completions and chat
replies, the kit's generation files, and the suite's usage errors."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode.datasets.multipl_e import load
from pytest_convcode.env.toolchains import languages
from pytest_convcode.languages.catalog import KIT_LANGUAGES, LANGUAGES
from pytest_convcode.languages.extraction import continuation, from_chat
from pytest_convcode.languages.running import Budget, outcome, script
from pytest_convcode.languages.toolchain import MissingToolchain, find, installed
from pytest_convcode.models.replay import ReplayModel
from pytest_convcode.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
VALIDATION = ROOT.parent / "shared" / "validation" / "qwen2.5-coder-1.5b-multipl-e"
SUITE = (ROOT / "suites/multipl_e/test_multipl_e.py").read_text()
MARK = "f00d"
SIZES = {"cpp": 161, "cs": 158, "cs-bu": 158, "d": 156, "go": 154, "java": 158, "jl": 159, "js": 161, "lua": 161}
SIZES |= {"php": 161, "pl": 161, "python": 164, "r": 161, "rb": 161, "rkt": 161, "rs": 156, "scala": 160}
SIZES |= {"sh": 158, "swift": 158, "ts": 159}


@dataclass
class Ended:
    """A command job's result, as a test writes it."""

    stdout: str
    stderr: str = ""
    exit_code: int | None = 0
    ended: str = "exit"
    dropped: int = 0
    how_it_ended: str = "exited"


def marked(compile_out: str = "", run_out: str | None = None, run_err: str = "", **ended: object) -> Ended:
    """Streams as the script writes them: the compile mark, the compiler's output, then (when it
    compiled) the run mark and the program's output."""
    out = f"\n{MARK} compile 1000000000\n{compile_out}"
    err = f"\n{MARK} compile 1000000000\n"
    if run_out is not None:
        out += f"\n{MARK} run 3000000000\n{run_out}\n{MARK} end 3500000000\n"
        err += f"\n{MARK} run 3000000000\n{run_err}\n{MARK} end 3500000000\n"
    return Ended(out, err, **ended)  # type: ignore[arg-type]


def test_every_language_is_bundled_with_its_tasks_named_by_problem_and_language() -> None:
    dataset = load()
    assert {lang: sum(t.language == lang for t in dataset.tasks.values()) for lang in SIZES} == SIZES
    strlen = dataset.tasks["HumanEval_23_strlen-java"]
    assert (strlen.name, strlen.entry_point, strlen.stop_tokens) == ("HumanEval_23_strlen", "strlen", ("\n    }\n",))
    assert dataset.tasks["HumanEval_0_has_close_elements-java"].entry_point == "hasCloseElements"
    python = dataset.tasks["HumanEval_0_has_close_elements-python"]
    assert python.entry_point == "has_close_elements" and python.tests.rstrip().endswith("check(has_close_elements)")


@pytest.mark.skipif(not VALIDATION.is_dir(), reason=f"{VALIDATION} is not here")
@pytest.mark.parametrize("name", KIT_LANGUAGES)
def test_programs_are_assembled_byte_for_byte_as_the_kit_assembled_them(name: str) -> None:
    tasks, language = load().tasks, LANGUAGES[name]
    with gzip.open(VALIDATION / f"humaneval-{name}-details.json.gz", "rt") as f:
        published = {task: runs[0][1]["code"] for task, runs in json.load(f).items()}
    model = ReplayModel(VALIDATION / f"pred_{name}_output.jsonl.gz")
    ours = {
        task_id.removesuffix(f"-{name}"): language.program(answers[0].text, tasks[task_id].tests)
        for task_id, answers in model.answers.items()
    }
    assert ours == published


def test_the_script_reads_its_mark_from_stdin_and_tries_typescript_twice() -> None:
    text = script(LANGUAGES["ts"], Budget(compile_s=12, run_s=10))
    assert text.startswith("read -r M\n") and MARK not in text
    assert text.count("mark compile") == 2 and "timeout -s KILL 12 sh -c 'tsc test.ts'" in text
    assert "base64 -d javatuples-1.2.jar.b64 > javatuples-1.2.jar" in script(LANGUAGES["java"], Budget(10, 10))


@pytest.mark.parametrize(
    ("name", "result", "status", "why"),
    [
        ("cpp", marked("test.cpp:3: error: expected ';'", exit_code=1), "SyntaxError", "compilation failed"),
        ("cpp", marked(run_out="", run_err="Assertion failed", exit_code=134), "Exception", "Assertion failed"),
        ("cpp", marked(run_out="", exit_code=137), "Timeout", "stopped at its time limit"),
        ("cpp", marked(ended="wall_timeout", exit_code=None, how_it_ended="deadline"), "Timeout", "compiler"),
        ("js", marked(run_out="debug", exit_code=0), "Exception", "printed output"),
        ("js", marked(run_out="", run_err="SyntaxError: Unexpected token", exit_code=1), "SyntaxError", "Unexpected"),
        ("cs", marked("warning CS0105", run_out="", run_err="Fail: \n  at Problem.Main", exit_code=0), "Exception", ""),
        ("rkt", marked(run_out="", run_err="FAILURE\nname: check-equal?", exit_code=0), "Exception", "stderr"),
        ("go", marked(run_out="panic: test timed out after 10s", exit_code=1), "Timeout", "did not finish"),
        ("js", Ended("x" * 100, "y" * 100, exit_code=1, dropped=5_000_000), "Exception", "y" * 100),
    ],
)
def test_a_job_that_did_not_pass_gets_multipl_e_s_status(name: str, result: Ended, status: str, why: str) -> None:
    verdict = outcome(LANGUAGES[name], result, MARK)
    assert (verdict.passed, verdict.status) == (False, status) and why in verdict.detail


def test_a_passing_run_is_timed_from_the_marks_and_the_compiler_s_output_is_not_the_program_s() -> None:
    verdict = outcome(LANGUAGES["cs"], marked("Compilation succeeded - Fail-safe warning", run_out=""), MARK)
    assert (verdict.passed, verdict.status, verdict.compile_s, verdict.run_s) == (True, "OK", 2.0, 0.5)


def test_a_completion_is_cut_at_the_first_stop_token_and_a_chat_reply_gives_its_function() -> None:
    assert continuation("int f() {\n", "int f() {\n    return 1;\n}\nint main", ("\n}",)) == "    return 1;"
    task = load().tasks["HumanEval_23_strlen-java"]
    reply = (
        "Here it is:\n```java\nimport java.util.*;\nclass Problem {\n    public static long strlen(String s) {\n"
        "        return s.length();\n    }\n    public static void main(String[] a) {}\n}\n```"
    )
    code, why = from_chat(LANGUAGES["java"], task.prompt, task.entry_point, reply)
    assert why == "" and code.endswith("    public static long strlen(String s) {\n        return s.length();\n")
    assert code.startswith(task.prompt.rsplit("    public static long strlen", 1)[0])
    js = load().tasks["HumanEval_23_strlen-js"]
    code, _ = from_chat(
        LANGUAGES["js"], js.prompt, js.entry_point, "```js\nfunction strlen(s){\n  return s.length;\n}\n```"
    )
    assert code.endswith("function strlen(s){\n  return s.length;\n}\n")
    assert from_chat(LANGUAGES["js"], js.prompt, js.entry_point, "no code")[1] == "the reply holds no fenced code block"


def test_the_kits_generation_files_are_read_with_their_language_from_the_file_name(tmp_path: Path) -> None:
    for name, task in (("java", "HumanEval_23_strlen"), ("sh", "HumanEval_2_truncate_number")):
        row = {"task_id": task, "prompt": "p", "generation": f"{name} code", "wholecode": "w"}
        (tmp_path / f"pred_{name}_output.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "notes.jsonl").write_text("not read\n")
    model = ReplayModel(tmp_path)
    assert {t: [(a.text, a.kind) for a in answers] for t, answers in model.answers.items()} == {
        "HumanEval_23_strlen-java": [("java code", "solution")],
        "HumanEval_2_truncate_number-sh": [("sh code", "solution")],
    }


def test_a_missing_toolchain_names_its_package_and_the_command_that_installs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        MissingToolchain, match=r"needs javac.*multipl-e --language java` \(apt-get install default-jdk"
    ):
        find(LANGUAGES["java"])
    with pytest.raises(MissingToolchain, match="Debian packages none: https://julialang"):
        find(LANGUAGES["jl"])
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    (hidden / "node").write_text("#!/bin/sh\n")
    (hidden / "node").chmod(0o755)
    monkeypatch.setenv("PATH", str(hidden))
    with pytest.raises(MissingToolchain, match="which the sandbox's users cannot reach"):
        find(LANGUAGES["js"])


def test_the_environment_command_takes_languages_by_name_or_all() -> None:
    assert [lang.name for lang in languages(None)] == list(KIT_LANGUAGES)
    assert len(languages("all")) == len(LANGUAGES) and [lang.name for lang in languages("go,rs")] == ["go", "rs"]
    with pytest.raises(ValueError, match="--language klingon: unknown"):
        languages("klingon")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--model", "reference"], "MultiPL-E has no reference solutions: give --model replay:FILE or a model"),
        (["--model", "replay:samples.jsonl", "--language", "klingon"], "--language klingon: not in the data set"),
    ],
)
def test_the_suite_refuses_what_it_cannot_run_in_one_line(
    pytester: pytest.Pytester, args: list[str], problem: str
) -> None:
    pytester.makepyfile(test_multipl_e=SUITE)
    (pytester.path / "samples.jsonl").write_text(json.dumps({"task_id": "x", "completion": ""}) + "\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert problem in result.stderr.str()


@pytest.mark.skipif(not installed(LANGUAGES["js"]), reason="node is not installed")
def test_a_run_scores_pass_at_1_per_language_with_items_named_by_problem_and_language(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_multipl_e=SUITE)
    tasks = load().tasks
    right = tasks["HumanEval_23_strlen-js"].prompt + "  return string.length;\n}\n"
    wrong = tasks["HumanEval_53_add-js"].prompt + "  return x - y;\n}\n"
    rows = [
        {"task_id": "HumanEval_23_strlen", "generation": right},
        {"task_id": "HumanEval_53_add", "generation": wrong},
    ]
    (pytester.path / "pred_js_output.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    args = ("--model", "replay:pred_js_output.jsonl", "--language", "js", "--run-id", "m", "--html-report", "none")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, "-k", "strlen or add")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_multipl_e?HumanEval_53_add-js?*", "*Exception: node:assert*"])
    folder = pytester.path / "reports" / "m"
    records = {r["task_id"]: r for r in map(json.loads, (folder / "results.jsonl").read_text().splitlines())}
    assert (records["HumanEval_23_strlen-js"]["status"], records["HumanEval_53_add-js"]["status"]) == (
        "OK",
        "Exception",
    )
    assert records["HumanEval_23_strlen-js"]["kind"] == "multipl-e"
    scores = json.loads((folder / "summary.json").read_text())["scores"]
    assert list(scores) == ["multipl_e-js"] and scores["multipl_e-js"]["pass@1"] == 0.5


def reply(body: dict[str, Any], index: int) -> str:
    """strlen in JavaScript: a chat model's whole function in a block, a completion model's body
    running past the stop token into code that would fail."""
    if "prompt" in body:
        return "  return string.length;\n}\nfunction extra() { throw 1; }\nextra();\n"
    return "Sure.\n```javascript\nfunction strlen(string){\n  return string.length;\n}\nconsole.log(strlen('a'));\n```"


@pytest.mark.skipif(not installed(LANGUAGES["js"]), reason="node is not installed")
@pytest.mark.parametrize("style", ["chat", "completion"])
def test_a_model_s_code_is_taken_from_its_reply_cut_where_the_task_stops(pytester: pytest.Pytester, style: str) -> None:
    pytester.makepyfile(test_multipl_e=SUITE)
    pytester.makepyprojecttoml(f'[tool.convcode.models.coder]\nmodel = "coder"\nstyle = "{style}"\n')
    with OpenAIServer(reply) as server:
        args = ("--model", "coder", "--base-url", server.url, "--language", "js", "-k", "HumanEval_23_strlen")
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--html-report", "none", *args)
        body = server.requests[0]
    result.assert_outcomes(passed=1)
    task = load().tasks["HumanEval_23_strlen-js"]
    if style == "chat":  # the instruction alone, not the alias's Python system prompt
        assert [m["role"] for m in body["messages"]] == ["user"]
        assert "```js\n" + task.prompt.strip() in body["messages"][0]["content"]
    else:
        assert body["prompt"] == task.prompt


def test_a_language_without_its_toolchain_is_an_error_that_names_the_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_multipl_e=SUITE)
    row = {"task_id": "HumanEval_23_strlen", "generation": "any"}
    (pytester.path / "pred_java_output.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("PATH", str(pytester.path))  # no javac here
    args = ("--model", "replay:pred_java_output.jsonl", "--language", "java", "--html-report", "none")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*MultiPL-E Java needs javac*multipl-e --language java* (apt-get install default-jdk*"]
    )
