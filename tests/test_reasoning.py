"""Code reasoning (CRUXEval, CodeGlance): data, prompts, answer extraction, judging, feature scores.

Judging runs in one process sandbox for the module (each job is a fork). The
CodeGlance files used here are hand-written in fixtures/reasoning/ (stdlib-only code,
the real schema and RAG format); the real sets are not bundled.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import shutil
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode.datasets import DatasetError
from pytest_convcode.errors import UsageError
from pytest_convcode.metrics import pass_at_k
from pytest_convcode.reasoning import (
    MODES,
    STYLES,
    ApiDoc,
    Mode,
    Prediction,
    PromptStyle,
    Question,
    ReasoningDataset,
    ReasoningJudge,
    ReasoningTask,
    ReasoningVerdict,
    extract,
    feature_scores,
    load_codeglance,
    load_cruxeval,
    read_generations,
    read_rag,
)
from pytest_convcode.sandbox import Sandbox

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reasoning"
REPLIES = FIXTURES / "replies"
MINI = FIXTURES / "MiniGlance_reasoning.jsonl"
MINI_RAG = FIXTURES / "MiniGlance_RAG_result_total.json"
CRUXEVAL_SHA256 = "9062d79f77f2c1c74e7c2aced32d8bcdd381d871d053ef91507bd3b1cb29bb32"  # shared/datasets/cruxeval


@pytest.fixture(scope="module")
def judge(sandbox: Sandbox) -> ReasoningJudge:
    return ReasoningJudge(sandbox)


@pytest.fixture(scope="module")
def cruxeval() -> ReasoningDataset:
    return load_cruxeval()


@pytest.fixture(scope="module")
def mini() -> ReasoningDataset:
    return load_codeglance(MINI)


def task(code: str, result: str, arguments: str | None = None, task_id: str = "hand") -> ReasoningTask:
    """A CRUXEval-style task (or, without arguments, a CodeGlance-style one asserting f(1))."""
    test = f"assert f({arguments}) == <ground_truth>" if arguments is not None else "assert f(1) == <ground_truth>"
    return ReasoningTask(task_id, code, result, test, arguments)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


# ---------------------------------------------------------------- data


def test_cruxeval_is_bundled_unchanged(cruxeval: ReasoningDataset) -> None:
    assert cruxeval.digest == CRUXEVAL_SHA256
    assert hashlib.sha256(Path(cruxeval.source).read_bytes()).hexdigest() == CRUXEVAL_SHA256
    assert (cruxeval.name, cruxeval.suite, cruxeval.version) == ("CRUXEval", "cruxeval", "1.0")
    assert cruxeval.modes == ("output", "input")
    assert list(cruxeval.tasks) == [f"sample_{i}" for i in range(800)]
    first = cruxeval.tasks["sample_0"]
    assert first.input == "[1, 1, 3, 1, 3, 1]"
    assert first.result == "[(4, 1), (4, 1), (4, 1), (4, 1), (2, 3), (2, 3)]"
    assert first.test == "assert f([1, 1, 3, 1, 3, 1]) == <ground_truth>"
    assert first.code.startswith("def f(nums):")
    assert first.features == {} and first.apis == ()
    assert cruxeval.tasks["sample_135"].input == ""  # f() takes no arguments: still a task


def test_codeglance_fixture_loads_with_its_rag_documents(mini: ReasoningDataset) -> None:
    assert (mini.name, mini.suite, mini.modes) == ("MiniGlance", "codeglance", ("output",))
    assert mini.rag_source == str(MINI_RAG)  # found beside the data file
    assert mini.digest == hashlib.sha256(MINI.read_bytes()).hexdigest()
    assert mini.version == mini.digest[:12]
    assert list(mini.tasks) == ["0", "1", "2", "3", "4", "5", "6"]
    two = mini.tasks["2"]
    assert two.input is None
    assert two.result == "3"
    assert two.test == 'text = "a1b22c333"\nassert len(generate_ans(text)) == <ground_truth>'
    assert two.features == {"code_lines": 2, "cyclomatic_complexity": 1, "common_api_count": 1}
    # Counter is matched by two queries and kept once; NaN and missing fields read as ""
    assert [d.api_path for d in mini.tasks["0"].apis] == ["collections.Counter", "collections.Counter.most_common"]
    assert two.apis == (ApiDoc("re.findall", "", "Return a list of all non-overlapping matches in the string."),)
    assert mini.tasks["3"].apis == (ApiDoc("math.comb", "(n, k, /)", ""),)
    assert mini.tasks["5"].apis == () and mini.tasks["6"].apis == ()


def test_rag_file_named_explicitly_or_gzipped(tmp_path: Path) -> None:
    data = shutil.copy(MINI, tmp_path / "Other_reasoning.jsonl")
    assert load_codeglance(Path(data)).rag_source is None  # nothing beside it
    rag = tmp_path / "Other_RAG_result_total.json.gz"
    rag.write_bytes(gzip.compress(MINI_RAG.read_bytes()))
    found = load_codeglance(Path(data))
    assert found.rag_source == str(rag)
    assert found.tasks["1"].apis[0].api_path == "itertools.accumulate"
    explicit = load_codeglance(Path(data), rag_path=MINI_RAG)
    assert explicit.tasks == found.tasks
    assert read_rag(rag) == read_rag(MINI_RAG)


def test_annotated_cruxeval_file_has_both_modes_and_features(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "cruxeval.jsonl",
        [{"code": "def f(x):\n    return x * 2", "input": "3", "output": "6", "id": "sample_0", "code_lines": 2}],
    )
    for dataset in (load_codeglance(path), load_cruxeval(path)):
        assert dataset.modes == ("output", "input")
        assert dataset.tasks["sample_0"].features == {"code_lines": 2}
        assert dataset.tasks["sample_0"].test == "assert f(3) == <ground_truth>"
    with pytest.raises(DatasetError, match="load_codeglance"):
        load_cruxeval(MINI)


def test_malformed_records_name_the_line_the_field_and_the_fix(tmp_path: Path) -> None:
    good = {"ID": "0", "code": "def f(x):\n    return x", "test": "assert f(1) == <ground_truth>", "result": "1"}
    no_code = {k: v for k, v in good.items() if k != "code"} | {"ID": "1"}
    no_placeholder = good | {"ID": "2", "test": "assert f(1) == 1"}
    path = write_jsonl(tmp_path / "Bad_reasoning.jsonl", [good, no_code, no_placeholder])
    with pytest.raises(DatasetError) as caught:
        load_codeglance(path)
    message = str(caught.value)
    assert f"{path}:2: field 'code' is missing" in message
    assert f"{path}:3: field 'test' has no <ground_truth> placeholder" in message
    assert "write the assertion as `assert <expression> == <ground_truth>`, or remove the record" in message
    lenient = load_codeglance(path, skip_malformed=True)
    assert list(lenient.tasks) == ["0"] and len(lenient.skipped) == 2

    twice = write_jsonl(tmp_path / "Twice_reasoning.jsonl", [good, good])
    with pytest.raises(DatasetError, match=r":2: task id '0' appears twice"):
        load_codeglance(twice)
    empty = write_jsonl(tmp_path / "Empty_reasoning.jsonl", [good | {"code": "  "}])
    with pytest.raises(DatasetError, match="field 'code' is empty"):
        load_codeglance(empty)


def test_rag_files_that_cannot_be_used(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.json"
    foreign.write_text('[{"ID": "nope", "matches": []}]')
    with pytest.raises(DatasetError, match="none of its IDs is a task"):
        load_codeglance(MINI, rag_path=foreign)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"ID": "0", "matches": [')
    with pytest.raises(DatasetError, match="neither a JSON array nor JSON lines"):
        read_rag(broken)
    shape = tmp_path / "shape.json"
    shape.write_text('[{"ID": "0", "matches": [{"query": "x"}]}]')
    with pytest.raises(DatasetError, match=r"matches\[0\] must be an object with a 'results' list"):
        read_rag(shape)
    with pytest.raises(DatasetError, match="no such file"):
        read_rag(tmp_path / "missing.json")


def test_generations_files_that_cannot_be_used(tmp_path: Path) -> None:
    cases = {
        '["f(1)"]': "expected a JSON object of task id -> list of answers",
        '{"sample_0": "f(1)"}': "'sample_0' must map to a list of strings, got str",
        '{"sample_0": ["f(1)", 2]}': r"'sample_0'\[1\] must be a string, got int",
        '{"sample_0": [': "not valid JSON",
        "{}": "holds no generations",
    }
    for text, error in cases.items():
        path = tmp_path / "generations.json"
        path.write_text(text)
        with pytest.raises(DatasetError, match=error):
            read_generations(path)


# ---------------------------------------------------------------- questions and prompts


def test_a_question_is_a_problem(cruxeval: ReasoningDataset, mini: ReasoningDataset) -> None:
    sample = cruxeval.tasks["sample_3"]
    output, inputs = Question(sample, "output"), Question(sample, "input")
    assert output.task_id == inputs.task_id == "sample_3"  # no mode suffix: generation files are keyed so
    assert output.entry_point == "f"
    assert output.canonical_solution == "'bcksrutq'"
    assert inputs.canonical_solution == "f('bcksrut', 'q')"
    assert output.program("anything") == "anything"
    assert output.prompt == output.prompt  # rendered once
    with pytest.raises(UsageError, match="output-only"):
        Question(mini.tasks["0"], "input")
    with pytest.raises(UsageError, match="unknown prompt style"):
        Question(sample, "output", "fewshot")  # type: ignore[arg-type]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("mode", MODES)
def test_prompts_render_for_each_style_and_mode(cruxeval: ReasoningDataset, mode: Mode, style: PromptStyle) -> None:
    sample = cruxeval.tasks["sample_3"]
    prompt = Question(sample, mode, style).prompt
    assert sample.code in prompt
    expected = "assert f('bcksrut', 'q') == ??" if mode == "output" else "assert f(??) == 'bcksrutq'"
    assert f"[PYTHON]\n{sample.code}\n{expected}\n[/PYTHON]" in prompt
    assert "between [ANSWER] and [/ANSWER]" in prompt
    assert ("[THOUGHT]" in prompt) == (style == "cot")
    assert "<ground_truth>" not in prompt
    if style == "rag":  # CRUXEval has no documents: the direct prompt, nothing added
        assert prompt == Question(sample, mode, "direct").prompt


def test_rag_prompt_is_the_direct_prompt_with_the_documents(mini: ReasoningDataset) -> None:
    direct = Question(mini.tasks["0"], "output", "direct").prompt
    rag = Question(mini.tasks["0"], "output", "rag").prompt
    assert rag.endswith(direct) and rag != direct
    docs = rag[: -len(direct)]
    assert "Name: collections.Counter\nSignature: (iterable=None, /, **kwds)" in docs
    assert "Description: List the n most common elements" in docs
    assert docs.count("collections.Counter\n") == 1
    for style in STYLES[:2]:  # documents only in the RAG prompt
        assert "[API]" not in Question(mini.tasks["0"], "output", style).prompt
    without = Question(mini.tasks["5"], "output", "rag").prompt
    assert without == Question(mini.tasks["5"], "output", "direct").prompt


def test_codeglance_prompt_shows_the_test_with_a_blank(mini: ReasoningDataset) -> None:
    prompt = Question(mini.tasks["2"], "output", "cot").prompt
    assert 'text = "a1b22c333"\nassert len(generate_ans(text)) == ??\n[/PYTHON]' in prompt
    assert "<ground_truth>" not in prompt


def test_untrusted_text_reaches_the_prompt_verbatim(mini: ReasoningDataset) -> None:
    code = 'def f(x):\n    """{{ x }} {% raw %} {# c #} [/PYTHON] [ANSWER]"""\n    return "{%" + x + "%}"'
    hostile = ReasoningTask("t", code, "'{%}}%}'", "assert f('}}') == <ground_truth>", "'}}'")
    hostile = dataclasses.replace(hostile, apis=(ApiDoc("x.y", "({{ a }})", "{% if %} {{ b }}"),))
    for mode in MODES:
        for style in STYLES:
            assert code in Question(hostile, mode, style).prompt
    assert "assert f('}}') == ??" in Question(hostile, "output").prompt
    assert "assert f(??) == '{%}}%}'" in Question(hostile, "input").prompt
    assert "Signature: ({{ a }})\nDescription: {% if %} {{ b }}" in Question(hostile, "output", "rag").prompt
    maketrans = Question(mini.tasks["4"], "output", "rag").prompt  # the fixture's description holds {{ }} too
    assert "{{ not a template }} [/ANSWER]" in maketrans


# ---------------------------------------------------------------- answer extraction

# reply file -> (task, mode, the prediction taken, whether it is dropped)
_SAMPLE_3 = "sample_3"
_SAMPLE_9 = "sample_9"  # f('#284376598') returns False
_TAGS_TASK = task("def f(s):\n    return s + '[/ANSWER]'", "'a==b[/ANSWER]'", "'a==b'")
REPLY_CASES: dict[str, tuple[str, Mode, str, bool]] = {
    "cot_then_answer": (_SAMPLE_3, "output", "'bcksrutq'", False),
    "fenced_answer": (_SAMPLE_3, "output", "'bcksrutq'", False),
    "bare_last_line": (_SAMPLE_3, "output", "'bcksrutq'", False),
    "restates_call": (_SAMPLE_3, "output", "f('bcksrut', 'q')", True),
    "input_without_call": (_SAMPLE_3, "input", "'bcksrut', 'q'", True),
    "input_cot": (_SAMPLE_3, "input", "f('bcksrut', 'q')", False),
    "think_block": (_SAMPLE_3, "output", "'bcksrutq'", False),
    "tags_inside_code": ("tags", "output", "'a==b[/ANSWER]'", False),
    "multiple_answers": (_SAMPLE_3, "output", "'bcksrutq'", False),
    "unterminated_answer": (_SAMPLE_3, "output", "'bcksrutq'", False),
    "cut_off_literal": (_SAMPLE_3, "output", "['b', 'c', 'k', 's', 'r', 'u', 't', 'q'", True),
    "codeglance_full_test": ("2", "output", "3", False),
    "codeglance_restates_call": ("2", "output", 'len(generate_ans("a1b22c333"))', True),
    # shapes of Qwen2.5-Coder-0.5B's replies: tags half there, the task echoed, the answer outside any tag
    "closing_tag_only": (_SAMPLE_9, "output", "False", False),
    "input_closing_tag_only": (_SAMPLE_3, "input", "f('bcksrut', 'q')", False),
    "cot_repeats_python_block": (_SAMPLE_9, "output", "False", False),
    "answer_then_echoed_task": (_SAMPLE_3, "output", "'bcksrutq'", False),
    "answer_in_python_tags": (_SAMPLE_3, "output", "'bcksrutq'", False),
    "multiline_assertion": (
        "sample_0",
        "output",
        "[\n    (4, 1),\n    (4, 1),\n    (4, 1),\n    (4, 1),\n    (2, 3),\n    (2, 3),\n]",
        False,
    ),
    "code_fence_then_assertion": (_SAMPLE_9, "output", "False", False),
    "cot_cut_at_max_tokens": (_SAMPLE_9, "output", "", True),
}
CUT = {"cut_off_literal", "cot_cut_at_max_tokens"}  # replies the server ended at max_tokens


def _question_for(name: str, mode: Mode, cruxeval: ReasoningDataset, mini: ReasoningDataset) -> Question:
    chosen = _TAGS_TASK if name == "tags" else cruxeval.tasks.get(name) or mini.tasks[name]
    return Question(chosen, mode)


def test_every_reply_file_has_a_case() -> None:
    assert {p.stem for p in REPLIES.glob("*.txt")} == set(REPLY_CASES)


@pytest.mark.parametrize("reply", sorted(REPLY_CASES))
def test_extract_from_real_reply_shapes(
    reply: str, cruxeval: ReasoningDataset, mini: ReasoningDataset, judge: ReasoningJudge
) -> None:
    name, mode, text, dropped = REPLY_CASES[reply]
    question = _question_for(name, mode, cruxeval, mini)
    prediction = extract((REPLIES / f"{reply}.txt").read_text(), question, cut=reply in CUT)
    assert prediction.text == text
    assert bool(prediction.dropped) == dropped
    verdict = judge.judge(question, prediction)
    assert verdict.passed == (not dropped), verdict.explanation
    assert not verdict.environment


@pytest.mark.parametrize(
    ("reply", "mode", "text"),
    [
        ("assert f(1) == 'x == y'", "output", "'x == y'"),  # == inside a string literal
        ("assert f('a==b') == 2", "input", "f('a==b')"),
        ("assert f(1) == {'k': [1 == 1]}, 'message'", "output", "{'k': [1 == 1]}"),
        ("f(1) == 2 == 2", "output", "2"),  # CRUXEval takes the text between the first two ==
        ("assert f(1) == [1,\n    2]  # done", "output", "[1,\n    2]"),
        ("assert f(1) == (1, 'a==b'", "output", "(1, 'a==b'"),  # cut off: tokenize still finds the ==
        ("ssert f(df)['Score'] == 86", "output", "86"),  # PanNumEval's typo, copied back by a model
        ("   \n", "output", ""),
        ("<think>draft: 5</think>", "output", ""),
        ("<think>a<thinking>5</thinking>b</think>6", "output", "6"),
        ("</think>5", "output", "5"),  # opened by the chat template
        ("5\n<think>6", "output", "5"),  # still thinking when it stopped
        ("</think>\n[ANSWER]assert f(1) == 7[/ANSWER]", "output", "7"),
        ("[answer]\nassert f(1) == 7\n[/answer]", "output", "7"),
        ("[ANSWER]\n```python\nassert f(1) == 7\n```\n[/ANSWER]", "output", "7"),
        ("[ANSWER]\nassert f(1) == 3\n[/ANSWER]\nThat is the [ANSWER]", "output", "3"),
        ("assert f(1) == 'x[/ANSWER]'\n[/ANSWER]", "output", "'x[/ANSWER]'"),  # closed only, a tag in a string
        ("It is 7.\nassert f(1) == 7 [/ANSWER] done", "output", "7"),
        ("[PYTHON]\nassert f(1) == 7\n[/PYTHON]", "output", "7"),  # the prompt's tags around the answer
        ("[PYTHON]assert f(1) == 7\n[/PYTHON]", "output", "7"),
        ("assert f(1) == 7\n[PYTHON]\nassert f(1) == ??\n[/PYTHON]", "output", "7"),  # the task echoed after
        ("assert f(2) == 1\n[PYTHON]\nassert f(??) == 1\n[/PYTHON]", "input", "f(2)"),
        ("assert f(1) == ??", "output", "??"),  # only the blank: judged, and wrong
        ("So:\nassert f(1) == {'a': 1,\n  'b': 2}\nas the loop shows.", "output", "{'a': 1,\n  'b': 2}"),
        ("So:\nassert f(1) == [1,\n2\nand then it stopped", "output", "[1,"),  # cut off inside the literal
        ("```\n7\n```\nThat is the value.", "output", "7"),
        ("```python\nassert f(1) == 6\n```\nNo, I was wrong:\nassert f(1) == 7", "output", "7"),
    ],
)
def test_extract_rules(reply: str, mode: Mode, text: str) -> None:
    question = Question(task("def f(x):\n    return x", "1", "1"), mode)
    assert extract(reply, question).text == text


def test_a_reply_cut_before_its_answer_says_so() -> None:
    question = Question(task("def f(x):\n    return x", "1", "1"), "output")
    reply = "[THOUGHT]\nf returns its argument, so for 1 the value is"
    assert extract(reply, question, cut=True) == Prediction("", "reply cut at max_tokens before the answer")
    assert extract(reply, question).text == "f returns its argument, so for 1 the value is"  # a reply that ended so
    assert extract("[ANSWER]\nassert f(1) == [1,", question, cut=True) == Prediction(
        "[1,", "reply cut at max_tokens inside the answer"
    )
    assert extract("[ANSWER]\nassert f(1) == [1, 2]", question, cut=True) == Prediction("[1, 2]")  # whole: judged


def test_hostile_replies_are_read_in_one_pass() -> None:
    question = Question(task("def f(x):\n    return x", "1", "1"), "output")
    replies = [
        "[ANSWER] it's [/ANSWER] ' " * 5000,  # every block ends inside a string literal
        "<think>x" * 20000,  # reasoning opened and never closed
        "[ANSWER]\n" + "'" * 3 + "a==b" * 30000,
        "f(" * 5000 + "== 1",
    ]
    start = time.perf_counter()
    for reply in replies:
        extract(reply, question)
    assert time.perf_counter() - start < 5  # each took tens of seconds when a tag meant a rescan of the rest


def test_drop_rules_follow_cruxevals_evaluator(cruxeval: ReasoningDataset, mini: ReasoningDataset) -> None:
    sample = cruxeval.tasks["sample_3"]
    restated = extract("assert f('bcksrut', 'q') == f('bcksrut', 'q')", Question(sample, "output"))
    assert "restates the call f('bcksrut', 'q')" in restated.dropped
    other_call = extract("f('bcksrut','q')", Question(sample, "output"))  # not the text f(<input>): judged
    assert other_call.dropped == ""
    no_call = extract("'bcksrut', 'q'", Question(sample, "input"))
    assert no_call.dropped == "an input prediction must be a call f(...), and this answer calls no f"
    assert extract("f('bcksrut', 'q')", Question(sample, "input")).dropped == ""
    # CodeGlance: calling a function the task defines is not a prediction (its evaluator never runs the code)
    glance = Question(mini.tasks["5"], "output")
    assert "calls f()" in extract("f([2, 1, 2, 3])", glance).dropped
    assert extract("list(range(1, 3))", glance).dropped == ""


# ---------------------------------------------------------------- judging

# every 8th task: a deterministic spread of 100 (all 1600 take ~14 s on 2 cores; see the report)
SPREAD = [f"sample_{i}" for i in range(0, 800, 8)]


def test_cruxeval_references_pass_in_both_modes(cruxeval: ReasoningDataset, judge: ReasoningJudge) -> None:
    questions = [Question(cruxeval.tasks[t], mode) for t in SPREAD for mode in cruxeval.modes]

    def judged(question: Question) -> tuple[Question, ReasoningVerdict]:
        return question, judge.judge(question, extract(question.canonical_solution, question))

    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(judged, questions))
    failed = [(q.task_id, q.mode, v.explanation) for q, v in verdicts if not v.passed]
    assert len(verdicts) == 200 and not failed


