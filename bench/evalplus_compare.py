#!/usr/bin/env python3
"""Time EvalPlus's evaluator against pytest-convcode on the same samples, and
check that both give the same verdicts, task by task.

    /work/main/.venv/bin/python bench/evalplus_compare.py            # canonical solutions, HumanEval+ 0.1.10
    /work/main/.venv/bin/python bench/evalplus_compare.py --allow HumanEval/32
    SC2=/work/shared/validation/starcoder2-15b-instruct-v0.1
    /work/main/.venv/bin/python bench/evalplus_compare.py --dataset-version 0.1.9 \\
        --samples $SC2/evalplus-starcoder2-15b-instruct-v0.1-humaneval.jsonl

Both tools run as their command-line users run them, one after the other on
this machine, with the same number of workers; each run is timed by wall clock
from process start to its results file (the work: the figure to quote), and to
process exit (EvalPlus then idles up to 20 s in its stall-watch thread). The
floor (``evalplus_floor.py``) is measured in the same run: the canonical
solutions' own calls on every input, in one plain process; the report gives
ours / floor beside EvalPlus / ours. "cold" runs start without the tool's cached
ground truth (EvalPlus: CACHE_DIR/<md5 of the data file>.pkl; ours:
.pytest_cache/d/convcode/groundtruth/humaneval-<version>-*), "warm" runs with it. Ours
needs the ground truth only for an answer that its bundled digests of the reference's outputs
do not settle (``judge/expected.py``); ``--our-option=--no-bundled-digests`` times it making
the whole ground truth.
The run order alternates (cold: EvalPlus then ours; warm: ours then EvalPlus;
reversed on every other repeat). Each run's CPU seconds are counted in a
CPU-accounting cgroup of its own where one can be made (root), with the CPU
seconds other processes used meanwhile, to flag runs on a busy machine.

Exit status: 0 when the verdicts agree (apart from --allow), 1 when they
disagree, 2 when the EvalPlus interpreter is missing, 3 when a tool's run failed.
The standard library only, and pytest_convcode's data loader for the floor.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import evalplus_floor  # beside this script
from userenv import user_env, write_bytecode_caches

ROOT = Path(__file__).resolve().parent.parent  # the project: pytest's rootdir and cwd
DATA_DIR = ROOT / "pytest_convcode" / "datasets" / "data"
OUR_CACHE = ROOT / ".pytest_cache" / "d" / "convcode" / "groundtruth"
DEFAULT_EVALPLUS_PYTHON = "/work/evalplus-venv/bin/python"
EVALPLUS_VERSION = "0.3.1"
BUSY_WARNING = 0.15  # warn when other processes took this share of one CPU during a run


# ---------------------------------------------------------------- setup


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--samples",
        type=Path,
        help="samples file (EvalPlus format: task_id + completion|solution); "
        "default: the data set's canonical solutions",
    )
    p.add_argument("--dataset-version", default="0.1.10", help="bundled HumanEval+ version: 0.1.10 (default) or 0.1.9")
    p.add_argument("--workers", "-n", type=int, default=2, help="EvalPlus --parallel and pytest -n (default: 2)")
    p.add_argument(
        "--evalplus-python",
        default=DEFAULT_EVALPLUS_PYTHON,
        help=f"interpreter with evalplus=={EVALPLUS_VERSION} (default: {DEFAULT_EVALPLUS_PYTHON})",
    )
    p.add_argument("--our-python", default=sys.executable, help="interpreter with pytest-convcode (default: this one)")
    p.add_argument(
        "--our-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="an option for our pytest runs (repeatable): --our-option=--no-bundled-digests makes every "
        "cold run make the whole ground truth, as before the bundled digests",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--cold-only", action="store_true", help="time cold runs only")
    which.add_argument(
        "--warm-only", action="store_true", help="time warm runs only (caches are primed untimed if missing)"
    )
    p.add_argument(
        "--repeat", type=int, default=1, help="rounds of each measurement; the median is reported (default: 1)"
    )
    p.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="TASK_ID",
        help="a task whose disagreement does not fail the comparison (repeatable, or comma-separated)",
    )
    p.add_argument(
        "--durations", type=int, default=15, help="pytest --durations for our runs; 0 to leave out (default: 15)"
    )
    p.add_argument("--timeout", type=float, default=1800, help="seconds one tool run may take (default: 1800)")
    p.add_argument(
        "--no-cgroup",
        dest="cgroup",
        action="store_false",
        help="do not put each run in a CPU-accounting cgroup of its own (then only waited-for processes count)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (kept anyway on a disagreement)")
    args = p.parse_args(argv)
    args.allow = {t.strip() for item in args.allow for t in item.split(",") if t.strip()}
    if args.workers < 1 or args.repeat < 1:
        p.error("--workers and --repeat must be at least 1")
    return args


def check_evalplus(python: str) -> None:
    if Path(python).is_file() and os.access(python, os.X_OK):
        return
    print(
        f"EvalPlus interpreter not found: {python}\n"
        f"Create it with:\n"
        f"    python3 -m venv /work/evalplus-venv && /work/evalplus-venv/bin/pip install evalplus=={EVALPLUS_VERSION}\n"
        f"(or pass --evalplus-python X after `python3 -m venv X && X/bin/pip install evalplus=={EVALPLUS_VERSION}`)",
        file=sys.stderr,
    )
    sys.exit(2)


def data_file(version: str) -> Path:
    path = DATA_DIR / f"HumanEvalPlus-v{version.removeprefix('v')}.jsonl.gz"
    if not path.is_file():
        known = sorted(p.name for p in DATA_DIR.glob("HumanEvalPlus-*.jsonl.gz"))
        sys.exit(f"no bundled data file {path.name}; have: {', '.join(known)}")
    return path


def write_samples(args: argparse.Namespace, data: Path, tmp: Path) -> Path:
    """The samples file, inside tmp: EvalPlus writes its results next to it (and
    would prompt if a results file were already there)."""
    out = tmp / "samples.jsonl"
    if args.samples is None:
        with gzip.open(data, "rt", encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
            for line in src:
                if line.strip():
                    task = json.loads(line)
                    dst.write(json.dumps({"task_id": task["task_id"], "completion": task["canonical_solution"]}) + "\n")
    else:
        shutil.copyfile(args.samples, out)
    return out


def evalplus_cache_file(args: argparse.Namespace, data: Path) -> Path:
    """Ask EvalPlus itself where it caches this data file's ground truth: its
    CACHE_DIR and get_human_eval_plus_hash() (the md5 of the bytes of the file
    HUMANEVAL_OVERRIDE_PATH names; of the .gz itself here, not of the
    uncompressed text)."""
    code = (
        "from evalplus.data import get_human_eval_plus_hash\n"
        "from evalplus.data.utils import CACHE_DIR\n"
        "print(CACHE_DIR); print(get_human_eval_plus_hash())\n"
    )
    env = {**os.environ, "HUMANEVAL_OVERRIDE_PATH": str(data)}
    proc = subprocess.run(
        [args.evalplus_python, "-c", code],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        sys.exit(f"cannot import evalplus with {args.evalplus_python}:\n{proc.stderr[-2000:]}")
    cache_dir, digest = proc.stdout.split()[-2:]
    return Path(cache_dir) / f"{digest}.pkl"


# ---------------------------------------------------------------- runs


@dataclass
class Timing:
    wall: float  # process start to exit
    results_at: float | None  # process start to its results file being written
    cpu: float  # user + system CPU seconds of the tool's processes
    others: float | None  # CPU seconds this machine spent on anything else meanwhile
    exact: bool = True  # cpu counts every process of the tool (a cgroup), not only the waited-for ones


def busy_cpu_seconds() -> float | None:
    """CPU seconds all of this machine's CPUs have been busy since boot (Linux)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10])  # counted in user and nice already
    return (sum(fields) - idle - guest) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds of one tool run (all its processes) and of everything else meanwhile.

    With a cgroup of its own (cgroup v1 ``cpuacct`` or v2 ``cpu.stat``; needs
    root), every process the tool starts is counted, whoever reaps it. Without
    one it falls back to ``RUSAGE_CHILDREN``, which counts only the processes
    someone waited for (all of ours: the sandbox waits for each of its runners;
    not orphans reaped by init); the figures are then marked "~".
    """

    V1 = Path("/sys/fs/cgroup/cpuacct")
    V2 = Path("/sys/fs/cgroup")

    def __init__(self, enabled: bool) -> None:
        self.root: Path | None = None
        if enabled and (self.V1 / "cpuacct.usage").is_file():
            self.root, self.v2 = self.V1, False
        elif enabled and (self.V2 / "cgroup.controllers").is_file() and (self.V2 / "cpu.stat").is_file():
            self.root, self.v2 = self.V2, True
        self.group: Path | None = None
        self.exact = False

    def _usage(self, group: Path) -> float:
        if self.v2:
            stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
        return int((group / "cpuacct.usage").read_text()) / 1e9

    def start(self, label: str) -> Any:
        """Returns a preexec_fn for Popen (None without a cgroup)."""
        self.cpu0, self.busy0 = children_cpu_seconds(), busy_cpu_seconds()
        self.group, self.exact = None, False
        if self.root is not None:
            group = self.root / f"evalplus-compare-{os.getpid()}-{label}"
            try:
                group.mkdir()
                self.root_usage0 = self._usage(self.root)
                self.group, self.exact = group, True
            except (OSError, KeyError, ValueError):
                pass
        if self.group is None:
            return None
        procs = str(self.group / "cgroup.procs")

        def join_group() -> None:  # in the child, before exec: its descendants follow
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        return join_group

    def stop(self) -> tuple[float, float | None]:
        """(the tool's CPU seconds, other processes' CPU seconds or None)."""
        if self.group is not None:
            cpu = self._usage(self.group)
            others = max(0.0, self._usage(self.root) - self.root_usage0 - cpu) if not self.v2 else None
            for _ in range(50):  # a process of the tool may still be on its way out
                try:
                    self.group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                print(f"  (could not remove {self.group}: processes of the tool still in it)")
            if others is None:  # v2: the root has no usage of its own here, use /proc/stat
                busy1 = busy_cpu_seconds()
                others = max(0.0, busy1 - self.busy0 - cpu) if busy1 is not None and self.busy0 is not None else None
            return cpu, others
        cpu = children_cpu_seconds() - self.cpu0
        busy1 = busy_cpu_seconds()
        others = max(0.0, busy1 - self.busy0 - cpu) if busy1 is not None and self.busy0 is not None else None
        return cpu, others


@dataclass
class Tool:
    name: str
    runs: dict[str, list[Timing]] = field(default_factory=lambda: {"cold": [], "warm": []})
    last_output: dict[str, str] = field(default_factory=dict)


def run_timed(
    cmd: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: float, results: Path, meter: CpuMeter
) -> tuple[int, Timing, str]:
    join_group = meter.start(log.stem)
    started_at = time.time()
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        # stdin is /dev/null: EvalPlus's input() then ends in EOFError instead of waiting for an answer
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=join_group,
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the tool and the workers it started
            proc.wait()
            rc = -1
    wall = time.perf_counter() - t0
    cpu, others = meter.stop()
    results_at = results.stat().st_mtime - started_at if results.is_file() else None
    timing = Timing(wall, results_at, cpu, others, meter.exact)
    return rc, timing, log.read_text(encoding="utf-8", errors="replace")


class Bench:
    def __init__(self, args: argparse.Namespace, data: Path, samples: Path, tmp: Path) -> None:
        self.args, self.data, self.samples, self.tmp = args, data, samples, tmp
        self.ep_results = samples.with_name(samples.stem + "_eval_results.json")
        self.ep_cache = evalplus_cache_file(args, data)
        self.version = data.name.removeprefix("HumanEvalPlus-v").removesuffix(".jsonl.gz")
        self.reports = tmp / "reports"
        self.tools = {"EvalPlus": Tool("EvalPlus"), "ours": Tool("ours")}
        self.last_run_id: str | None = None
        self.contended = False
        self.meter = CpuMeter(args.cgroup)
        self.count = 0
        self.floor: dict[str, float] = {}  # evalplus_floor.measure's

    # caches
    def our_cache_dirs(self) -> list[Path]:
        return sorted(OUR_CACHE.glob(f"humaneval-{self.version}-*")) if OUR_CACHE.is_dir() else []

    def clear(self, tool: str) -> None:
        if tool == "EvalPlus":
            self.ep_cache.unlink(missing_ok=True)
        else:
            for d in self.our_cache_dirs():
                shutil.rmtree(d)

    def cached(self, tool: str) -> bool:
        if tool == "EvalPlus":
            return self.ep_cache.is_file()
        return any(any(d.iterdir()) for d in self.our_cache_dirs())

    # one run of a tool
    def run(self, tool: str, kind: str | None) -> None:
        """kind: "cold", "warm" or None (an untimed priming run)."""
        a = self.args
        self.count += 1
        label = f"{self.count:02d}-{tool}-{kind or 'prime'}"
        if kind == "cold":
            self.clear(tool)
        if tool == "EvalPlus":
            self.ep_results.unlink(missing_ok=True)  # else --i-just-wanna-run asks before overwriting it
            cmd = [
                a.evalplus_python,
                "-m",
                "evalplus.evaluate",
                "--dataset",
                "humaneval",
                "--samples",
                str(self.samples),
                "--parallel",
                str(a.workers),
                "--i-just-wanna-run",
            ]
            env = user_env(HUMANEVAL_OVERRIDE_PATH=str(self.data))
            results = self.ep_results
        else:
            run_id = f"cmp-{label}"
            pytest_script = Path(a.our_python).parent / "pytest"  # as a user runs it: .venv/bin/pytest
            launcher = [str(pytest_script)] if pytest_script.is_file() else [a.our_python, "-m", "pytest"]
            cmd = [
                *launcher,
                "suites/humaneval",
                "--model",
                f"replay:{self.samples}",
                "--dataset-version",
                self.version,
                "-n",
                str(a.workers),
                "-q",
                "--reports-dir",
                str(self.reports),
                "--run-id",
                run_id,
            ]
            if a.durations:
                cmd.append(f"--durations={a.durations}")
            cmd += a.our_option
            env = user_env()
            results = self.reports / run_id / "summary.json"
            self.last_run_id = run_id
        print(f"  {label:<22}", end="", flush=True)
        rc, timing, output = run_timed(cmd, env, ROOT, self.tmp / f"{label}.log", a.timeout, results, self.meter)
        at = f"results at {timing.results_at:7.2f} s" if timing.results_at else "no results file"
        others = f", other processes {timing.others:.1f} CPU s" if timing.others is not None else ""
        approx = "" if timing.exact else "~"
        print(f"{timing.wall:8.2f} s   ({at}; {approx}{timing.cpu:.1f} CPU s{others})", flush=True)
        if timing.others is not None and timing.others > BUSY_WARNING * timing.wall:
            print(
                f"  WARNING: other processes used {100 * timing.others / timing.wall:.0f}% of one CPU during this run"
            )
            self.contended = True
        if rc != 0 or not results.is_file():
            print(
                f"\n{tool} run failed (exit status {rc}); command:\n  {' '.join(cmd)}\n"
                f"last output ({self.tmp / f'{label}.log'}):\n{output[-4000:]}",
                file=sys.stderr,
            )
            sys.exit(3)
        if kind is not None:
            self.tools[tool].runs[kind].append(timing)
            self.tools[tool].last_output[kind] = output

    def measure(self) -> None:
        a = self.args
        kinds = ["cold"] if a.cold_only else ["warm"] if a.warm_only else ["cold", "warm"]
        if a.warm_only:
            for tool in ("EvalPlus", "ours"):
                if not self.cached(tool):
                    print(f"priming {tool}'s ground-truth cache (untimed)")
                    self.run(tool, None)
        for r in range(a.repeat):
            for i, kind in enumerate(kinds):
                # alternate who goes first: between cold and warm, and from round to round
                order = ["EvalPlus", "ours"] if (r + i) % 2 == 0 else ["ours", "EvalPlus"]
                print(f"round {r + 1}, {kind}:")
                for tool in order:
                    self.run(tool, kind)


# ---------------------------------------------------------------- verdicts


def evalplus_verdicts(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    data = json.loads(path.read_text())
    out = {}
    for task_id, samples in data["eval"].items():
        for i, s in enumerate(samples):
            out[(task_id, i)] = {
                "base": s["base_status"] == "pass",
                "plus": s["plus_status"] == "pass",
                "detail": f"base={s['base_status']} plus={s['plus_status']}",
                "fail_tests": {"base": s.get("base_fail_tests"), "plus": s.get("plus_fail_tests")},
            }
    return out


def our_verdicts(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    out = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        phases = r.get("phases") or {}
        out[(r["task_id"], r.get("sample", 0))] = {
            "base": bool(phases.get("base", {}).get("passed")),
            "plus": bool(phases.get("plus", {}).get("passed")),
            "outcome": r["outcome"],
            "detail": f"outcome={r['outcome']} "
            + " ".join(
                f"{n}={'pass' if p.get('passed') else 'fail'}({p.get('n_passed')}/{p.get('n')})"
                for n, p in phases.items()
            ),
            "failure": r.get("failure") or r.get("error") or "",
        }
    return out


def pass_at_1(verdicts: dict[tuple[str, int], dict[str, Any]]) -> tuple[float, float]:
    """Mean over tasks of the fraction of its samples that pass (base; base and plus)."""
    tasks: dict[str, list[tuple[bool, bool]]] = {}
    for (task_id, _), v in verdicts.items():
        tasks.setdefault(task_id, []).append((v["base"], v["base"] and v["plus"]))
    if not tasks:
        return float("nan"), float("nan")
    base = sum(sum(b for b, _ in s) / len(s) for s in tasks.values()) / len(tasks)
    plus = sum(sum(p for _, p in s) / len(s) for s in tasks.values()) / len(tasks)
    return base, plus


def task_key(key: tuple[str, int]) -> tuple[str, int, int]:
    m = re.search(r"(\d+)$", key[0])
    return (key[0].rsplit("/", 1)[0], int(m.group(1)) if m else -1, key[1])


def compare(ep: dict, ours: dict, allow: set[str]) -> tuple[int, int]:
    """Prints each disagreement; returns (disagreements not allowed, allowed ones)."""
    bad = allowed = 0
    for key in sorted(set(ep) | set(ours), key=task_key):
        task_id, sample = key
        name = task_id if sample == 0 else f"{task_id} sample {sample}"
        e, o = ep.get(key), ours.get(key)
        if e is None or o is None:
            problem = f"{name}: only in {'ours' if e is None else 'EvalPlus'}'s results"
            phases_off = ["presence"]
        else:
            phases_off = [ph for ph in ("base", "plus") if e[ph] != o[ph]]
            if o.get("outcome") == "error":
                phases_off = phases_off or ["harness error"]
            if not phases_off:
                continue
            problem = (
                f"{name}: {', '.join(phases_off)} differ\n      EvalPlus: {e['detail']}\n      ours:     {o['detail']}"
            )
            for ph in ("base", "plus"):
                if ph in phases_off and not e[ph] and e["fail_tests"].get(ph):
                    problem += f"\n      EvalPlus's failing {ph} input: {str(e['fail_tests'][ph])[:300]}"
            if o["failure"]:
                problem += f"\n      our explanation: {o['failure'][:600]}"
        if task_id in allow:
            allowed += 1
            print(f"  [allowed] {problem}")
        else:
            bad += 1
            print(f"  [DISAGREE] {problem}")
    return bad, allowed


# ---------------------------------------------------------------- report


def durations_section(output: str) -> str:
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "slowest" in line and "durations" in line:
            body = []
            for rest in lines[i + 1 :]:
                if rest.startswith("=") or (not rest.strip() and body):
                    break
                if rest.strip():
                    body.append(rest)
            return "\n".join(body)
    return ""


def fmt(timings: list[Timing], attr: str) -> str:
    values = [getattr(t, attr) for t in timings if getattr(t, attr) is not None]
    if not values:
        return "-"
    approx = "~" if attr == "cpu" and not all(t.exact for t in timings) else ""
    text = f"{approx}{statistics.median(values):.2f}"
    return text + (f" ({', '.join(f'{v:.1f}' for v in values)})" if len(values) > 1 else "")


def print_table(rows: list[list[str]], indent: str) -> None:
    """The first column left-aligned, the others right-aligned, each as wide as its widest cell."""
    widths = [max(len(row[c]) for row in rows) + 2 for c in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        print(indent + "".join(cells).rstrip())


def median(timings: list[Timing], attr: str) -> float | None:
    values = [getattr(t, attr) for t in timings if getattr(t, attr) is not None]
    return statistics.median(values) if values else None


def ratio(ep: Tool, ours: Tool, kind: str, attr: str) -> str:
    e, o = median(ep.runs[kind], attr), median(ours.runs[kind], attr)
    return f"{e / o:.2f}x" if e and o else "-"


def report(bench: Bench, scores: dict[str, tuple[float, float]], summary_scores: dict[str, Any]) -> None:
    ep, ours, workers = bench.tools["EvalPlus"], bench.tools["ours"], bench.args.workers
    print("\n" + "=" * 78)
    print(
        f"samples: {bench.args.samples or 'canonical solutions'}; data: {bench.data.name}; "
        f"workers: {workers}; repeats: {bench.args.repeat} (medians)"
    )
    print("start to results = process start to its results file written; CPU s = all the tool's processes")
    print("(~: without a cgroup, only the processes that were waited for); floor = the canonical solutions'")
    print(f"own calls on every input, CPU s in one plain process, and that over {workers} workers as wall s:")
    floor_cpu = bench.floor["total"]
    rows = [["", "results s cold", "warm", "CPU s cold", "warm", "pass@1 base", "plus"]]
    for tool in (ep, ours):
        b, p = scores[tool.name]
        cells = [fmt(tool.runs[k], a) for a in ("results_at", "cpu") for k in ("cold", "warm")]
        rows.append([tool.name, *cells, f"{100 * b:.1f}%", f"{100 * p:.1f}%"])
    rows.append(["floor", "", f"{floor_cpu / workers:.2f}", "", f"{floor_cpu:.2f}", "", ""])
    rows.append(
        ["EvalPlus / ours", *(ratio(ep, ours, k, a) for a in ("results_at", "cpu") for k in ("cold", "warm")), "", ""]
    )
    over_floor = [_over(median(ours.runs[k], a), floor_cpu / (workers if a == "results_at" else 1))
                  for a in ("results_at", "cpu") for k in ("cold", "warm")]  # fmt: skip
    rows.append(["ours / floor", *over_floor, "", ""])
    print_table(rows, indent="  ")
    print("\nprocess start to exit (EvalPlus's process lingers after writing its results, until its")
    print("20-second stall-watch thread wakes up; ours exits once its reports are written):")
    rows = [["", "exit s cold", "warm"]]
    rows += [[tool.name, fmt(tool.runs["cold"], "wall"), fmt(tool.runs["warm"], "wall")] for tool in (ep, ours)]
    rows.append(["EvalPlus / ours", ratio(ep, ours, "cold", "wall"), ratio(ep, ours, "warm", "wall")])
    print_table(rows, indent="  ")
    if bench.contended:
        print("WARNING: other processes were busy during some runs (see above): the wall times are unreliable")
    if summary_scores:
        parts = [f"{g} pass@1 {100 * s['pass@1']:.1f}%" for g, s in summary_scores.items() if "pass@1" in s]
        errors = sum(s.get("errors", 0) for g, s in summary_scores.items() if not g.endswith("+"))
        print(f"our summary.json: {'; '.join(parts)}; harness errors: {errors}")


def _over(value: float | None, floor: float) -> str:
    return f"{value / floor:.2f}x" if value and floor else "-"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_evalplus(args.evalplus_python)
    data = data_file(args.dataset_version)
    tmp = Path(tempfile.mkdtemp(prefix="evalplus-compare-"))  # no ".jsonl" in it: EvalPlus replaces that
    keep = args.keep
    try:
        samples = write_samples(args, data, tmp)
        bench = Bench(args, data, samples, tmp)
        print(f"temporary folder: {tmp}")
        print(f"EvalPlus ground-truth cache: {bench.ep_cache}")
        print(f"our ground-truth cache:      {OUR_CACHE}/humaneval-{bench.version}-*")
        print("both run as on a user's machine: compiled modules cached (bench/userenv.py)")
        write_bytecode_caches(args.our_python)
        bench.measure()
        print("the floor: the canonical solutions' calls in one plain process ...", end="", flush=True)
        bench.floor = evalplus_floor.measure("humaneval", bench.version, args.our_python)
        print(f" {bench.floor['total']:.2f} CPU s")

        ep = evalplus_verdicts(bench.ep_results)
        ours_path = bench.reports / str(bench.last_run_id) / "results.jsonl"
        ours = our_verdicts(ours_path)
        summary = json.loads((ours_path.parent / "summary.json").read_text()).get("scores", {})
        print(f"\nverdicts ({len(ep)} EvalPlus, {len(ours)} ours; last run of each):")
        bad, allowed = compare(ep, ours, args.allow)
        if not bad and not allowed:
            print("  all agree")
        report(bench, {"EvalPlus": pass_at_1(ep), "ours": pass_at_1(ours)}, summary)

        if args.durations:
            for kind in ("cold", "warm"):
                section = durations_section(bench.tools["ours"].last_output.get(kind, ""))
                if section:
                    print(f"\nour slowest items ({kind}, last run):\n{section}")
        print(
            f"\n{bad} disagreement(s)" + (f", {allowed} allowed ({', '.join(sorted(args.allow))})" if allowed else "")
        )
        if bad:
            keep = True
        return 1 if bad else 0
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
