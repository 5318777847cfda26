"""The model options as a user meets them: where the simulated user's model is served, the models
file, and what --help and the unknown-model error say --model takes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from replayed import humaneval_suite

from pytest_convcode.models.registry import MODELS
from pytest_convcode.models.resolve import USAGE, known_models
from pytest_convcode.testing.openai_server import OpenAIServer

WRONG = "```python\ndef has_close_elements(numbers, threshold):\n    return None\n```"
ADVICE = "Compare every pair of numbers, not only neighbours."


def plays(body: dict[str, Any], index: int) -> str:
    """The coder, always wrong, and the expert, who is sent the reference."""
    return ADVICE if "<reference>" in body["messages"][-1]["content"] else WRONG


@pytest.fixture
def coder() -> Iterator[OpenAIServer]:
    with OpenAIServer(plays) as server:
        yield server


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    return humaneval_suite(pytester)


def converse(pytester: pytest.Pytester, coder: OpenAIServer, *args: str) -> pytest.RunResult:
    """One task in the CF+expert setting, one feedback turn: two items, both failed."""
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", "t", "--model", "test/coder", "--base-url", coder.url,
        "--tasks", "HumanEval/0", "--feedback", "cf-expert", "--max-turns", "1", *args,
    )  # fmt: skip


def asked(server: OpenAIServer) -> list[str]:
    """The model of each request the server was sent."""
    return [body["model"] for body in server.requests]


def test_a_user_model_by_full_name_is_served_where_the_coder_is(suite: pytest.Pytester, coder: OpenAIServer) -> None:
    result = converse(suite, coder, "--user-model", "test/user")
    result.assert_outcomes(failed=2)
    assert asked(coder) == ["test/coder", "test/user", "test/coder"]


def test_user_base_url_serves_the_user_model_elsewhere(suite: pytest.Pytester, coder: OpenAIServer) -> None:
    with OpenAIServer(plays) as user:
        result = converse(suite, coder, "--user-model", "test/user", f"--user-base-url={user.url}")
    result.assert_outcomes(failed=2)
    assert (asked(coder), asked(user)) == (["test/coder", "test/coder"], ["test/user"])


def test_a_user_alias_with_its_own_endpoint_keeps_it(suite: pytest.Pytester, coder: OpenAIServer) -> None:
    with OpenAIServer(plays) as user:
        suite.makepyprojecttoml(f'[tool.convcode.models.sim]\nmodel = "simulator"\nbase_url = "{user.url}"\n')
        result = converse(suite, coder, "--user-model", "sim")
    result.assert_outcomes(failed=2)
    assert (asked(coder), asked(user)) == (["test/coder", "test/coder"], ["simulator"])


def test_a_models_file_that_is_not_there_is_a_usage_error(suite: pytest.Pytester) -> None:
    pytester = suite
    pytester.makeini("[pytest]\nconvcode_models = models/aliases.toml\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--run-id", "t")
    missing = pytester.path / "models" / "aliases.toml"
    result.stderr.fnmatch_lines([f"ERROR: convcode_models names {missing}, which is not a file: fix the path*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_help_and_the_unknown_model_error_list_every_backend(pytester: pytest.Pytester) -> None:
    assert set(MODELS) <= set(USAGE)  # each backend is listed as --model takes it
    assert known_models().split(", ") == [USAGE[name] for name in USAGE if name in set(MODELS)]
    assert "gguf:PATH" in known_models()
    helped = " ".join(pytester.runpytest_subprocess("--help").stdout.str().split())
    assert f"--model=MODEL model to evaluate: {known_models()}, a model alias, or a full model name" in helped
    unknown = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--model", "nope")
    unknown.stderr.fnmatch_lines([f"ERROR: unknown model 'nope'; known models: {known_models()}; aliases: *"])
