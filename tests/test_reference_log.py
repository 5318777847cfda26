"""ConvCodeBench's reference logs: a ConvCodeWorld run folder and the official parquet format read
into one form, the export between them, and a usage error for each way a log can fall short."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import pytest

from pytest_convcode.errors import UsageError
from pytest_convcode.export_ccb import main as export_main
from pytest_convcode.official_log import FIELDS
from pytest_convcode.reference_log import SETTINGS, ReferenceLog, ReferenceTurn, load_reference_log, read_run_folder


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_dataset copies each file it reads into its cache: the tests' go to their own folder."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


FULL = "cf-ef_full-expert"
NOVICE = "cf-ef_partial-novice"


def _line(task: str, setting: str, turn: int, program: str, passed: bool, execution: str, user: str) -> dict[str, Any]:
    feedback = None if turn == 0 else {"compilation": "ok", "execution": execution, "user": user}
    return {
        "run_id": "ref",
        "model": "ref-model",
        "task_id": task,
        "setting": setting,
        "turn": turn,
        "messages": [],
        "reply": program,
        "program": program,
        "passed": passed,
        "tests": {},
        "run_error": "",
        "feedback": feedback,
    }


def _conversation(task: str, setting: str, solved_at: int | None, turns: int = 11) -> list[dict[str, Any]]:
    """Turn t's program "t{t}", passing at ``solved_at`` (and stopping there); turn t's feedback
    (on turn t-1's program) "exec {t-1}" and "user {t-1}"."""
    last = solved_at if solved_at is not None else turns - 1
    return [
        _line(task, setting, t, f"t{t} = {t}", t == solved_at, f"exec {t - 1}", f"user {t - 1}")
        for t in range(last + 1)
    ]


def _run_folder(root: Path, *conversations: Sequence[dict[str, Any]], files: int = 2) -> Path:
    """A ConvCodeWorld run folder; the lines spread over several files, as xdist workers write them."""
    folder = root / "ref-run"
    (folder / "conversations").mkdir(parents=True)
    lines = [line for conversation in conversations for line in conversation]
    for index in range(files):
        text = "".join(json.dumps(line) + "\n" for line in lines[index::files])
        (folder / "conversations" / f"convcodeworld-gw{index}.jsonl").write_text(text)
    return folder


def _official_row(tasks: Sequence[str], columns: Sequence[str] = tuple(SETTINGS.values())) -> dict[str, Any]:
    """One row of the official format, ITER=i's code "c{i - 1}" per task."""
    return {
        column: {
            f"ITER={i}": [
                {
                    "task_id": task,
                    "previous_code": f"{task}:{column}:c{i - 1}",
                    "compilation_feedback": "",
                    "execution_feedback": f"exec {i - 1}",
                    "verbal_feedback": f"verbal {i - 1}",
                    "label": "False",
                }
                for task in tasks
            ]
            for i in range(1, 11)
        }
        for column in columns
    }


def _parquet(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(list(rows)).to_parquet(str(path))
    return path


def _error(spec: str | Path, tasks: Sequence[str] = ("T/1",), settings: Sequence[str] = (FULL,)) -> str:
    with pytest.raises(UsageError) as caught:
        load_reference_log(str(spec), tasks, settings)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_settings_map_the_five_with_a_simulated_user_to_the_official_columns() -> None:
    assert SETTINGS == {
        "cf-ef_partial-novice": "CF_EF_UNIT_SNF",
        "cf-ef_full-novice": "CF_EF_FULL_SNF",
        "cf-expert": "CF_SEF",
        "cf-ef_partial-expert": "CF_EF_UNIT_SEF",
        "cf-ef_full-expert": "CF_EF_FULL_SEF",
    }


def test_conversation_missing_from_a_log_is_a_usage_error_naming_it() -> None:
    log = ReferenceLog(source="somewhere", model="", turns={})
    with pytest.raises(UsageError, match=r"somewhere: no conversation of T/9 in setting cf-expert"):
        log.conversation("T/9", "cf-expert")


def test_run_folder_turn_j_takes_the_feedback_logged_at_turn_j_plus_1(tmp_path: Path) -> None:
    folder = _run_folder(tmp_path, _conversation("T/1", FULL, solved_at=None))
    log = load_reference_log(str(folder), ["T/1"], [FULL])
    assert log.model == "ref-model"
    assert log.source == str(folder)
    assert log.conversation("T/1", FULL) == tuple(
        ReferenceTurn(code=f"t{j} = {j}", passed=False, execution=f"exec {j}", verbal=f"user {j}") for j in range(10)
    )


def test_run_folder_a_solved_conversation_repeats_its_passing_turn(tmp_path: Path) -> None:
    folder = _run_folder(tmp_path, _conversation("T/1", FULL, solved_at=2), _conversation("T/2", FULL, solved_at=0))
    log = load_reference_log(str(folder), ["T/1", "T/2"], [FULL])
    solved = ReferenceTurn(code="t2 = 2", passed=True, execution="", verbal="")
    assert log.conversation("T/1", FULL) == (
        ReferenceTurn(code="t0 = 0", passed=False, execution="exec 0", verbal="user 0"),
        ReferenceTurn(code="t1 = 1", passed=False, execution="exec 1", verbal="user 1"),
        *[solved] * 8,
    )
    assert log.conversation("T/2", FULL) == (ReferenceTurn(code="t0 = 0", passed=True, execution="", verbal=""),) * 10


def test_run_folder_reads_only_the_tasks_and_settings_asked_for(tmp_path: Path) -> None:
    folder = _run_folder(
        tmp_path,
        _conversation("T/1", FULL, solved_at=1),
        _conversation("T/1", NOVICE, solved_at=3),
        _conversation("T/2", FULL, solved_at=None, turns=2),  # incomplete, but not asked for
    )
    log = load_reference_log(str(folder), ["T/1"], [FULL, NOVICE])
    assert set(log.turns) == {("T/1", FULL), ("T/1", NOVICE)}
    assert log.conversation("T/1", NOVICE)[3].passed is True


def test_run_folder_of_a_resumed_run_reads_the_attempt_that_got_furthest(tmp_path: Path) -> None:
    """A resumed run logs its conversations again from turn 0, in whichever worker's file."""
    killed = _conversation("T/1", FULL, solved_at=None)[:3]
    for line in killed:
        line["program"] = "killed"
    resumed = _conversation("T/1", FULL, solved_at=4)
    folder = _run_folder(tmp_path, killed, resumed, files=1)
    # T/2: its whole conversation, then a resumed attempt killed at turn 1, in the same file
    killed_again = [{**line, "task_id": "T/2"} for line in killed[:2]]
    (folder / "conversations" / "convcodeworld-gw1.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in [*_conversation("T/2", FULL, solved_at=2), *killed_again])
    )
    log = read_run_folder(folder, ["T/1", "T/2"], [FULL])
    assert [turn.code for turn in log.conversation("T/1", FULL)] == [f"t{j} = {j}" for j in range(5)] + ["t4 = 4"] * 5
    assert [turn.code for turn in log.conversation("T/2", FULL)] == [f"t{j} = {j}" for j in range(3)] + ["t2 = 2"] * 7


@pytest.mark.parametrize(
    ("conversations", "expected"),
    [
        ([_conversation("T/1", NOVICE, solved_at=1)], r"T/1 in setting cf-ef_full-expert has no turn 0"),
        ([_conversation("T/2", FULL, solved_at=1)], r"T/1 in setting cf-ef_full-expert has no turn 0"),
        ([_conversation("T/1", FULL, solved_at=None)[:4]], r"T/1 in setting cf-ef_full-expert has no turn 4"),
        # turn 9 unsolved needs turn 10's line: the feedback on turn 9's code, which the target's turn 10 reads
        (
            [_conversation("T/1", FULL, solved_at=None)[:10]],
            r"has no turn 10; use a ConvCodeWorld run with --max-turns 10",
        ),
        ([[line for line in _conversation("T/1", FULL, solved_at=5) if line["turn"] != 2]], r"has no turn 2"),
    ],
)
def test_run_folder_missing_a_task_setting_or_turn_is_a_usage_error_naming_it(
    tmp_path: Path, conversations: list[list[dict[str, Any]]], expected: str
) -> None:
    folder = _run_folder(tmp_path, *conversations)
    assert re.search(rf"^reference log {re.escape(str(folder))}: .*{expected}", _error(folder))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", r"ref-run/conversations/convcodeworld-gw0.jsonl:2: .*not a conversation log line"),
        ('["a list"]', r"gw0.jsonl:2: a line must be a JSON object"),
        ('{"task_id": "T/1", "setting": "cf-expert", "turn": "1"}', r"gw0.jsonl:2: field 'turn' missing or not a int"),
        (
            '{"task_id": "T/1", "setting": "cf-expert", "turn": 1, "program": "", "passed": false}',
            r"gw0.jsonl:2: turn 1 has no feedback object",
        ),
    ],
)
def test_run_folder_a_malformed_line_is_a_usage_error_naming_file_and_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    folder = _run_folder(tmp_path, _conversation("T/1", FULL, solved_at=0), files=1)
    with (folder / "conversations" / "convcodeworld-gw0.jsonl").open("a") as log:
        log.write("\n" + text + "\n")  # a blank line is skipped; the bad one is line 3 of the file, counted
    assert re.search(expected.replace(":2:", ":3:"), _error(folder))


