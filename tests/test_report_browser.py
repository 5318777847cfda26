"""The HTML report in a real browser: pages made from real plugin runs (pytester subprocesses),
opened in headless Chromium through selenium. They must draw their charts, filter and search the
problems table, and open a problem's turns, without a console error.

Needs Debian's chromium and chromium-driver (/usr/bin, or CONVCODE_CHROMIUM / CONVCODE_CHROMEDRIVER)
and selenium; skipped without them, unless CONVCODE_REQUIRE_BROWSER=1 (CI), which makes it a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode import datasets
from pytest_convcode.report import write_html
from pytest_convcode.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CONVCODE_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CONVCODE_CHROMEDRIVER", "/usr/bin/chromedriver"))
HOSTILE = "</script><script>document.title = 'pwned'</script>"
BLUE = (0x00, 0x72, 0xB2)  # the charts' first colour


def missing_browser() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[dev]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One headless Chromium for the module's tests."""
    missing = missing_browser()
    if missing is not None:
        if os.environ.get("CONVCODE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CONVCODE_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield browser
    browser.quit()


# ---------------------------------------------------------------- driving the page


def open_page(driver: Any, page: Path) -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(page.as_uri())
    wait(driver, lambda d: d.execute_script("return document.documentElement.dataset.readyMs"))


def wait(driver: Any, condition: Any, timeout: float = 10) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def by_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def visible_ids(driver: Any) -> list[str]:
    ids: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('#problems tr.problem')].map(r => r.dataset.id)"
    )
    return ids


def search(driver: Any, text: str) -> None:
    """Type into the search box as a person would (selenium's clear() sends no input event)."""
    from selenium.webdriver.common.keys import Keys

    (box,) = by_css(driver, "#search")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    if text:
        box.send_keys(text)


