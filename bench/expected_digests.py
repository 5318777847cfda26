"""Make the bundled digests of a data file's reference outputs (``pytest_convcode/judge/expected.py``).

Runs every reference solution whose outputs are compared exactly, on every base and plus input,
in the process sandbox of this interpreter, and writes
``pytest_convcode/datasets/data/expected-<suite>-<version>.pickle``: 8 bytes per input, and
each phase's output size. Run it when a data file is added, under the Python version the package
is tested with (the digests hold for that version only); ``--check`` compares a fresh run with
the bundled file instead of writing it.

    .venv/bin/python bench/expected_digests.py --suite humaneval --dataset-version 0.1.10 [--workers 2] [--check]
"""

from __future__ import annotations

import argparse
import sys
import time

from pytest_convcode import datasets
from pytest_convcode.judge.expected import bundled_path, dump, make
from pytest_convcode.sandbox.process import ProcessSandbox


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="humaneval", choices=["humaneval", "mbpp"])
    p.add_argument("--dataset-version")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--check", action="store_true", help="compare with the bundled file; exit 1 where it differs")
    a = p.parse_args()
    dataset = datasets.load(a.suite, a.dataset_version)
    started = time.perf_counter()
    sandbox = ProcessSandbox()
    try:
        made = dump(dataset, make(dataset, sandbox, a.workers))
    finally:
        sandbox.close()
    path, took = bundled_path(dataset), time.perf_counter() - started
    if a.check:
        same = path.exists() and path.read_bytes() == made
        print(f"{path.name}: {'the same' if same else 'DIFFERS'} ({took:.1f} s)")
        sys.exit(0 if same else 1)
    path.write_bytes(made)
    print(f"wrote {path} ({len(made)} bytes, {took:.1f} s)")


if __name__ == "__main__":
    main()
