"""``--model gguf:PATH`` without a model: the usage errors, the request defaults and the cache
identity. Serving a real file is the real-model tier's (tests/test_real_model.py)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_convcode.errors import UsageError
from pytest_convcode.models import ModelSettings, llamacpp, resolve
from pytest_convcode.models.llamacpp import GgufTransport
from pytest_convcode.plugin import serving

INSTALLED = importlib.util.find_spec("llama_cpp") is not None


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-coder.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    return path


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--model gguf:.*nothing\.gguf: no such file"):
        resolve(f"gguf:{tmp_path / 'nothing.gguf'}")


def test_a_file_that_is_not_gguf_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(UsageError, match="not a GGUF model file"):
        resolve(f"gguf:{path}")


def test_without_the_extra_one_line_says_how_to_install_it(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llamacpp, "_installed", lambda: False)
    with pytest.raises(UsageError) as caught:
        resolve(f"gguf:{gguf}")
    assert "pip install 'pytest-convcode[llamacpp]'" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_no_path_says_what_to_give() -> None:
    with pytest.raises(UsageError, match=r"--model gguf:PATH/TO/MODEL\.gguf"):
        resolve("gguf:")


@pytest.mark.skipif(not INSTALLED, reason="needs llama-cpp-python[server]")
def test_the_model_is_asked_one_request_at_a_time_and_cached_by_its_file(gguf: Path) -> None:
    model = resolve(f"gguf:{gguf}")
    assert model.concurrency == 1
    assert isinstance(model.http, GgufTransport)  # type: ignore[attr-defined]
    where = model.identity()["endpoint"]
    assert where.startswith("gguf:") and "127.0.0.1" not in where  # not the port, new every run
    assert resolve(f"gguf:{gguf}").identity() == model.identity()
    gguf.write_bytes(gguf.read_bytes() + b"another quantization")
    assert resolve(f"gguf:{gguf}").identity() != model.identity()


@pytest.mark.skipif(not INSTALLED, reason="needs llama-cpp-python[server]")
def test_a_project_alias_named_after_the_file_sets_its_request_defaults(gguf: Path) -> None:
    settings = ModelSettings(aliases={"tiny-coder": {"style": "completion", "max_tokens": 77}})
    model = resolve(f"gguf:{gguf}", settings)
    assert model.spec.style == "completion" and model.max_tokens == 77  # type: ignore[attr-defined]


@pytest.mark.skipif(not INSTALLED, reason="needs llama-cpp-python[server]")
def test_base_url_with_gguf_is_a_usage_error(pytester: pytest.Pytester, gguf: Path) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess(f"--model=gguf:{gguf}", "--base-url", "http://127.0.0.1:9/v1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--model gguf:PATH serves the file on this machine: leave out --base-url*"])


@pytest.mark.skipif(not INSTALLED, reason="needs llama-cpp-python[server]")
def test_a_simulated_user_of_a_gguf_file_is_served_beside_a_coder_at_base_url(
    pytester: pytest.Pytester, gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--base-url is the coder's endpoint: it does not forbid serving the user's file."""

    @dataclass
    class Started:
        url: str | None = None

        def start(self) -> str:
            self.url = "http://127.0.0.1:1/v1"
            return self.url

        def stop(self) -> None:
            self.url = None

    monkeypatch.setattr(serving, "llama_server", lambda *args: Started())
    config = pytester.parseconfigure("--base-url", "http://127.0.0.1:9/v1")
    user = resolve(f"gguf:{gguf}")
    serving.connect(config, user, pytester.path, serve=False)
    assert user.http.base_url == "http://127.0.0.1:1/v1"  # type: ignore[attr-defined]