def _verdict(judge: ReasoningJudge, question: Question, reply: str) -> ReasoningVerdict:
    return judge.judge(question, extract(reply, question))


def test_wrong_answers_fail_with_their_reason(cruxeval: ReasoningDataset, judge: ReasoningJudge) -> None:
    sample = cruxeval.tasks["sample_3"]
    output, inputs = Question(sample, "output"), Question(sample, "input")
    cases = [
        (output, "'bcksrut'", "expected 'bcksrutq', the answer is 'bcksrut'"),
        (
            inputs,
            "f('bcksru', 'q')",
            "expected 'bcksrutq', the answer is f('bcksru', 'q'), and it evaluates to 'bcksruq'",
        ),
        (output, "f('bcksrut', 'q')", "restates the call"),
        (inputs, "'bcksrut', 'q'", "must be a call f(...)"),
        (output, "'bcksrutq", "is not a Python expression (unterminated string literal"),
        (output, "x = 'bcksrutq'", "is not a Python expression"),
        (inputs, "f(None, 'q')", "evaluating the answer raised TypeError: 'NoneType' object is not iterable"),
        (output, "undefined_name", "raised NameError: name 'undefined_name' is not defined"),
        (output, "", "the reply holds no answer"),
    ]
    for question, reply, reason in cases:
        verdict = _verdict(judge, question, reply)
        assert not verdict.passed and not verdict.environment, reply
        assert reason in verdict.explanation, (reply, verdict.explanation)
    # a prediction cannot forge equality: the expected literal never enters the sandbox
    liar = "type('Liar', (), {'__eq__': lambda self, other: True, '__hash__': None})()"
    assert not _verdict(judge, output, liar).passed
    assert not _verdict(judge, output, "__import__('sys')._getframe(1).f_locals.get('expected')").passed