def choose(driver: Any, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    (element,) = by_css(driver, f"#{select_id}")
    Select(element).select_by_value(value)


def open_problem(driver: Any, row_id: str) -> Any:
    """Click the row and wait for its turns; returns the detail pane (a drawer over the table,
    closed first if open, as a person would)."""
    (close,) = by_css(driver, "#detail-close")
    if close.is_displayed():
        close.click()
    (row,) = [r for r in by_css(driver, "#problems tr.problem") if r.get_attribute("data-id") == row_id]
    row.click()
    loaded = (
        "const e = document.getElementById('detail'); return e.dataset.loaded === '1' && e.dataset.id === arguments[0];"
    )
    wait(driver, lambda d: d.execute_script(loaded, row_id))
    (detail,) = by_css(driver, "#detail")
    return detail


def pixels(png: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit, non-interlaced RGB(A) PNG: chunks, inflate, then un-filter rows."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat = 8, b""
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        body = png[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert depth == 8 and colour in (2, 6) and interlace == 0, "a screenshot is 8-bit RGB or RGBA"
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    previous = bytearray(stride)
    result: list[tuple[int, int, int]] = []
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                near = min(
                    (abs(estimate - left), 0, left), (abs(estimate - up), 1, up), (abs(estimate - corner), 2, corner)
                )
                line[i] = (line[i] + near[2]) & 0xFF
        result += [(line[x], line[x + 1], line[x + 2]) for x in range(0, stride, channels)]
        previous = line
    return result


def assert_drawn(element: Any) -> None:
    """The element's screenshot is not blank: a good share of it is inked, some of it in the charts' blue."""
    image = pixels(element.screenshot_as_png)
    inked = [p for p in image if sum(p) < 3 * 235]
    assert len(inked) > 0.02 * len(image), f"only {len(inked)} of {len(image)} pixels are not white"
    assert any(all(abs(a - b) <= 12 for a, b in zip(p, BLUE, strict=True)) for p in inked), (
        "no mark in the charts' blue"
    )


# ---------------------------------------------------------------- a single-turn run, compared with a baseline

HUMANEVAL = datasets.load("humaneval")
TASKS = ["HumanEval/0", "HumanEval/1", "HumanEval/2", "HumanEval/10", "HumanEval/11"]


def answer(task_id: str, right: bool) -> dict[str, str]:
    task = HUMANEVAL.tasks[task_id]
    if right:
        return {"task_id": task_id, "completion": task.canonical_solution}
    returned = HOSTILE if task_id == "HumanEval/11" else "wrong"
    return {"task_id": task_id, "solution": f"def {task.entry_point}(*args):\n    return {returned!r}\n"}


def humaneval_run(pytester: pytest.Pytester, name: str, wrong: set[str], *args: str) -> Path:
    """A run of the humaneval suite replaying these answers; its folder under --reports-dir."""
    samples = pytester.path / f"{name}.jsonl"
    samples.write_text("".join(json.dumps(answer(t, t not in wrong)) + "\n" for t in TASKS))
    reports = pytester.path / name
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--model", f"replay:{samples}", "--tasks", ",".join(TASKS),
        "--reports-dir", str(reports), *args,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    (folder,) = reports.iterdir()
    return folder


def test_a_compared_single_turn_run(pytester: pytest.Pytester, driver: Any) -> None:
    pytester.makepyfile(test_humaneval=(ROOT / "suites/humaneval/test_humaneval.py").read_text())
    before = humaneval_run(pytester, "before", {"HumanEval/10", "HumanEval/11"})
    after = humaneval_run(pytester, "after", {"HumanEval/1", "HumanEval/11"}, "--compare", str(before))
    comparison = json.loads((after / "summary.json").read_text())["comparison"]
    assert (comparison["now_passing"], comparison["now_failing"]) == (
        ["humaneval/HumanEval/10"],
        ["humaneval/HumanEval/1"],
    )
    page = write_html(after, pytester.path / "report.html")
    open_page(driver, page)

    bars = driver.execute_script(
        "return [...document.querySelectorAll('#plots svg rect.bar')].map(r => {"
        " const b = r.getBoundingClientRect(); return [r.getAttribute('class'), b.width, b.height]; });"
    )
    assert sorted(c for c, _, _ in bars) == ["bar", "bar", "bar baseline", "bar baseline"]  # humaneval, humaneval+
    assert all(width > 10 and height > 10 for _, width, height in bars)
    assert_drawn(by_css(driver, "#plots figure")[0])

    every = [f"humaneval/{t}" for t in TASKS]
    assert visible_ids(driver) == every
    assert driver.execute_script("return [...document.querySelectorAll('tr.problem')].map(r => r.dataset.status)") == [
        "passed", "failed", "passed", "passed", "failed",
    ]  # fmt: skip
    search(driver, "humaneval/1")
    assert visible_ids(driver) == ["humaneval/HumanEval/1", "humaneval/HumanEval/10", "humaneval/HumanEval/11"]
    choose(driver, "filter-status", "failed")
    assert visible_ids(driver) == ["humaneval/HumanEval/1", "humaneval/HumanEval/11"]
    search(driver, "")
    choose(driver, "filter-status", "passed")
    assert visible_ids(driver) == ["humaneval/HumanEval/0", "humaneval/HumanEval/2", "humaneval/HumanEval/10"]
    choose(driver, "filter-status", "")
    choose(driver, "filter-flip", "any")
    assert visible_ids(driver) == ["humaneval/HumanEval/1", "humaneval/HumanEval/10"]
    choose(driver, "filter-flip", "now failing")
    assert visible_ids(driver) == ["humaneval/HumanEval/1"]
    choose(driver, "filter-flip", "")
    assert visible_ids(driver) == every

    detail = open_problem(driver, "humaneval/HumanEval/11")
    (turn,) = by_css(detail, ".turn")
    (code,) = by_css(turn, "pre.code")
    assert HOSTILE in code.get_attribute("textContent"), "the model's program is shown as text"
    assert driver.title != "pwned" and not driver.execute_script(
        "return document.querySelectorAll('#detail script').length"
    )
    assert "failed" in turn.get_attribute("class")
    assert by_css(turn, "pre.failure") and by_css(turn, ".statuses")
    assert console_errors(driver) == []


# ---------------------------------------------------------------- a conversation run

BIGCODEBENCH = datasets.load_unit("bigcodebench")
CONVERSATION_TASKS = ["BigCodeBench/16", "BigCodeBench/24"]
WRONG = "```python\ndef task_func(*args, **kwargs):\n    return None\n```"
ADVICE = "The attempt returns nothing; do what the task says."


def plays(body: dict[str, Any], index: int) -> str:
    """The coding model (wrong until the feedback shows a failure or the expert's advice) and the
    expert, who leaks the longest line of the reference's code (tests/test_conversations.py plays the same)."""
    messages = [m for m in body["messages"] if m["role"] != "system"]
    reference = re.search(r"<reference>\n(.*?)\n</reference>", messages[0]["content"], re.S)
    if reference is not None:
        longest = max(reference.group(1).rsplit('"""', 1)[-1].splitlines(), key=len).strip()
        return f"{ADVICE} Like this: {longest}\n```python\nprint('cut')\n```"
    task = next(t for t in BIGCODEBENCH.tasks.values() if t.instruct_prompt == messages[0]["content"])
    told = messages[-1]["content"] if len(messages) > 1 else ""
    if "FAILED" in told or ADVICE in told:
        return f"Fixed.\n```python\n{task.reference_program}\n```"
    return WRONG


def test_a_conversation_run(pytester: pytest.Pytester, driver: Any) -> None:
    with OpenAIServer(plays) as server:
        pytester.makepyfile(test_convcodeworld=(ROOT / "suites/convcodeworld/test_convcodeworld.py").read_text())
        pytester.makepyprojecttoml(f'[tool.convcode.models.sim]\nmodel = "simulator"\nbase_url = "{server.url}"\n')
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--run-id", "conv", "--model", "test/coder", "--base-url", server.url,
            "--tasks", ",".join(CONVERSATION_TASKS), "--max-turns", "2", "--feedback", "cf,cf-ef_full,cf-expert",
            "--user-model", "sim",
        )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    page = write_html(pytester.path / "reports" / "conv", pytester.path / "conv.html")
    open_page(driver, page)

    points = driver.execute_script("return document.querySelectorAll('#plots svg .point').length")
    segments = driver.execute_script("return document.querySelectorAll('#plots svg rect.hist').length")
    assert (points, segments) == (3 * 3, 2)  # 3 settings x turns 0-2; solved at turn 1 by two settings
    assert_drawn(by_css(driver, "#plots figure")[0])

    ids = [f"bigcodebench/{t} {s}" for t in CONVERSATION_TASKS for s in ("cf", "cf-ef_full", "cf-expert")]
    assert visible_ids(driver) == ids
    labels = [r.text.split("\n")[0] for r in by_css(driver, "tr.problem td:nth-child(4)")]
    assert labels == ["unsolved", "solved at turn 1", "solved at turn 1"] * 2
    choose(driver, "filter-status", "failed")
    assert visible_ids(driver) == [f"bigcodebench/{t} cf" for t in CONVERSATION_TASKS]
    choose(driver, "filter-status", "")
    choose(driver, "filter-setting", "cf-expert")
    search(driver, "/24")
    assert visible_ids(driver) == ["bigcodebench/BigCodeBench/24 cf-expert"]
    choose(driver, "filter-setting", "")
    search(driver, "")

    reference = BIGCODEBENCH.tasks["BigCodeBench/16"].reference_program
    detail = open_problem(driver, "bigcodebench/BigCodeBench/16 cf-ef_full")
    first, second = by_css(detail, ".turn")
    assert "return None" in by_css(first, "pre.code")[0].get_attribute("textContent")
    assert reference.strip().splitlines()[-1].strip() in by_css(second, "pre.code")[0].get_attribute("textContent")
    (diff,) = by_css(second, "pre.diff")
    assert by_css(diff, "span.add") and by_css(diff, "span.del")
    assert "-    return None" in diff.text and "+++ turn 1" in diff.text
    assert "FAILED" in by_css(second, "pre.fb-execution")[0].get_attribute("textContent")

    detail = open_problem(driver, "bigcodebench/BigCodeBench/16 cf-expert")
    second = by_css(detail, ".turn")[1]
    assert by_css(second, ".leak"), "leaked user feedback is flagged"
    assert ADVICE in by_css(second, "pre.fb-user")[0].get_attribute("textContent")
    assert console_errors(driver) == []


# ---------------------------------------------------------------- a killed run, larger than a page


def test_a_killed_run_of_many_problems_pages_and_searches_them_all(tmp_path: Path, driver: Any) -> None:
    run_dir = tmp_path / "killed"
    run_dir.mkdir()
    records = [
        {"run_id": "killed", "suite": "humaneval", "dataset": "HumanEval+ 0.1.10", "task_id": f"HumanEval/{i}",
         "model": "m", "outcome": "failed" if i % 7 == 0 else "passed", "sample": 0, "program": f"x = {i}\n"}
        for i in range(250)
    ]  # fmt: skip
    (run_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    open_page(driver, write_html(run_dir, run_dir / "report.html"))
    assert by_css(driver, "#unfinished")[0].is_displayed()
    assert len(visible_ids(driver)) == 100
    by_css(driver, "#next")[0].click()
    by_css(driver, "#next")[0].click()
    assert visible_ids(driver) == [f"humaneval/HumanEval/{i}" for i in range(200, 250)]
    assert by_css(driver, "#next")[0].get_attribute("disabled") is not None
    search(driver, "HumanEval/24")
    assert visible_ids(driver) == ["humaneval/HumanEval/24"] + [f"humaneval/HumanEval/{i}" for i in range(240, 250)]
    choose(driver, "filter-status", "failed")
    assert visible_ids(driver) == ["humaneval/HumanEval/245"]
    assert by_css(driver, "#count")[0].text == "1 of 250 problems"
    detail = open_problem(driver, "humaneval/HumanEval/245")
    assert by_css(detail, "pre.code")[0].get_attribute("textContent") == "x = 245\n"
    assert console_errors(driver) == []
