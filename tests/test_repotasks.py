"""Repository tasks, the parts that need no repository: reading both task formats (ours and the
seed's, through ``datasets``), a reply made into the method and spliced into its file, the
completion cut, the prompts and the conversation's history, and the scores."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path
from typing import Any

import datasets
import pytest

from pytest_convcode.datasets import DataSource, entry
from pytest_convcode.errors import UsageError
from pytest_convcode.models import Answer, Message
from pytest_convcode.repos.answers import answer_code, format_problem, indented, method_of, reply_code
from pytest_convcode.repos.prompts import MAX_FEEDBACK, feedback_message, first_message, history, problem
from pytest_convcode.repos.scores import similarity, summarize_repotasks, table
from pytest_convcode.repos.tasks import RepoTask, load_repo_tasks

TEXT = '''"""Small text helpers."""


class Truncator:
    """Cuts text."""

    def __init__(self, text):
        self.text = text

    def chars(self, num):
        """Return the text cut to num characters, with '...' when it was longer."""
        text = self.text
        if len(text) <= num:
            return text
        cut = text[: num - 3]
        return cut + "..."

    @property
    def words(self):
        """The text's words,
in order."""
        parts = self.text.split()
        kept = [p for p in parts if p]
        return kept


def shout(text):
    """The text in capitals, with an exclamation mark."""
    upper = text.upper()
    marked = upper + "!"
    return marked
'''
TESTS = """from tinylib.text import Truncator, shout


def test_short():
    assert Truncator("abc").chars(5) == "abc"


def test_cut():
    assert Truncator("abcdefgh").chars(6) == "abc..."


def test_words():
    assert Truncator("a  b").words == ["a", "b"]


def test_shout():
    assert shout("hi") == "HI!"