def test_a_folder_without_conversations_is_a_usage_error(tmp_path: Path) -> None:
    assert re.search(r"no conversations/\*\.jsonl; give the folder of a ConvCodeWorld run", _error(tmp_path))


def test_a_setting_without_a_simulated_user_has_no_reference(tmp_path: Path) -> None:
    message = _error(tmp_path, settings=["cf-ef_full"])
    assert "no reference for setting cf-ef_full; use one of cf-ef_partial-novice" in message


def test_official_file_iter_i_is_the_reference_turn_i_minus_1_and_its_label_is_not_trusted(tmp_path: Path) -> None:
    path = _parquet(tmp_path / "convcodebench.parquet", [_official_row(["T/1", "T/2"])])
    log = load_reference_log(str(path), ["T/2"], [FULL, "cf-expert"])
    assert (log.source, log.model) == (str(path), "")
    assert set(log.turns) == {("T/2", FULL), ("T/2", "cf-expert")}
    assert log.conversation("T/2", "cf-expert") == tuple(
        ReferenceTurn(code=f"T/2:CF_SEF:c{j}", passed=None, execution=f"exec {j}", verbal=f"verbal {j}")
        for j in range(10)
    )


def test_official_layout_on_the_hub_is_read_by_name(tmp_path: Path) -> None:
    """ "hf:NAME" goes to datasets.load_dataset(NAME), which takes a local folder in the hub's layout."""
    hub = tmp_path / "convcodebench"
    _parquet(hub / "data" / "train-00000-of-00001.parquet", [_official_row(["T/1"])])
    log = load_reference_log(f"hf:{hub}", ["T/1"], [NOVICE])
    assert log.source == f"hf:{hub}"
    assert log.conversation("T/1", NOVICE)[9].code == "T/1:CF_EF_UNIT_SNF:c9"


