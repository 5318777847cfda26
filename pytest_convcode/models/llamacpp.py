"""``--model gguf:PATH``: a GGUF model file, served on this machine's CPU by llama.cpp's
OpenAI-compatible server (llama-cpp-python[server]) for the run's duration.

Someone without a GPU evaluates a local model with one command. The server is a
``server.ServerProcess`` that the plugin starts (``plugin/serving.py``); it serves one request at a
time, so the model says so (``concurrency = 1``) and requests queue in the harness, where their
waiting is measured, rather than at the server. Its cache identity is the file's fingerprint, not
the port, which changes every run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import UsageError
from .endpoint import EndpointModel, HttpTransport, ModelSpec, aliases, spec_for
from .interface import Model, ModelSettings
from .registry import MODELS
from .server import HOST, ServerProcess, free_port

NOT_INSTALLED = (
    "--model gguf: needs llama.cpp's server: pip install 'pytest-convcode[llamacpp]'"
    " (it builds llama.cpp from source: 5 to 15 minutes on two cores)"
)
GGUF_MAGIC = b"GGUF"
FINGERPRINT_BYTES = 1 << 20  # from each end of the file


@dataclass
class GgufTransport(HttpTransport):
    """The HTTP transport to a llama.cpp server of ``model_file``, which the plugin starts."""

    model_file: Path = Path()
    fingerprint: str = ""

    @property
    def where(self) -> str:
        return f"gguf:{self.fingerprint}"


@dataclass(frozen=True)
class LlamaOptions:
    threads: int
    context: int  # tokens
    extra_args: tuple[str, ...] = ()


def default_threads() -> int:
    """Half the cores: the sandbox judges answers beside the server (on two cores, two threads
    collapse as soon as anything else runs)."""
    return max(1, (os.cpu_count() or 2) // 2)


def fingerprint(path: Path) -> str:
    """A cheap identity of a model file: its size and both ends (the header names the model and
    its quantization; the end is its last tensors)."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as file:
        digest.update(file.read(FINGERPRINT_BYTES))
        file.seek(max(0, path.stat().st_size - FINGERPRINT_BYTES))
        digest.update(file.read())
    return digest.hexdigest()[:16]


def server(transport: GgufTransport, options: LlamaOptions, port: int, log_path: Path) -> ServerProcess:
    """llama.cpp's server for the transport's file, on ``HOST:port``, in this interpreter (where the
    extra is installed). It answers ``/v1/models`` once the model is loaded (it has no /health)."""
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(transport.model_file),
        "--model_alias",
        transport.model_file.stem,
        "--host",
        HOST,
        "--port",
        str(port),
        "--n_ctx",
        str(options.context),
        "--n_threads",
        str(options.threads),
        *options.extra_args,
    ]
    return ServerProcess(f"llama.cpp's server of {transport.model_file.name}", command, port, log_path)


def _installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("llama_cpp", "uvicorn", "fastapi"))


def _spec(stem: str, settings: ModelSettings) -> ModelSpec:
    """The request defaults: a project's alias table named after the file's stem (it needs no
    ``model``: the server knows the file by its stem), else the bundled defaults."""
    table = aliases(settings).get(stem)
    if table is None:
        known = spec_for(stem, settings, allow_unknown=True)
        assert known is not None
        return known
    return ModelSpec.from_table(stem, {**table, "model": stem})


@MODELS.register("gguf")
def _gguf(argument: str | None, settings: ModelSettings) -> Model:
    if not argument:
        raise UsageError("model 'gguf' needs a model file: --model gguf:PATH/TO/MODEL.gguf")
    path = Path(argument).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"--model gguf:{argument}: no such file")
    with open(path, "rb") as file:
        if file.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
            raise UsageError(f"--model gguf:{argument}: not a GGUF model file (it does not start with 'GGUF')")
    if not _installed():
        raise UsageError(NOT_INSTALLED)
    spec = replace(_spec(path.stem, settings), base_url=None, api_key_env=None)
    # served at a free port; the plugin points the transport at the run's server of the file, which
    # a coder and a user of one file share, and tells xdist's workers where it is (plugin/serving.py)
    base_url = f"http://{HOST}:{free_port()}/v1"
    transport = GgufTransport(base_url, None, settings.timeout, model_file=path, fingerprint=fingerprint(path))
    # llama-cpp-python's server answers one request at a time
    return EndpointModel(f"gguf:{path.name}", spec, settings, transport, concurrency=1)