"""
LABELS = {
    "chars": ["tests/test_text.py::test_cut", "tests/test_text.py::test_short"],
    "words": ["tests/test_text.py::test_words"],
    "shout": ["tests/test_text.py::test_shout"],
}
BUGS = {"chars": ("num - 3", "num - 2"), "shout": ('upper + "!"', 'upper + "?"')}


def record(name: str, source: str = TEXT, repo: str = "tinylib") -> dict[str, Any]:
    """A task record of our format for the function ``name`` of ``source`` (tinylib/text.py)."""
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    body_start, end = node.body[0].lineno - 1, (node.end_lineno or node.lineno) - 1
    without = "".join(lines[:start] + lines[end + 1 :])
    owner = next((c for c in tree.body if isinstance(c, ast.ClassDef) and node in c.body), None)
    row: dict[str, Any] = {
        "task_id": f"tinylib/text.py::{owner.name + '.' if owner else ''}{name}",
        "repo": repo,
        "file_path": "tinylib/text.py",
        "class_name": owner.name if owner else "",
        "class_code": "".join(lines[owner.lineno - 1 : owner.end_lineno]) if owner else "",
        "class_without_method": "".join(lines[owner.lineno - 1 : start] + lines[end + 1 : owner.end_lineno])
        if owner
        else "",
        "raw_file_content": source,
        "file_without_method": without,
        "method": {
            "name": name,
            "declaration": lines[node.lineno - 1].strip(),
            "body": "".join(lines[body_start : end + 1]),
            "description": ast.get_docstring(node) or "",
            "global_method_declaration_index": [start, body_start - 1],
            "global_method_body_index": [body_start, end],
        },
        "tests": {"full_paths": LABELS[name], "time_test_norm": 0.05},
    }
    if name in BUGS:
        buggy = source.replace(*BUGS[name])
        row.update(
            file_with_buggy_method=buggy,
            buggy_method="".join(buggy.splitlines(keepends=True)[node.lineno - 1 : end + 1]),
            mutation=f"{BUGS[name][0]} -> {BUGS[name][1]}",
            test_error_message=f"FAILED {LABELS[name][0]} - AssertionError",
        )
    return row


def write_tasks(path: Path, names: tuple[str, ...] = ("chars", "words", "shout"), repo: str = "tinylib") -> Path:
    path.write_text("".join(json.dumps(record(name, repo=repo)) + "\n" for name in names))
    return path


def task(name: str) -> RepoTask:
    from pytest_convcode.repos.tasks import task_from_row

    return task_from_row(record(name), "here")


# ---------------------------------------------------------------- reading


def test_our_task_file_is_read_with_the_spans_it_gives(tmp_path: Path) -> None:
    tasks = load_repo_tasks(str(write_tasks(tmp_path / "tasks.jsonl")))
    assert list(tasks.tasks) == [
        "tinylib/text.py::Truncator.chars",
        "tinylib/text.py::Truncator.words",
        "tinylib/text.py::shout",
    ]
    assert (tasks.suite, tasks.version, len(tasks.digest)) == ("repotasks", "tinylib", 64)
    words = tasks.tasks["tinylib/text.py::Truncator.words"]
    assert words.source.startswith("    def words(self):") and words.indent == "    "  # from def: its @property stays
    assert words.with_method(words.source) == TEXT and not words.repairable
    assert (
        entry("repotasks").load(DataSource(repo_tasks=str(tmp_path / "tasks.jsonl"))).tasks.keys() == tasks.tasks.keys()
    )


def test_the_seed_data_set_is_read_through_datasets_deriving_what_it_lacks(tmp_path: Path) -> None:
    rows = []
    for n, name in enumerate(("chars", "shout")):
        row = record(name)
        for ours in ("task_id", "repo", "buggy_method", "mutation"):
            del row[ours]
        rows.append({**row, "idx": n, "dp_id": f"dp{n}", "split": "test", "class_doc": "", "class_position_in_file": 0})
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "seed.parquet"))
    tasks = load_repo_tasks(str(tmp_path / "seed.parquet"))
    chars = tasks.tasks["tinylib/text.py::Truncator.chars"]
    assert chars.repo == "django==4.0.4" and list(tasks.tasks)[1] == "tinylib/text.py::shout"
    assert chars.buggy_method == record("chars")["buggy_method"]  # cut out of its buggy file
    assert chars.tests == tuple(LABELS["chars"]) and chars.time_test_norm == 0.05


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("file_path"), "tasks.jsonl:1: field 'file_path' is missing"),
        (lambda r: r["method"].update(global_method_body_index=[5]), "field 'method.global_method_body_index' must be"),
        (lambda r: r["method"].update(global_method_body_index=[9, 400]), "do not lie in order in its file's 31 lines"),
        (lambda r: r["method"].update(global_method_declaration_index=[2, 3]), "no 'def' line in the method's"),
        (lambda r: r["tests"].update(full_paths=[]), "'tests.full_paths' must be a non-empty list"),
        (lambda r: r.update(file_with_buggy_method="x\n" + TEXT, buggy_method=""), "differs from the file outside"),
    ],
)
def test_a_malformed_record_is_one_line_naming_the_file_line_and_field(
    tmp_path: Path, change: Any, message: str
) -> None:
    row = record("chars")
    change(row)
    (tmp_path / "tasks.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("[", r"\[")) as caught:
        load_repo_tasks(str(tmp_path / "tasks.jsonl"))
    assert "\n" not in str(caught.value)


def test_a_missing_file_or_hub_data_set_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--repo-tasks nowhere.jsonl: no such file; give our JSON lines"):
        load_repo_tasks("nowhere.jsonl")
    with pytest.raises(UsageError, match=r"^--repo-tasks hf:.*: could not be read"):
        load_repo_tasks(f"hf:{tmp_path}/absent")


# ---------------------------------------------------------------- answers


def test_a_reply_is_its_last_python_block_without_reasoning() -> None:
    reply = "<think>```python\nwrong\n```</think>Here:\n```python\nfirst\n```\nand\n```python\n    def f(self):\n```\n"
    assert reply_code(reply) == "    def f(self):"
    assert reply_code("def f():\n    return 1\n") == "def f():\n    return 1"
    # the reference's ground truth is a continuation: taken as it is, whatever it holds
    assert answer_code(Answer('    x = "```python\\nno```"\n', "completion")) == '    x = "```python\\nno```"'


def test_a_method_may_start_with_a_decorator_but_not_with_anything_else() -> None:
    assert method_of("@property\ndef words(self):\n    return []", "words").code == "def words(self):\n    return []\n"
    assert method_of("async def words(self):\n    pass", "words").code.startswith("async def words")
    for wrong in (
        "class A:\n    def words(self): pass",
        "def word(self):\n    pass",
        "x = 1\ndef words(self): pass",
        "",
    ):
        assert method_of(wrong, "words").problem == format_problem("words")


def test_a_method_is_shifted_to_the_files_indentation_keeping_its_own() -> None:
    code = 'def f(self):\n    s = """a\nb"""\n\n    return s\n'
    assert indented(code, "    ") == '    def f(self):\n        s = """a\n    b"""\n\n        return s\n'
    assert indented(indented(code, "        "), "") == code
    chars = task("chars")
    assert chars.with_method(indented(textwrap.dedent(chars.source), chars.indent)) == TEXT


def test_completion_cuts_after_the_docstring_and_half_the_code() -> None:
    chars = task("chars")  # 5 lines of code after the docstring: the model writes the last 3
    assert chars.completion_prefix.splitlines()[-1] == "        if len(text) <= num:"
    assert (
        chars.completion_target
        == '            return text\n        cut = text[: num - 3]\n        return cut + "..."\n'
    )
    words = task("words")  # a docstring over two lines, then 3 lines of code: the model writes 2
    assert words.completion_prefix.endswith('in order."""\n        parts = self.text.split()\n')
    assert problem(words, "completion").program(words.completion_target) == words.source