def test_an_endless_prediction_is_stopped_at_the_time_limit(sandbox: Sandbox) -> None:
    quick = ReasoningJudge(sandbox, time_limit=0.5)
    looping = Question(task("def f(n):\n    while n:\n        pass\n    return n", "0", "0"), "input")
    assert _verdict(quick, looping, "f(0)").passed
    verdict = _verdict(quick, looping, "f(1)")
    assert not verdict.passed and not verdict.environment
    assert verdict.explanation == "evaluating the answer was stopped at the time limit (0.5 s)"


def test_the_tasks_own_trouble_is_an_environment_error(judge: ReasoningJudge) -> None:
    missing = Question(task("import convcode_no_such_module\n\ndef f(x):\n    return x", "1", "1"), "output")
    verdict = _verdict(judge, missing, "1")
    assert verdict.environment and not verdict.passed
    assert "the task's code does not run in the sandbox's interpreter" in verdict.explanation
    assert "ModuleNotFoundError: No module named 'convcode_no_such_module'" in verdict.explanation
    for unread in (
        "f(1)",
        "'cut off",
    ):  # dropped, not Python: wrong unread elsewhere, but no sample of this task counts
        verdict = _verdict(judge, missing, unread)
        assert verdict.environment and "No module named 'convcode_no_such_module'" in verdict.explanation
    broken_code = Question(task("def f(df, df):\n    return df", "1"), "output")  # 16 of DS1000's are so
    assert _verdict(judge, broken_code, "1").environment
    numpy_print = Question(task("def f(x):\n    return x", "[1800. 1700.]"), "output")  # DS1000 line 480
    verdict = _verdict(judge, numpy_print, "[1800.0, 1700.0]")
    assert verdict.environment and "expected value '[1800. 1700.]' is not Python" in verdict.explanation
    bare_nan = Question(task("def f(x):\n    return x", "nan"), "output")  # DS1000's bare nan
    verdict = _verdict(judge, bare_nan, "float('nan')")
    assert verdict.environment and "raised NameError" in verdict.explanation


