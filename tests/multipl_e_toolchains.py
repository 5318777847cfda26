"""What the MultiPL-E tests that compile and run programs share (``import multipl_e_toolchains``:
pytest puts this folder on the path): a judge over a sandbox of its own, and a language's toolchain
required, skipped with the command that installs it, or, where CONVCODE_REQUIRE_LANGUAGES names
it (CI), failed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pytest_convcode.datasets.multipl_e import support_files
from pytest_convcode.errors import InfrastructureError
from pytest_convcode.languages.catalog import Language
from pytest_convcode.languages.judge import ProgramJudge
from pytest_convcode.languages.toolchain import MissingToolchain
from pytest_convcode.sandbox.process import ProcessSandbox


@contextmanager
def program_judge() -> Iterator[ProgramJudge]:
    sandbox = ProcessSandbox()
    try:
        yield ProgramJudge(sandbox, support_files())
    finally:
        sandbox.close()


def ready(language: Language, judge: ProgramJudge) -> None:
    """The toolchain is there and runs its trivial program in the sandbox: a tool on PATH may
    still lack what the language's tests load (Perl without Test::Deep)."""
    try:
        judge.calibrated(language)
    except (MissingToolchain, InfrastructureError) as exc:
        if language.name in os.environ.get("CONVCODE_REQUIRE_LANGUAGES", "").split(","):
            pytest.fail(f"CONVCODE_REQUIRE_LANGUAGES names {language.name}, but {exc}")
        pytest.skip(str(exc))
