#!/usr/bin/env python3
"""What the harness costs around a real model: the same HumanEval+ prompts sent to llama.cpp's
server by a plain loop and through pytest-convcode (``-n 0`` and ``-n 2``), in one run.

    .venv/bin/python bench/real_model.py                 # 20 tasks, 128 tokens each
    .venv/bin/python bench/real_model.py --tasks 5 --max-tokens 64

The model is Qwen2.5-Coder-0.5B-Instruct (``testing/tiny_model.py``, assembled once per machine);
the extra ``llamacpp`` must be installed. Each contender starts its own server with the same
settings (one thread, as the harness's default on two cores) and sends the same chat requests
(the default alias's system prompt and instruction, temperature 0, one after the other: the server
serves one at a time), so both get the same tokens back: the script checks that. Wall time runs
from the contender's start to its results (the harness's includes judging each answer in its
sandbox, which overlaps the next request). The harness uses a fresh generation cache each time.

Prints each contender's wall seconds, completion tokens and tokens per second, and the ratio of
the harness's wall time to the plain loop's (goal: within 1.05x).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_convcode.datasets import load  # noqa: E402
from pytest_convcode.models.endpoint import ALIASES_FILE  # noqa: E402
from pytest_convcode.models.llamacpp import GgufTransport, LlamaOptions, fingerprint, server  # noqa: E402
from pytest_convcode.models.server import free_port  # noqa: E402
from pytest_convcode.testing import tiny_model  # noqa: E402


def plain_loop(model: Path, prompts: list[str], max_tokens: int, log: Path) -> tuple[float, int]:
    """Start the server, send each request and wait for its reply, stop: (wall seconds, tokens)."""
    started = time.perf_counter()
    port = free_port()
    transport = GgufTransport(
        f"http://127.0.0.1:{port}/v1", None, 600, model_file=model, fingerprint=fingerprint(model)
    )
    process = server(transport, LlamaOptions(threads=1, context=8192), port, log)
    url = process.start()
    defaults = tomllib.loads(ALIASES_FILE.read_text())["defaults"]
    tokens = 0
    try:
        for prompt in prompts:
            messages = [
                {"role": "system", "content": defaults["system"]},
                {"role": "user", "content": defaults["instruction"].format(prompt=prompt.strip())},
            ]
            body = {"model": model.stem, "messages": messages, "temperature": 0.0, "max_tokens": max_tokens, "n": 1}
            request = urllib.request.Request(
                f"{url}/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=600) as response:
                tokens += json.load(response)["usage"]["completion_tokens"]
    finally:
        process.stop()
    return time.perf_counter() - started, tokens


def harness(model: Path, task_ids: list[str], max_tokens: int, workers: int, scratch: Path) -> tuple[float, int]:
    """``pytest suites/humaneval --model gguf:...``: (wall seconds, completion tokens recorded)."""
    run_id = f"bench-n{workers}"
    command = [
        str(ROOT / ".venv/bin/pytest"), "suites/humaneval", f"--model=gguf:{model}", "--tasks", ",".join(task_ids),
        "--max-tokens", str(max_tokens), "-n", str(workers), "-q", "-p", "no:cacheprovider",
        f"--reports-dir={scratch}", "--run-id", run_id, f"--cache-path={scratch / run_id / 'cache.sqlite'}",
        "--html-report", "none",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"the harness run failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    records = [json.loads(line) for line in (scratch / run_id / "results.jsonl").read_text().splitlines()]
    return wall, sum(r["usage"].get("completion_tokens", 0) for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20, help="the first N HumanEval+ tasks (default 20)")
    parser.add_argument("--max-tokens", type=int, default=128, help="per reply (default 128)")
    args = parser.parse_args()
    model = tiny_model.model_file()
    tasks = list(load("humaneval").tasks.values())[: args.tasks]
    task_ids = [t.task_id for t in tasks]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        rows.append(
            ("plain loop", *plain_loop(model, [t.prompt for t in tasks], args.max_tokens, scratch / "plain.log"))
        )
        for workers in (0, 2):
            rows.append((f"harness -n {workers}", *harness(model, task_ids, args.max_tokens, workers, scratch)))
    plain_wall, plain_tokens = rows[0][1], rows[0][2]
    print(f"{len(task_ids)} HumanEval+ tasks, chat, max_tokens {args.max_tokens}, one server thread")
    print(f"{'contender':<14} {'wall s':>8} {'tokens':>7} {'tok/s':>7} {'x plain':>8}")
    for name, wall, tokens in rows:
        print(f"{name:<14} {wall:8.1f} {tokens:7d} {tokens / wall:7.1f} {wall / plain_wall:8.3f}")
    if any(tokens != plain_tokens for _, _, tokens in rows):
        print("note: the contenders got different numbers of tokens back: the work differed")


if __name__ == "__main__":
    main()
