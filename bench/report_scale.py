"""The HTML report at ConvCodeWorld's full size: 1140 tasks x 9 feedback settings x 11 turns.

Writes a synthetic run folder (results.jsonl, summary.json, conversations/*.jsonl, with programs of
~1-2 KB that change a little each turn, execution tracebacks and simulated-user feedback),
renders it with ``write_html``, then opens the page in headless Chromium and measures how long
until the problems table has its rows, and how long one conversation takes to open.

    .venv/bin/python bench/report_scale.py                 # realistic: most conversations end early
    .venv/bin/python bench/report_scale.py --unsolved      # worst case: every conversation runs 11 turns
    .venv/bin/python bench/report_scale.py --tasks 100 --keep /tmp/scale   # smaller, keep the files

Chromium and chromedriver from Debian (/usr/bin/chromium, /usr/bin/chromedriver); selenium in .venv.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_convcode.conversation_metrics import summarize_conversations
from pytest_convcode.feedback.settings import ALL_SETTINGS
from pytest_convcode.report import load_run, render_html

MODULES = ["os", "re", "json", "math", "random", "itertools", "collections", "pandas as pd", "numpy as np", "datetime"]
WORDS = [
    "data", "result", "values", "items", "count", "total", "frame", "rows", "record", "index", "keys", "mapping",
    "path", "name", "text", "pattern", "matches", "numbers", "scores", "limit", "offset", "buffer", "window", "series",
    "column", "group", "labels", "weights", "output",
]  # fmt: skip
STATEMENTS = [
    "    {a} = {b}.get({w!r}, {n})",
    "    for {a} in {b}:",
    "        {a}.append({b} * {n})",
    "    if {a} > {n}:",
    "        raise ValueError('{w} must be at most {n}, got ' + str({a}))",
    "    {a} = [{c} for {c} in {b} if {c} is not None]",
    "    {a} = sorted({b}, key=lambda item: item[{m}], reverse=True)",
    "    {a} = {{k: v for k, v in {b}.items() if v >= {n}}}",
    "    {a} = sum({b}) / max(len({b}), 1)",
    "    {a} = pd.DataFrame({b}, columns=[{w!r}, {x!r}])",
    "    {a} = np.array({b}, dtype=float).reshape(-1, {m})",
    "    {a} = re.findall(r'{w}_(\\d+)', {b})",
    "    {a} = os.path.join({b}, {w!r} + '.json')",
    "    # {w} the {x} before returning",
    "    return {a}",
]
EXECUTION = (
    "======================================================================\n"
    "FAIL: {test} (__main__.TestCases)\n"
    "----------------------------------------------------------------------\n"
    "Traceback (most recent call last):\n"
    '  File "__test__.py", line {line}, in {test}\n'
    "    self.assertEqual(result, {expected})\n"
    "AssertionError: {got} != {expected}\n"
)


def _statement(rng: random.Random) -> str:
    a, b, c, w, x = rng.sample(WORDS, 5)
    return rng.choice(STATEMENTS).format(a=a, b=b, c=c, w=w, x=x, n=rng.randint(0, 999), m=rng.randint(1, 9))


def program(rng: random.Random, task: int) -> str:
    """A task_func of ~1-2 KB: imports, a docstring, 16-30 statements."""
    head = [f"import {m}" for m in rng.sample(MODULES, 3)] + ["", f"def task_func({', '.join(rng.sample(WORDS, 3))}):"]
    doc = ['    """'] + [f"    {' '.join(rng.choices(WORDS, k=10))}." for _ in range(rng.randint(3, 6))] + ['    """']
    body = [_statement(rng) for _ in range(rng.randint(16, 30))]
    return "\n".join([f"# task {task}", *head, *doc, *body, "    return " + rng.choice(WORDS)])


def revise(rng: random.Random, code: str) -> str:
    """The next turn's program: a few lines changed, one added or dropped."""
    lines = code.splitlines()
    for _ in range(rng.randint(1, 4)):
        lines[rng.randrange(12, len(lines))] = _statement(rng)
    if rng.random() < 0.5:
        lines.insert(rng.randrange(12, len(lines)), _statement(rng))
    elif len(lines) > 20:
        del lines[rng.randrange(12, len(lines))]
    return "\n".join(lines)


def execution_text(rng: random.Random, tests: list[str]) -> str:
    parts = []
    for test in tests:
        expected = {w: rng.randint(0, 99) for w in rng.sample(WORDS, 4)}
        got = {w: rng.randint(0, 99) for w in expected}
        parts.append(EXECUTION.format(test=test, line=rng.randint(20, 200), expected=expected, got=got))
    return (
        "".join(parts)
        + f"\n----------------------------------------------------------------------\nFAILED (failures={len(tests)})"
    )


