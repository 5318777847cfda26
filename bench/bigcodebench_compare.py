#!/usr/bin/env python3
"""Time BigCodeBench's own evaluator (0.2.5) against pytest-convcode on the same samples, and
check that both give each task the same status.

    /work/main/.venv/bin/python bench/bigcodebench_compare.py                 # all 1140 tasks, both samples files
    /work/main/.venv/bin/python bench/bigcodebench_compare.py --tasks 60      # 60 tasks drawn with --seed
    /work/main/.venv/bin/python bench/bigcodebench_compare.py --subset hard --only canonical

Two samples files, written from the data file: the canonical solutions (each the full program
BigCodeBench's ground-truth check runs), and the same tasks with seeded mutations (a wrong
return, an exception, an off-by-one constant, a syntax error, a few infinite loops), so that
failing verdicts are compared too. Each file is scored, one tool after the other on this machine,
by BigCodeBench's `evaluate --execution local --no_gt` and by our pytest suite with the same
interpreter for the candidates (--sandbox-python), the same split and calibration, and the same
number of workers, each run from a fresh folder.

BigCodeBench with --no_gt never runs a reference solution, so it cannot tell a task this machine
cannot run from a wrong program. We can: a run reads the verdicts of the environment check
(`python -m pytest_convcode.env bigcodebench --existing PYTHON`, once per machine, as BigCodeBench
keeps its ground truth), which runs first here, timed on its own line. With --cold there is no
check: our runs run the reference of each task a program fails, as a run on a new machine does.

Exit status: 0 the statuses agree, 1 they differ, 2 no BigCodeBench interpreter, 3 a run failed.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gzip
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "pytest_convcode" / "datasets" / "data" / "BigCodeBench-v0.1.0_hf.jsonl.gz"
HARD_IDS = DATA.with_name("BigCodeBench-Hard-v0.1.0_hf-ids.txt")
DEFAULT_BCB_PYTHON = "/work/bcb-eval-venv/bin/python"
BCB_VERSION = "0.2.5"
SPLIT = "complete"  # the samples are whole programs: the split only names the score
MUTATIONS = {"canonical": 3, "wrong_return": 2, "raise": 1, "off_by_one": 3, "syntax_error": 1}  # kind: weight


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--subset", choices=("full", "hard", "stdlib"), default="full", help="which tasks (default: full)")
    p.add_argument("--tasks", type=int, help="only N tasks of the subset, drawn with --seed")
    p.add_argument("--seed", type=int, default=0, help="seed of the task draw and the mutations (default: 0)")
    p.add_argument("--loops", type=int, default=2, help="infinite loops among the mutations (default: 2)")
    p.add_argument("--only", choices=("canonical", "failures"), help="score one samples file only")
    p.add_argument("--workers", "-n", type=int, default=2, help="--parallel and pytest -n (default: 2)")
    p.add_argument("--bcb-python", default=DEFAULT_BCB_PYTHON, help=f"interpreter with bigcodebench=={BCB_VERSION}")
    p.add_argument("--timeout", type=float, default=7200, help="seconds one tool run may take (default: 7200)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (kept anyway on a difference)")
    p.add_argument("--cold", action="store_true", help="no environment check first: our runs run references")
    return p.parse_args(argv)


def check_bcb(python: str) -> None:
    """Exit 2, saying how to make it, where the interpreter cannot import bigcodebench.evaluate."""
    code = "import bigcodebench, bigcodebench.evaluate; print(bigcodebench.__version__)"
    found = subprocess.run([python, "-c", code], capture_output=True, text=True) if Path(python).is_file() else None
    if found is not None and found.returncode == 0:
        version = found.stdout.split()[-1]
        if version != BCB_VERSION:
            print(f"note: {python} has bigcodebench {version}, not {BCB_VERSION}")
        return
    print(f"no usable bigcodebench in {python}:", found.stderr[-1500:] if found else "not found", file=sys.stderr)
    print("Make it as bench/README.md says (section bigcodebench_compare.py).", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------- samples


def load_tasks() -> list[dict]:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def select(tasks: list[dict], args: argparse.Namespace) -> list[dict]:
    """The subset (hard: the bundled id list; stdlib: as our --subset stdlib decides), then --tasks N."""
    if args.subset == "hard":
        hard = set(HARD_IDS.read_text().split())
        tasks = [t for t in tasks if t["task_id"] in hard]
    elif args.subset == "stdlib":
        sys.path.insert(0, str(ROOT))
        from pytest_convcode.datasets.bigcodebench import load, stdlib_only

        stdlib = {task_id for task_id, t in load(None, DATA).tasks.items() if stdlib_only(t)}
        tasks = [t for t in tasks if t["task_id"] in stdlib]
    if args.tasks and args.tasks < len(tasks):
        keep = set(random.Random(args.seed).sample(range(len(tasks)), args.tasks))
        tasks = [t for i, t in enumerate(tasks) if i in keep]
    return tasks


def program(task: dict) -> str:
    """What BigCodeBench's ground-truth check runs: the prompt and the canonical body."""
    return task["complete_prompt"] + task["canonical_solution"]


