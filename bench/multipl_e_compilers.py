#!/usr/bin/env python3
"""What compiling one MultiPL-E program costs in Java and C++, and what a warm compiler would save.

    /work/main/.venv/bin/python bench/multipl_e_compilers.py            # 20 programs of each
    /work/main/.venv/bin/python bench/multipl_e_compilers.py --programs 40

The programs are Qwen2.5-Coder-1.5B's published ones (../shared/validation), each compiled outside
the sandbox (the compiler's own cost, not the sandbox's), one after another, three ways:

- Java, as the suite does: one ``javac`` process per program (a JVM started and warmed each time);
- Java, warm: one JVM that compiles every program through ``javax.tools`` (a compiler server's cost);
- C++, as the suite does: ``g++ -std=c++17`` per program (bits/stdc++.h parsed each time);
- C++, with a precompiled header of the kit's includes and bits/stdc++.h (``-include``).

It prints the median wall and CPU seconds per program of each way, and the one-off cost of the
warm way (the JVM's start, the header's precompilation).
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VALIDATION = ROOT.parent / "shared" / "validation" / "qwen2.5-coder-1.5b-multipl-e"
JAR = ROOT / "pytest_convcode" / "datasets" / "data" / "javatuples-1.2.jar"
# the kit's includes, then the prompts' own: what every program starts with
INCLUDES = ("stdlib.h", "algorithm", "math.h", "stdio.h", "vector", "string", "climits", "cstring", "iostream")
HEADER = "".join(f"#include<{name}>\n" for name in (*INCLUDES, "cassert", "assert.h", "bits/stdc++.h"))
# one JVM compiling every Problem.java it is given, each in its own folder, timing each
SERVER = """
import javax.tools.*; import java.io.*; import java.util.*;
public class Server { public static void main(String[] dirs) throws Exception {
  JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
  for (String dir : dirs) { long t = System.nanoTime();
    int status = javac.run(null, null, new ByteArrayOutputStream(), "-cp", args0(), "-d", dir, dir + "/Problem.java");
    System.out.println(status + " " + (System.nanoTime() - t) / 1e9); } }
  static String args0() { return System.getProperty("jar"); } }
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--programs", type=int, default=20, help="programs of each language (default: 20)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="multipl-e-compilers-") as scratch:
        work = Path(scratch)
        java = programs("java", args.programs, work / "java", "Problem.java")
        cpp = programs("cpp", args.programs, work / "cpp", "test.cpp")
        report("Java, javac per program", [timed(["javac", "-cp", str(JAR), "Problem.java"], d) for d in java])
        report("Java, one warm JVM", warm_java(java, work))
        report("C++, g++ per program", [timed(["g++", "-std=c++17", "test.cpp"], d) for d in cpp])
        (work / "pre.h").write_text(HEADER)
        once = timed(["g++", "-std=c++17", "-x", "c++-header", "pre.h", "-o", "pre.h.gch"], work)
        print(f"  (precompiling the header once: {once[0]:.2f} s wall, {once[1]:.2f} s CPU)")
        include = ["g++", "-std=c++17", "-include", str(work / "pre.h"), "test.cpp"]
        report("C++, precompiled header", [timed(include, d) for d in cpp])
    return 0


def programs(language: str, count: int, into: Path, name: str) -> list[Path]:
    """The first ``count`` published programs of the language, each in a folder of its own."""
    with gzip.open(VALIDATION / f"humaneval-{language}-details.json.gz", "rt") as f:
        codes = [runs[0][1]["code"] for runs in json.load(f).values()][:count]
    folders = []
    for index, code in enumerate(codes):
        folder = into / str(index)
        folder.mkdir(parents=True)
        (folder / name).write_text(code)
        folders.append(folder)
    return folders


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one command, its children's CPU included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - started, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def warm_java(folders: list[Path], work: Path) -> list[tuple[float, float]]:
    """Each program's seconds inside one JVM (wall only: the JVM's CPU is not per program)."""
    (work / "Server.java").write_text(SERVER)
    subprocess.run(["javac", "Server.java"], cwd=work, capture_output=True, check=True)
    started = time.perf_counter()
    done = subprocess.run(
        ["java", f"-Djar={JAR}", "-cp", str(work), "Server", *map(str, folders)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    total = time.perf_counter() - started
    seconds = [float(line.split()[1]) for line in done.stdout.splitlines()]
    print(f"  (one JVM for all {len(seconds)}: {total:.2f} s wall, its start and warm-up included)")
    return [(s, float("nan")) for s in seconds]


def report(what: str, times: list[tuple[float, float]]) -> None:
    wall = statistics.median(t[0] for t in times)
    cpu = statistics.median(t[1] for t in times)
    print(f"{what:28} {wall:.2f} s wall, {cpu:.2f} s CPU per program (medians of {len(times)})")


if __name__ == "__main__":
    sys.exit(main())