def test_a_task_its_own_answer_cannot_pass_is_an_environment_error(judge: ReasoningJudge) -> None:
    # DS1000 asks for {'reduce_dIm': PCA(), ...}: estimators compare by identity, so no answer can pass
    code = "class PCA:\n    pass\n\ndef f(x):\n    return {'step': PCA()}"
    identity = Question(task(code, "{'step': PCA()}"), "output")
    verdict = _verdict(judge, identity, "{'step': PCA()}")
    assert verdict.environment and "the data set's own answer fails this check here" in verdict.explanation
    counts = Question(task("def f(x):\n    return [x, x]", "[1, 1]"), "output")
    assert not _verdict(judge, counts, "[1, 2]").environment  # a wrong answer to a sound task: a failure


def test_codeglance_references_and_expressions(mini: ReasoningDataset, judge: ReasoningJudge) -> None:
    for fixture_task in mini.tasks.values():
        question = Question(fixture_task, "output", "rag")
        verdict = judge.judge(question, extract(question.canonical_solution, question))
        assert verdict.passed, (fixture_task.task_id, verdict.explanation)
    pair = Question(mini.tasks["5"], "output")  # result "[1, 2]"
    assert _verdict(judge, pair, "[ANSWER]\nassert f([2, 1, 2, 3]) == list(range(1, 3))\n[/ANSWER]").passed
    assert not _verdict(judge, pair, "list(range(1, 4))").passed
    common = Question(mini.tasks["0"], "output")  # result "('a', 3)"; the code's imports are there
    assert _verdict(judge, common, "collections.Counter('aaa').most_common(1)[0]").passed
    overlap = Question(mini.tasks["6"], "output")  # result "frozenset({2, 3})": not a literal, compared in the sandbox
    assert _verdict(judge, overlap, "frozenset([3, 2])").passed
    verdict = _verdict(judge, overlap, "frozenset({2})")
    assert not verdict.passed
    assert verdict.explanation == "expected frozenset({2, 3}), the answer is frozenset({2})"


