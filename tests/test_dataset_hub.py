"""BigCodeBench's other data versions through ``datasets`` (``--dataset hf:NAME@VERSION``): a
local folder in the hub's layout (splits named as BigCodeBench names its versions) read by the
same code as a hub name, the errors for a malformed spec and for a version neither cached nor
reachable, and a pytest run of suites/bigcodebench on such a folder."""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path
from typing import Any

import datasets
import pytest

from pytest_convcode.datasets import DATA_DIR, DataSource, entry
from pytest_convcode.datasets.bigcodebench import load_hub
from pytest_convcode.datasets.hub import HubSpec, parse_spec
from pytest_convcode.datasets.options import DataOptions
from pytest_convcode.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("BigCodeBench/16", "BigCodeBench/24")  # standard library only, and quick to test


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_dataset copies each file it reads into its cache: the tests' go to their own folder
    (the environment variable for pytester's subprocesses)."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def _bundled(task_ids: tuple[str, ...]) -> list[dict[str, Any]]:
    with gzip.open(DATA_DIR / "BigCodeBench-v0.1.0_hf.jsonl.gz", "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    return [r for r in records if r["task_id"] in task_ids]


def _hub_folder(root: Path, splits: dict[str, list[dict[str, Any]]]) -> Path:
    """A data set folder laid out as bigcode/bigcodebench is on the hub: one parquet file per split."""
    for split, rows in splits.items():
        datasets.Dataset.from_list(rows).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def test_a_version_is_a_split_as_bigcodebench_names_them(tmp_path: Path) -> None:
    rows = _bundled(TASKS)
    newer = [dict(rows[0], canonical_solution=rows[0]["canonical_solution"] + "\n# fixed\n")]
    folder = _hub_folder(tmp_path / "bigcodebench", {"v0.1.0_hf": rows, "v0.1.4": newer})
    dataset = entry("bigcodebench").load(DataSource(hub=f"hf:{folder}@v0.1.4"))
    assert (dataset.name, dataset.version, dataset.source) == ("BigCodeBench", "0.1.4", f"hf:{folder}@v0.1.4")
    assert list(dataset.tasks) == ["BigCodeBench/16"]
    assert dataset.tasks["BigCodeBench/16"].canonical_solution.endswith("# fixed\n")
    older = load_hub(f"hf:{folder}@v0.1.0_hf")
    assert (older.version, sorted(older.tasks)) == ("0.1.0_hf", list(TASKS))
    assert len(older.digest) == 64 and older.digest != dataset.digest
    assert load_hub(f"hf:{folder}@v0.1.0_hf").digest == older.digest  # the same rows, the same digest


def test_the_spec_names_the_split_and_the_revision_apart() -> None:
    assert parse_spec("hf:bigcode/bigcodebench@v0.1.4") == HubSpec(
        "hf:bigcode/bigcodebench@v0.1.4", "bigcode/bigcodebench", "v0.1.4", None
    )
    pinned = parse_spec("hf:bigcode/bigcodebench@abc123:v0.1.4")
    assert (pinned.name, pinned.split, pinned.revision, pinned.version) == (
        "bigcode/bigcodebench", "v0.1.4", "abc123", "0.1.4@abc123"
    )  # fmt: skip


@pytest.mark.parametrize(
    "spec",
    ["hf:", "hf:@v0.1.4", "hf:bigcode/bigcodebench", "hf:bigcode/bigcodebench@", "hf:bigcode/bigcodebench@main:",
     "bigcode/bigcodebench@v0.1.4"],
)  # fmt: skip
def test_a_malformed_spec_is_one_line_saying_the_form(spec: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_spec(spec)
    assert str(caught.value) == (
        f"--dataset {spec!r}: expected hf:NAME@VERSION or hf:NAME@REVISION:SPLIT (e.g. hf:bigcode/bigcodebench@v0.1.4)"
    )


def test_dataset_with_a_bundled_version_or_file_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^--dataset hf:a/b@v1 names the data itself: leave out --dataset-version$"):
        DataOptions(dataset_version="0.1.0_hf", dataset="hf:a/b@v1")


def test_offline_and_not_cached_names_what_is_missing_and_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(UsageError) as caught:
        load_hub("hf:bigcode/bigcodebench@v0.1.4")
    message = str(caught.value)
    assert message.startswith(
        "--dataset hf:bigcode/bigcodebench@v0.1.4: split v0.1.4 of bigcode/bigcodebench is not in the local "
        "datasets cache and the hub is off (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE): run once online to cache it"
    )
    assert "\n" not in message


def test_a_version_the_data_set_does_not_have_is_a_usage_error(tmp_path: Path) -> None:
    folder = _hub_folder(tmp_path / "bigcodebench", {"v0.1.0_hf": _bundled(TASKS)})
    with pytest.raises(UsageError, match=rf"^--dataset hf:{re.escape(str(folder))}@v9: could not be read \(.*v9"):
        load_hub(f"hf:{folder}@v9")


def test_a_record_without_a_field_names_its_row(tmp_path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k != "test"} for row in _bundled(TASKS)]
    folder = _hub_folder(tmp_path / "bigcodebench", {"v0.1.4": rows})
    with pytest.raises(UsageError, match=rf"^hf:{re.escape(str(folder))}@v0\.1\.4 row 0: field 'test' is missing$"):
        load_hub(f"hf:{folder}@v0.1.4")


def test_suite_runs_the_reference_on_a_hub_version_offline(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _hub_folder(tmp_path / "bigcodebench", {"v0.1.4": _bundled(TASKS)})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    pytester.makepyfile(test_bigcodebench=(ROOT / "suites/bigcodebench/test_bigcodebench.py").read_text())
    spec = f"hf:{folder}@v0.1.4"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", "h", "--model", "reference", f"--dataset={spec}"
    )
    result.assert_outcomes(passed=2)
    folder_out = pytester.path / "reports" / "h"
    records = [json.loads(line) for line in (folder_out / "results.jsonl").read_text().splitlines()]
    assert {r["dataset"] for r in records} == {"BigCodeBench 0.1.4"}
    summary = json.loads((folder_out / "summary.json").read_text())
    suites = summary["suites"]["bigcodebench"]
    assert (suites["dataset"], suites["version"], suites["source"]) == ("BigCodeBench", "0.1.4", spec)
    assert suites["sha256"] == load_hub(spec).digest
    assert summary["settings"]["dataset"] == spec


def test_without_datasets_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets raises ImportError
    with pytest.raises(UsageError) as caught:
        load_hub("hf:bigcode/bigcodebench@v0.1.4")
    assert str(caught.value) == "--dataset hf:... needs the datasets library: pip install 'pytest-convcode[hub]'"