# ---------------------------------------------------------------- prompts


def test_the_prompts_hold_what_each_kind_needs() -> None:
    chars = task("chars")
    first = first_message(chars, "method_gen")
    assert "`chars` of class `Truncator`" in first and "def chars(self, num):" in first
    assert "with '...' when it was longer" in first and "def __init__(self, text):" in first and "cut = " not in first
    assert first_message(task("shout"), "method_gen").count("class Truncator") == 1  # the file, for a function
    completion = first_message(chars, "completion")
    assert completion.rstrip("`\n").endswith("        if len(text) <= num:")
    repair = first_message(chars, "repair")
    assert "FAILED tests/test_text.py::test_cut" in repair and "cut = text[: num - 2]" in repair


def test_feedback_is_the_seeds_message_with_the_outputs_tail_and_the_task_again() -> None:
    chars = task("chars")
    output = "x" * MAX_FEEDBACK + "the end"
    message = feedback_message(chars, output)
    assert message.startswith("Correct the answer. Tests failed:\nTEST_RESULT:\n```\n" + "x" * (MAX_FEEDBACK - 7))
    assert "the end\n```\nWrite the method `chars` of class `Truncator`" in message


def test_the_history_drops_its_oldest_pairs_over_the_budget() -> None:
    turns = [Message("user", "task")] + [Message(r, f"{r}{n}" * 10) for n in range(3) for r in ("assistant", "user")]
    assert history(turns, limit=1000) == tuple(turns)
    kept = history(turns, limit=310)  # the task (4) and two pairs of 150
    assert kept[0].content == "task" and [m.content[:10] for m in kept[1:]] == [
        "assistant1",
        "user1user1",
        "assistant2",
        "user2user2",
    ]
    assert len(history(turns, limit=1)) == 3  # the task and the last pair, whatever their size


# ---------------------------------------------------------------- scores


def test_chrf_and_the_common_prefix_ratio() -> None:
    assert similarity("def f():\n    return 1", "def f():\n    return 1") == (100.0, 1.0)
    chrf, ratio = similarity("def f():\n    return 2", "def f():\n    return 1")
    assert 50 < chrf < 100 and ratio == 20 / 21
    assert similarity("", "") == (0.0, 1.0)


def turn(
    task_id: str, kind: str, turn: int, solved_at: int | None, share: float | None, **extra: Any
) -> dict[str, Any]:
    scored = {"share_passed": share, "chrf": 50.0, "prefix_ratio": 0.5} if share is not None else {}
    return {"suite": "repotasks", "task_id": task_id, "setting": kind, "turn": turn, "solved_at": solved_at,
            "outcome": "passed" if solved_at is not None else "failed", **scored, **extra}  # fmt: skip


def test_method_generation_is_scored_by_turn_and_the_others_once() -> None:
    records = [
        turn("a", "method_gen", 0, None, 0.5),
        turn("a", "method_gen", 1, 1, 1.0),
        turn("a", "method_gen", 2, 1, None),  # settled: solved at turn 1
        turn("b", "method_gen", 0, None, 0.0, not_run="not the method", chrf=0.0, prefix_ratio=0.0),
        turn("b", "method_gen", 1, None, 0.25, crashed="time limit"),
        turn("b", "method_gen", 2, None, 0.0),
        turn("a", "repair", 0, 0, 1.0),
        turn("b", "repair", 0, None, None, outcome="error"),
    ]
    summary = summarize_repotasks(records)
    method = summary["repotasks method_gen"]
    assert (method["tasks"], method["turns"], method["pass_rate"], method["mrr"]) == (2, 2, 50.0, 25.0)
    assert method["curve"] == [0.0, 50.0, 50.0] and method["share_curve"] == [25.0, 62.5, 62.5]
    assert (method["crashed"], method["not_run"], method["chrf"], method["prefix_ratio"]) == (1, 1, 50.0, 50.0)
    repair = summary["repotasks repair"]
    assert (repair["pass_rate"], repair["errors"], repair["excluding_errors"]["pass_rate"]) == (50.0, 1, 100.0)
    lines = table(summary)
    assert lines[1].split() == ["repotasks", "method_gen", "2", "50.0", "25.0", "62.5", "50.0", "50.0", "1", "1", "0"]
    assert "repotasks method_gen: pass by turn 0.0 50.0 50.0" in lines