def body(task: dict, lines: str) -> str:
    """The task's imports and signature with another body."""
    return task["code_prompt"].rstrip() + "\n" + lines


def off_by_one(task: dict) -> str | None:
    """The canonical program with the first integer literal of the entry point one larger."""
    text = program(task)
    fn = next(
        (n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef) and n.name == task["entry_point"]),
        None,
    )
    ints = [n for n in ast.walk(fn) if isinstance(n, ast.Constant) and type(n.value) is int] if fn else []
    ints = [n for n in ints if n.lineno == n.end_lineno]
    if not ints:
        return None
    node = min(ints, key=lambda n: (n.lineno, n.col_offset))
    lines = text.splitlines(keepends=True)
    line = lines[node.lineno - 1].encode()  # ast's offsets count UTF-8 bytes
    new = line[: node.col_offset] + str(node.value + 1).encode() + line[node.end_col_offset :]
    lines[node.lineno - 1] = new.decode()
    return "".join(lines)


def mutant(task: dict, kind: str) -> tuple[str, str]:
    """(kind, solution); an off-by-one with no integer to change becomes a wrong return."""
    if kind == "off_by_one":
        changed = off_by_one(task)
        return ("off_by_one", changed) if changed else mutant(task, "wrong_return")
    solutions = {
        "canonical": lambda: program(task),
        "wrong_return": lambda: body(task, "    return None\n"),
        "raise": lambda: body(task, "    raise RuntimeError('mutant')\n"),
        "syntax_error": lambda: program(task) + "\nreturn (\n",
        "infinite_loop": lambda: body(task, "    while True:\n        pass\n"),
    }
    return kind, solutions[kind]()


def samples(tasks: list[dict], args: argparse.Namespace) -> dict[str, dict[str, tuple[str, str]]]:
    """{file name: {task_id: (kind, solution)}}, the mutations seeded."""
    rng = random.Random(args.seed)
    kinds = rng.choices(list(MUTATIONS), weights=list(MUTATIONS.values()), k=len(tasks))
    for i in rng.sample(range(len(tasks)), min(args.loops, len(tasks))):
        kinds[i] = "infinite_loop"
    files = {
        "canonical": {t["task_id"]: ("canonical", program(t)) for t in tasks},
        "failures": {t["task_id"]: mutant(t, k) for t, k in zip(tasks, kinds, strict=True)},
    }
    return {name: files[name] for name in files if args.only in (None, name)}


