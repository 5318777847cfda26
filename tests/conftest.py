"""Checks that hold for every test: each summary.json a test's run wrote validates against the schema.
And the sandbox a module's tests share, unless the module has one of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from pytest_convcode.sandbox.process import ProcessSandbox
from pytest_convcode.summary import SCHEMA_PATH

VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


@pytest.fixture(autouse=True)
def _summaries_follow_the_schema(request: pytest.FixtureRequest) -> Iterator[None]:
    # Asked for before the test runs, so that they are torn down after this check.
    folders = [request.getfixturevalue(name) for name in ("tmp_path", "pytester") if name in request.fixturenames]
    yield
    for folder in folders:
        root = Path(getattr(folder, "path", folder))
        for path in root.glob("**/summary.json"):
            errors = sorted(VALIDATOR.iter_errors(json.loads(path.read_text())), key=str)
            assert not errors, f"{path} breaks summary.schema.json: {errors[0].message} at {list(errors[0].path)}"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ProcessSandbox]:
    """One process sandbox for the module's tests."""
    sb = ProcessSandbox()
    try:
        yield sb
    finally:
        sb.close()