def user_text(rng: random.Random, expert: bool) -> tuple[str, str]:
    words = " ".join(rng.choices(WORDS, k=60 if expert else 25))
    text = ("The function should " if expert else "I ran it and it did not work: ") + words + "."
    return text, text + "\n```python\n" + "\n".join(_statement(rng) for _ in range(5)) + "\n```"


def write_run(directory: Path, tasks: int, turns: int, unsolved: bool, seed: int = 0) -> int:
    """A synthetic run folder as the plugin writes one; returns the number of turns logged."""
    rng = random.Random(seed)
    directory.mkdir(parents=True)
    (directory / "conversations").mkdir()
    results = open(directory / "results.jsonl", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    logs = [open(directory / "conversations" / f"bigcodebench-gw{i}.jsonl", "w", encoding="utf-8") for i in range(2)]  # noqa: SIM115
    records: list[dict[str, Any]] = []
    logged = 0
    tests = [f"test_case_{i}" for i in range(1, 6)]
    for task in range(tasks):
        task_id = f"BigCodeBench/{task}"
        prompt = f"Task {task}: " + " ".join(rng.choices(WORDS, k=120))
        first = program(rng, task)
        first_passes = not unsolved and rng.random() < 0.3
        for setting in ALL_SETTINGS:
            chance = 0.0 if unsolved else {"none": 0.03, "partial": 0.12, "full": 0.18}[setting.execution]
            chance += 0.0 if unsolved or setting.user == "none" else 0.08 if setting.user == "expert" else 0.02
            code, solved_at, previous_reply = first, 0 if first_passes else None, ""
            failing_before: list[str] = []
            for turn in range(turns):
                ran = solved_at is None or solved_at >= turn
                record: dict[str, Any] = {
                    "run_id": "scale", "suite": "bigcodebench", "dataset": "BigCodeBench 0.1.0_hf",
                    "task_id": task_id, "model": "synthetic", "outcome": "passed", "setting": setting.id,
                    "turn": turn,
                }  # fmt: skip
                if ran:
                    if turn > 0:
                        code = revise(rng, code)
                        if solved_at is None and rng.random() < chance:
                            solved_at = turn
                    passed = solved_at == turn
                    failing = [] if passed else rng.sample(tests, rng.randint(1, 3))
                    feedback: dict[str, Any] | None = None
                    if turn > 0:
                        feedback = {"compilation": "No syntax errors."}
                        if setting.execution != "none":
                            feedback["execution"] = execution_text(rng, failing_before)
                            feedback["tests_shown"] = tests if setting.execution == "full" else tests[:2]
                        if setting.user != "none":
                            text, raw = user_text(rng, setting.user == "expert")
                            leaked = rng.random() < 0.05
                            feedback |= {"user": text, "user_raw": raw, "user_asked": True, "leaked": leaked}
                            feedback["leak_ngrams"] = [code.split()[:8]] if leaked else []
                    reply = f"Here is the fix.\n```python\n{code}\n```"
                    messages = [{"role": "user", "content": prompt}]
                    if turn > 0:
                        messages += [{"role": "assistant", "content": previous_reply}, {"role": "user", "content": "…"}]
                    usage = {"prompt_tokens": 400 + 300 * turn, "completion_tokens": len(code) // 4}
                    entry = {
                        "run_id": "scale", "model": "synthetic", "task_id": task_id, "setting": setting.id,
                        "turn": turn, "messages": messages, "reply": reply, "program": code, "passed": passed,
                        "tests": {t: "failed" if t in failing else "passed" for t in tests}, "run_error": "",
                        "usage": usage, "latency_s": round(rng.uniform(0.5, 9), 3), "cached": False,
                        "feedback": feedback,
                    }  # fmt: skip
                    logs[task % 2].write(json.dumps(entry) + "\n")
                    logged += 1
                    previous_reply, failing_before = reply, failing
                    record |= {"solved_at": solved_at, "usage": usage, "latency_s": entry["latency_s"], "program": code}
                    if not passed:
                        record["outcome"] = "failed"
                        record["failure"] = f"{len(failing)} of {len(tests)} tests failed: {', '.join(failing)}"
                else:
                    record["solved_at"] = solved_at
                records.append(record)
                results.write(json.dumps(record) + "\n")
    results.close()
    for log in logs:
        log.close()
    conversations = summarize_conversations(records)
    summary = {
        "schema_version": 1, "run_id": "scale", "model": "synthetic", "started": "2026-11-22T00:00:00+00:00",
        "finished": "2026-11-22T09:12:00+00:00", "duration_s": 33120.0,
        "suites": {"bigcodebench": {"dataset": "BigCodeBench", "version": "0.1.0_hf", "source": "bundled",
                                    "sha256": "0" * 64}},
        "settings": {"feedback": [s.id for s in ALL_SETTINGS], "max_turns": turns - 1, "context": "latest"},
        "items": {o: sum(r["outcome"] == o for r in records) for o in ("passed", "failed", "error")},
        "scores": {}, "conversations": conversations, "gates": [],
    }  # fmt: skip
    (directory / "summary.json").write_text(json.dumps(summary, indent=2))
    return logged


def measure_browser(page: Path, query: str) -> dict[str, float]:
    """Milliseconds until the table has rows (from navigation start), until the page's load event,
    to filter by a search, and to open one conversation."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1300,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        started = time.perf_counter()
        driver.get(page.as_uri())  # returns after the load event
        wall = 1000 * (time.perf_counter() - started)
        driver.set_script_timeout(60)
        timing = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "(function wait() { const n = performance.getEntriesByType('navigation')[0];"
            " if (!n || !n.loadEventEnd) return setTimeout(wait, 10);"
            " done({rows: Number(document.documentElement.dataset.readyMs),"
            " dom: n.domContentLoadedEventEnd, load: n.loadEventEnd}); })();"
        )
        search = driver.execute_async_script(
            "const done = arguments[arguments.length - 1]; const box = document.getElementById('search');"
            "const t = performance.now(); box.value = arguments[0]; box.dispatchEvent(new Event('input'));"
            "done(performance.now() - t);",
            query,
        )
        rows = driver.find_elements(By.CSS_SELECTOR, "tr.problem")
        opened = driver.execute_async_script(
            "const done = arguments[0]; const row = document.querySelectorAll('tr.problem')[4];"
            "const t = performance.now(); row.click();"
            "(function wait() { if (document.getElementById('detail').dataset.loaded === '1')"
            " done(performance.now() - t); else setTimeout(wait, 2); })();"
        )
        turns = len(driver.find_elements(By.CSS_SELECTOR, "#detail .turn"))
        return {
            "rows_ms": timing["rows"], "dom_content_loaded_ms": timing["dom"], "load_ms": timing["load"],
            "get_wall_ms": wall, "search_ms": search, "search_rows": len(rows), "open_ms": opened, "open_turns": turns,
        }  # fmt: skip
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1140)
    parser.add_argument("--turns", type=int, default=11)
    parser.add_argument("--unsolved", action="store_true", help="no conversation is solved: all run every turn")
    parser.add_argument("--keep", type=Path, help="write the run folder here and keep it")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="report-scale-"))
    run_dir = args.keep or scratch / "run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    try:
        started = time.perf_counter()
        logged = write_run(run_dir, args.tasks, args.turns, args.unsolved)
        on_disk = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
        written = time.perf_counter() - started
        items = args.tasks * 9 * args.turns
        print(f"run folder: {args.tasks} tasks x 9 settings x {args.turns} turns = {items} items,")
        print(f"  {logged} turns logged, {on_disk / 1e6:.0f} MB on disk (written in {written:.1f} s)")
        page = run_dir / "report.html"
        started = time.perf_counter()
        run = load_run(run_dir)
        loaded = time.perf_counter()
        html = render_html(run)
        page.write_text(html, encoding="utf-8")
        done = time.perf_counter()
        print(f"render: {done - started:.1f} s (read {loaded - started:.1f} s, page {done - loaded:.1f} s)")
        print(f"report.html: {page.stat().st_size / 1e6:.1f} MB")
        if not args.no_browser:
            figures = measure_browser(page, f"BigCodeBench/{args.tasks // 2}")
            print(
                f"chromium: table rows drawn at {figures['rows_ms']:.0f} ms, "
                f"DOMContentLoaded {figures['dom_content_loaded_ms']:.0f} ms, load {figures['load_ms']:.0f} ms "
                f"(driver.get {figures['get_wall_ms']:.0f} ms)"
            )
            print(f"  search over every row: {figures['search_ms']:.1f} ms ({figures['search_rows']} rows shown)")
            print(f"  open one conversation: {figures['open_ms']:.0f} ms ({figures['open_turns']} turns)")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
