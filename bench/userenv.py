"""The environment the benches run each tool in: a user's, where Python keeps compiled modules.

This machine sets ``PYTHONDONTWRITEBYTECODE=1``. pip compiles a package's modules when it
installs it (EvalPlus's, pytest's), but this checkout is installed editable, so with that
variable every process of ours compiles our ~140 modules again, through pytest's assertion
rewriting (which pytest applies to a plugin's whole package): ~0.4 CPU s a process, three
processes a run with ``-n 2``. A user's machine writes those caches once. The benches leave the
variable out for both tools and write our caches before timing anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def user_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **extra}


def write_bytecode_caches(python: str = sys.executable) -> None:
    """What a first run of ours leaves on a user's machine (one item, in a folder of its own):
    every module compiled, as pytest rewrites it and as the sandbox's worker imports it."""
    with tempfile.TemporaryDirectory(prefix="bytecode-") as tmp:
        one = [python, "-m", "pytest", "suites/humaneval", "-k", "HumanEval/0", "-n", "2", "-q", "-p", "no:randomly"]
        one += ["--reports-dir", tmp, "-o", f"cache_dir={tmp}/cache"]
        subprocess.run(one, cwd=ROOT, env=user_env(), stdout=subprocess.DEVNULL, check=True)
    subprocess.run([python, "-m", "compileall", "-q", str(ROOT / "pytest_convcode")], env=user_env(), check=True)