def test_generations_file_scores_as_computed_by_hand(cruxeval: ReasoningDataset, judge: ReasoningJudge) -> None:
    generations = read_generations(FIXTURES / "generations_output.json")
    passed: dict[str, list[bool]] = {}
    for task_id, answers in generations.items():
        question = Question(cruxeval.tasks[task_id], "output")
        passed[task_id] = [judge.judge(question, extract(a, question)).passed for a in answers]
    # By hand, per task (R right literal, E right expression, W wrong, D dropped, S syntax error, N NameError):
    #   sample_0: R E W D E            -> c = 3
    #   sample_1: R E W S R(assert)    -> c = 3
    #   sample_2: R R R R([ANSWER]) R  -> c = 5
    #   sample_3: W W D W(+'Q') N      -> c = 0
    #   sample_4: W E W E W(' ' * 12)  -> c = 2
    #   sample_5: E W R S D            -> c = 2
    assert passed == {
        "sample_0": [True, True, False, False, True],
        "sample_1": [True, True, False, False, True],
        "sample_2": [True] * 5,
        "sample_3": [False] * 5,
        "sample_4": [False, True, False, True, False],
        "sample_5": [True, False, True, False, False],
    }
    counts = [(len(v), sum(v)) for v in passed.values()]
    # pass@1 = mean of c/n = (3 + 3 + 5 + 0 + 2 + 2) / 5 / 6 = 15 / 30 = 0.5
    # pass@2 = mean of 1 - C(5-c, 2) / C(5, 2): c=3 -> 1 - 1/10 = 0.9; c=5 -> 1; c=0 -> 0; c=2 -> 1 - 3/10 = 0.7
    #        = (0.9 + 0.9 + 1 + 0 + 0.7 + 0.7) / 6 = 4.2 / 6 = 0.7
    # pass@5 = share of tasks with c >= 1 (n = 5) = 5 / 6
    for k, by_hand in ((1, 0.5), (2, 0.7), (5, 5 / 6)):
        assert sum(pass_at_k(n, c, k) for n, c in counts) / len(counts) == pytest.approx(by_hand)
    dropped = [extract(a, Question(cruxeval.tasks[t], "output")).dropped for t, v in generations.items() for a in v]
    assert sum(bool(d) for d in dropped) == 3  # counted as failures, not removed from n