def test_official_name_on_the_hub_while_offline_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    message = _error("hf:ConvCodeWorld/convcodebench")
    assert message.startswith("reference log hf:ConvCodeWorld/convcodebench: could not be read (")
    assert "ConvCodeWorld/convcodebench" in message.split("(", 1)[1]


def _without(
    row: dict[str, Any], column: str, iteration: str | None = None, field: str | None = None
) -> dict[str, Any]:
    if iteration is None:
        return {name: value for name, value in row.items() if name != column}
    if field is None:
        row[column] = {name: value for name, value in row[column].items() if name != iteration}
        return row
    del row[column][iteration][0][field]
    return row


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([_without(_official_row(["T/1"]), "CF_EF_FULL_SEF")], r"no column CF_EF_FULL_SEF; expected one row"),
        ([_without(_official_row(["T/1"]), "CF_EF_FULL_SEF", "ITER=7")], r"CF_EF_FULL_SEF has no ITER=7; expected"),
        (
            [_without(_official_row(["T/1"]), "CF_EF_FULL_SEF", "ITER=3", "verbal_feedback")],
            r"CF_EF_FULL_SEF ITER=3 has an entry without the string field verbal_feedback",
        ),
        ([_official_row(["T/2"])], r"CF_EF_FULL_SEF ITER=1 has no T/1; use a reference log that covers every task"),
        ([_official_row(["T/1"])] * 2, r": 2 rows, not 1; expected one row"),
        ([{"something": "else"}], r"no column CF_EF_FULL_SEF"),
    ],
)
def test_official_file_missing_a_column_iter_field_or_task_is_a_usage_error_naming_it(
    tmp_path: Path, rows: list[dict[str, Any]], expected: str
) -> None:
    assert re.search(expected, _error(_parquet(tmp_path / "log.parquet", rows)))