def write_samples(path: Path, chosen: dict[str, tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for task_id, (_, solution) in chosen.items():
            f.write(json.dumps({"task_id": task_id, "solution": solution}) + "\n")


# ---------------------------------------------------------------- runs


def timed(cmd: list[str], cwd: Path, log: Path, env: dict[str, str] | None, timeout: float) -> tuple[int, float, float]:
    """(exit status, wall seconds, CPU seconds of the processes waited for) of one whole command."""
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        # stdin /dev/null: BigCodeBench asks on stdin before overwriting a results file
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = -1
    wall = time.perf_counter() - t0
    with contextlib.suppress(ProcessLookupError):  # what is left: BigCodeBench's strays, a timed-out tool
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime
    return rc, wall, cpu


def run_bcb(args: argparse.Namespace, path: Path, ids: list[str] | None) -> tuple[float, float, dict[str, str]]:
    """BigCodeBench's evaluator on this machine (--execution local), its ground-truth pass off (--no_gt),
    pointed at the same data file (BIGCODEBENCH_OVERRIDE_PATH; it reads .gz too)."""
    results = path.with_name(path.stem + "_eval_results.json")
    results.unlink(missing_ok=True)  # else it loads it instead of evaluating
    cmd = [args.bcb_python, "-m", "bigcodebench.evaluate", "--split", SPLIT, "--subset", "full"]
    cmd += ["--samples", str(path), "--execution", "local", "--parallel", str(args.workers)]
    cmd += ["--no_gt", "--calibrated", "True", "--save_pass_rate", "False"]
    if ids is not None:  # its --subset hard would read the override file whole: name the tasks instead
        cmd += ["--selective_evaluate", ",".join(ids)]
    env = {**os.environ, "BIGCODEBENCH_OVERRIDE_PATH": str(DATA)}
    log = path.with_suffix(".bcb.log")
    rc, wall, cpu = timed(cmd, path.parent, log, env, args.timeout)
    if rc != 0 or not results.is_file():
        fail("BigCodeBench", cmd, rc, log)
    data = json.loads(results.read_text())
    return wall, cpu, {task_id: runs[0]["status"] for task_id, runs in data["eval"].items()}


CHECK = """import io, sys
from dataclasses import replace
from pytest_convcode.datasets import bigcodebench
from pytest_convcode.env import references
from pytest_convcode.env.build import StatusLine
full = bigcodebench.load(None, None)
python, workers, ids = sys.argv[1], int(sys.argv[2]), sys.argv[3:] or list(full.tasks)
dataset = replace(full, tasks={i: full.tasks[i] for i in ids})
_, failures = references.check_all(dataset, python, bigcodebench.LEADERBOARD_BUDGET, workers, StatusLine(io.StringIO()))
print(len(failures), "fail:", *sorted(failures))
"""


def check_references(args: argparse.Namespace, tmp: Path, ids: list[str] | None) -> tuple[float, float]:
    """Our environment check of the BigCodeBench interpreter, of the chosen tasks only (what
    `python -m pytest_convcode.env bigcodebench --existing` does for all), into CONVCODE_CACHE."""
    cmd = [sys.executable, "-c", CHECK, args.bcb_python, str(args.workers), *(ids or [])]
    log = tmp / "references.log"
    rc, wall, cpu = timed(cmd, ROOT, log, our_env(tmp), args.timeout)
    if rc != 0:
        fail("our environment check", cmd, rc, log)
    print(f"  our environment check: {wall:.1f} s wall, ~{cpu:.1f} CPU s; {log.read_text().strip()[:300]}")
    return wall, cpu


def our_env(tmp: Path) -> dict[str, str]:
    """Our runs' machine cache: the bench's own, where the environment check keeps its verdicts."""
    return {**os.environ, "CONVCODE_CACHE": str(tmp / "cache")}


def run_ours(args: argparse.Namespace, path: Path, ids: list[str] | None) -> tuple[float, float, dict[str, str]]:
    """Our suite from a fresh folder (its own rootdir and .pytest_cache), the candidates run by
    the BigCodeBench interpreter, calibrated as BigCodeBench calibrates."""
    work = path.parent / f"ours-{path.stem.split('--')[0]}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    cmd = [str(ROOT / ".venv" / "bin" / "pytest"), "-p", "pytest_convcode", "--rootdir=.", "-c", "/dev/null"]
    cmd += [str(ROOT / "suites" / "bigcodebench"), "--model", f"replay:{path}", f"--sandbox-python={args.bcb_python}"]
    cmd += ["--split", SPLIT, "--calibrate", "--reports-dir=reports", "--run-id=cmp", "-n", str(args.workers), "-q"]
    if ids is not None:
        (work / "tasks.txt").write_text("\n".join(ids) + "\n")
        cmd += ["--tasks", "tasks.txt"]
    log = path.with_suffix(".ours.log")
    rc, wall, cpu = timed(cmd, work, log, our_env(path.parent), args.timeout)
    run = work / "reports" / "cmp"
    if rc not in (0, 1) or not (run / "results.jsonl").is_file():  # 1: some samples failed
        fail("ours", cmd, rc, log)
    statuses = {}
    if (run / "samples_eval_results.json").is_file():
        data = json.loads((run / "samples_eval_results.json").read_text())
        statuses = {task_id: runs[0]["status"] for task_id, runs in data["eval"].items()}
    for line in (run / "results.jsonl").read_text().splitlines():
        record = json.loads(line) if line.strip() else {}
        if record.get("outcome") == "error":  # the environment, not the sample: not in that file
            statuses[record["task_id"]] = "error: " + error_line(record.get("error", ""))
    return wall, cpu, statuses


def error_line(text: str) -> str:
    """Why our harness did not judge a task: its own sentence, else the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip().strip("*")]
    return next((line for line in lines if "cannot be judged" in line), lines[-1] if lines else "?")[:200]


def fail(tool: str, cmd: list[str], rc: int, log: Path) -> None:
    tail = log.read_text(errors="replace")[-3000:]
    print(f"\n{tool} run failed (exit status {rc}):\n  {' '.join(cmd)[:1000]}\n{log}:\n{tail}", file=sys.stderr)
    sys.exit(3)


# ---------------------------------------------------------------- verdicts


def compare(chosen: dict[str, tuple[str, str]], bcb: dict[str, str], ours: dict[str, str]) -> dict[str, list[str]]:
    """Tasks by agreement. BigCodeBench's "timeout" is our "fail"; a task we did not judge (the
    reference fails on this machine) agrees with any status but "pass"."""
    out: dict[str, list[str]] = {"agree": [], "not judged by ours": [], "differ": []}
    for task_id in chosen:
        b, o = bcb.get(task_id, "missing"), ours.get(task_id, "missing")
        if (b == "timeout" and o == "fail") or b == o:
            out["agree"].append(task_id)
        elif o.startswith("error") and b in ("fail", "timeout"):
            out["not judged by ours"].append(task_id)
        else:
            out["differ"].append(task_id)
    return out


def counts(statuses: dict[str, str]) -> str:
    seen: dict[str, int] = {}
    for status in statuses.values():
        key = status.split(":")[0]
        seen[key] = seen.get(key, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(seen.items()))


def report(name: str, chosen: dict, bcb: tuple, ours: tuple) -> int:
    (b_wall, b_cpu, b_status), (o_wall, o_cpu, o_status) = bcb, ours
    groups = compare(chosen, b_status, o_status)
    kinds: dict[str, int] = {}
    for kind, _ in chosen.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"\n{name}: {len(chosen)} tasks ({', '.join(f'{n} {k}' for k, n in kinds.items())})")
    print(f"  BigCodeBench {BCB_VERSION}  {b_wall:8.1f} s wall  ~{b_cpu:7.1f} CPU s   {counts(b_status)}")
    print(f"  ours                {o_wall:8.1f} s wall  ~{o_cpu:7.1f} CPU s   {counts(o_status)}")
    print(f"  ratio BigCodeBench/ours: {b_wall / o_wall:.2f}x wall, {b_cpu / o_cpu:.2f}x CPU")
    print("  " + ", ".join(f"{len(ids)} {group}" for group, ids in groups.items()))
    for group in ("not judged by ours", "differ"):
        for task_id in groups[group]:
            print(f"    [{group}] {task_id} ({chosen[task_id][0]}): BigCodeBench {b_status.get(task_id, 'missing')}")
            print(f"        ours {o_status.get(task_id, 'missing')}")
    return len(groups["differ"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_bcb(args.bcb_python)
    tasks = select(load_tasks(), args)
    ids = None if len(tasks) == 1140 else [t["task_id"] for t in tasks]
    tmp = Path(tempfile.mkdtemp(prefix="bigcodebench-compare-"))  # no ".jsonl" in it: BigCodeBench replaces that
    print(f"{len(tasks)} tasks ({args.subset}, seed {args.seed}), {args.workers} workers; folder {tmp}")
    print(f"candidates run by {args.bcb_python}; load average now {os.getloadavg()[0]:.2f}")
    if not args.cold:
        check_references(args, tmp, ids)
    differ = 0
    for i, (name, chosen) in enumerate(samples(tasks, args).items()):
        path = tmp / f"{name}--bigcodebench-{SPLIT}--bench-0-1-sanitized-calibrated.jsonl"
        write_samples(path, chosen)
        order = ("bcb", "ours") if i % 2 == 0 else ("ours", "bcb")  # who goes first alternates
        runs = {}
        for tool in order:
            print(f"  {name}: {tool} ...", end="", flush=True)
            runs[tool] = (run_bcb if tool == "bcb" else run_ours)(args, path, ids)
            print(f" {runs[tool][0]:.1f} s; load average {os.getloadavg()[0]:.2f}", flush=True)
        differ += report(name, chosen, runs["bcb"], runs["ours"])
    print(f"\n{differ} difference(s)")
    if differ or args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