def test_a_dropped_prediction_is_not_run(judge: ReasoningJudge, cruxeval: ReasoningDataset) -> None:
    question = Question(cruxeval.tasks["sample_3"], "output")
    verdict = judge.judge(question, Prediction("'bcksrutq'", dropped="told so"))
    assert verdict == ReasoningVerdict(False, "told so", "'bcksrutq'", False)


# ---------------------------------------------------------------- scores by feature


def _records(
    group: tuple[str, str], rows: Sequence[tuple[str, Mapping[str, float], list[str]]]
) -> list[dict[str, Any]]:
    suite, mode = group
    return [
        {"suite": suite, "mode": mode, "task_id": tid, "sample": i, "outcome": outcome, "features": features}
        for tid, features, outcomes in rows
        for i, outcome in enumerate(outcomes)
    ]


P, F, E = "passed", "failed", "error"


def test_feature_scores_bucket_by_the_data() -> None:
    # code_lines has 8 distinct values -> quartile ranges. Inclusive quartiles of
    # [2, 3, 4, 5, 6, 8, 10, 14] sit at positions 1.75, 3.5, 5.25: 3.75, 5.5, 8.5,
    # rounded up to whole lines: cuts 4, 6, 9 -> buckets 2-3, 4-5, 6-8, 9+.
    # cyclomatic_complexity has 3 distinct values -> one bucket each.
    rows = [
        ("t0", {"code_lines": 2, "cyclomatic_complexity": 1}, [P] * 5),
        ("t1", {"code_lines": 3, "cyclomatic_complexity": 1}, [F] * 5),
        ("t2", {"code_lines": 4, "cyclomatic_complexity": 2}, [P, P, F, F, F]),
        ("t3", {"code_lines": 5, "cyclomatic_complexity": 2}, [P, P, P, F, F, E]),  # the error: a failed sample
        ("t4", {"code_lines": 6, "cyclomatic_complexity": 3}, [P, F, F, F, F]),
        ("t5", {"code_lines": 8, "cyclomatic_complexity": 3}, [P, P, P, P, F]),
        ("t6", {"code_lines": 10, "cyclomatic_complexity": 3}, [F] * 5),
        ("t7", {"code_lines": 14, "cyclomatic_complexity": 1}, [P, F, F, F]),  # n = 4: no pass@5 in its buckets
    ]
    other = [("a", {"code_lines": 2}, [P]), ("b", {"code_lines": 3}, [E, E])]
    ratios = [(f"r{i}", {"ratio": i / 10}, [P if i % 2 else F]) for i in range(1, 8)]
    records = _records(("cruxeval", "output"), rows) + _records(("codeglance", "output"), other)
    scores = feature_scores(records + _records(("x", "input"), ratios))
    assert sorted(scores) == ["codeglance-output", "cruxeval-output", "x-input"]
    assert json.loads(json.dumps(scores)) == scores  # plain JSON
    lines = scores["cruxeval-output"]["code_lines"]
    assert [(b["bucket"], b["low"], b["high"], b["tasks"], b["samples"], b["passed"]) for b in lines] == [
        ("2-3", 2, 3, 2, 10, 5),
        ("4-5", 4, 5, 2, 11, 5),
        ("6-8", 6, 8, 2, 10, 5),
        ("9+", 10, 14, 2, 9, 1),
    ]
    # pass@1: (1 + 0)/2, (0.4 + 0.5)/2, (0.2 + 0.8)/2, (0 + 0.25)/2; pass@5: c >= 1 per task, where all n >= 5
    assert [b["pass@1"] for b in lines] == pytest.approx([0.5, 0.45, 0.5, 0.125])
    assert [b.get("pass@5") for b in lines] == [0.5, 1.0, 1.0, None]
    # excluding the error, t3 is 3 of 5: (0.4 + 0.6)/2
    assert lines[1]["excluding_errors"] == {"tasks": 2, "samples": 10, "pass@1": pytest.approx(0.5), "pass@5": 1.0}
    branches = scores["cruxeval-output"]["cyclomatic_complexity"]
    assert [b["bucket"] for b in branches] == ["1", "2", "3"]
    assert [b["tasks"] for b in branches] == [3, 2, 3]
    # 1: t0, t1, t7 -> (1 + 0 + 0.25)/3; 2: t2, t3 -> (0.4 + 0.5)/2; 3: t4, t5, t6 -> (0.2 + 0.8 + 0)/3
    assert [b["pass@1"] for b in branches] == pytest.approx([1.25 / 3, 0.45, 1 / 3])
    assert [b.get("pass@5") for b in branches] == pytest.approx([None, 1.0, 2 / 3])
    # a task whose every record is an error still has its bucket: it scores 0, and none of it ran
    assert scores["codeglance-output"]["code_lines"] == [
        {"bucket": "2", "low": 2, "high": 2, "tasks": 1, "samples": 1, "passed": 1, "errors": 0, "pass@1": 1.0,
         "excluding_errors": {"tasks": 1, "samples": 1, "pass@1": 1.0}},
        {"bucket": "3", "low": 3, "high": 3, "tasks": 1, "samples": 2, "passed": 0, "errors": 2, "pass@1": 0.0,
         "excluding_errors": {"tasks": 0, "samples": 0}},
    ]  # fmt: skip
    # non-integral values: quartiles 0.25, 0.4, 0.55 of 0.1..0.7, ranges low <= v < high
    ratio = scores["x-input"]["ratio"]
    assert [(b["bucket"], b["tasks"]) for b in ratio] == [
        ("0.1-0.25", 2),
        ("0.25-0.4", 1),
        ("0.4-0.55", 2),
        ("0.55+", 2),
    ]


def test_invalid_escapes_in_the_task_or_the_answer_raise_no_warning_here(judge: ReasoningJudge) -> None:
    # DS1000's task 15 holds '\[' in its code: the parser's complaint is about the data, not the harness
    question = Question(task("import re\n\ndef f(x):\n    return re.findall('\\[a\\]', x)", "['[a]']", "'[a]'"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _verdict(judge, question, "['\\[a]']").explanation.startswith("expected ['[a]']")