def test_official_file_that_is_not_parquet_or_not_there_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "log.parquet").write_text("not parquet")
    assert "log.parquet: could not be read (" in _error(tmp_path / "log.parquet")
    assert "nowhere.parquet: no such file or folder; give a ConvCodeWorld run folder" in _error(
        tmp_path / "nowhere.parquet"
    )


def test_export_then_read_back_gives_the_run_folders_turns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _run_folder(
        tmp_path,
        _conversation("T/1", FULL, solved_at=None),
        _conversation("T/2", FULL, solved_at=3),
        _conversation("T/1", "cf-expert", solved_at=0),
        _conversation("T/2", "cf-expert", solved_at=10),
        _conversation("T/1", "cf-ef_full", solved_at=None),  # no simulated user: not exported
    )
    out = tmp_path / "out" / "ccb.parquet"
    assert export_main([str(folder), str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}: 2 tasks x 2 settings (cf-ef_full-expert, cf-expert) of ref-model\n"

    tasks, settings = ["T/1", "T/2"], [FULL, "cf-expert"]
    ours = read_run_folder(folder, tasks, settings)
    back = load_reference_log(str(out), tasks, settings)
    assert back.turns == {
        key: tuple(ReferenceTurn(t.code, None, t.execution, t.verbal) for t in turns)
        for key, turns in ours.turns.items()
    }
    row = datasets.load_dataset("parquet", data_files=str(out), split="train")[0]
    assert set(row) == {"CF_EF_FULL_SEF", "CF_SEF"}
    first = row["CF_EF_FULL_SEF"]["ITER=4"][1]  # T/2's turn 3, its passing one
    assert tuple(first) == FIELDS
    assert first == {
        "task_id": "T/2",
        "previous_code": "t3 = 3",
        "compilation_feedback": "The code compiles: Python found no syntax errors.",
        "execution_feedback": "",
        "verbal_feedback": "",
        "label": "True",
    }
    assert row["CF_SEF"]["ITER=1"][1]["label"] == "False"


def test_export_of_code_that_does_not_compile_logs_compiles_words(tmp_path: Path) -> None:
    conversation = _conversation("T/1", FULL, solved_at=1)
    conversation[0]["program"] = "def f(:\n    pass\n"
    out = tmp_path / "ccb.parquet"
    assert export_main([str(_run_folder(tmp_path, conversation)), str(out)]) == 0
    entry = datasets.load_dataset("parquet", data_files=str(out), split="train")[0]["CF_EF_FULL_SEF"]["ITER=1"][0]
    assert entry["compilation_feedback"].startswith("SyntaxError at line 1 of solution.py")


def test_export_of_a_bad_run_folder_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export_main([str(tmp_path / "missing"), str(tmp_path / "out.parquet")]) == 2
    assert capsys.readouterr().err == (
        f"error: reference log {tmp_path / 'missing'}: no conversations/*.jsonl; give the folder of a ConvCodeWorld "
        "run (reports/<run-id>) or an official-format parquet file\n"
    )
    folder = _run_folder(tmp_path, _conversation("T/1", "cf-ef_full", solved_at=0))
    assert export_main([str(folder), str(tmp_path / "out.parquet")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {folder}: no conversation in the settings cf-ef_partial-novice")
    assert not (tmp_path / "out.parquet").exists()


def test_export_to_a_path_that_cannot_be_written_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _run_folder(tmp_path, _conversation("T/1", FULL, solved_at=0))
    assert export_main([str(folder), str(tmp_path)]) == 2  # a folder
    expected = f"error: {tmp_path}: could not be written (Is a directory); give a file path you can write\n"
    assert capsys.readouterr().err == expected


def test_without_the_datasets_library_the_official_format_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets raises ImportError
    path = tmp_path / "log.parquet"
    path.write_bytes(b"")
    assert _error(path) == (
        "the official ConvCodeBench format needs the datasets library: pip install 'pytest-convcode[convcodebench]'"
    )
