"""Model servers for the run's duration, stopped at the end (also on Ctrl-C or a crash):
``--autorun`` serves the model with `vllm serve`, ``--model gguf:PATH`` with llama.cpp's server;
for any other endpoint, a check once that it answers."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import pytest

from ..errors import UsageError
from ..models import Model
from ..models.endpoint import EndpointModel
from ..models.llamacpp import GgufTransport, LlamaOptions, default_threads
from ..models.llamacpp import server as llama_server
from ..models.options import ModelOptions
from ..models.server import free_port
from ..models.vllm import ServeOptions, VllmServer
from ..options import add_options, from_config, option
from . import options_group


@dataclass(frozen=True)
class AutorunOptions:
    autorun: bool = option(
        "--autorun", default=False, action="store_true", help="start `vllm serve` for --model, and stop it at the end"
    )
    gpus: str | None = option("--gpus", help="GPU ids for --autorun, e.g. 0,1 (CUDA_VISIBLE_DEVICES)")
    tensor_parallel: int | None = option(
        "--tensor-parallel", type=int, help="tensor-parallel size for --autorun (default: GPUs given)"
    )
    vllm_port: int | None = option("--vllm-port", type=int, help="port for --autorun (default: a free one)")
    vllm_args: str = option(
        "--vllm-args", default="", help="more arguments for `vllm serve`, one string, e.g. '--max-model-len 8192'"
    )
    llama_threads: int | None = option(
        "--llama-threads",
        type=int,
        help="CPU threads of the llama.cpp server of --model gguf:PATH (default: half the cores)",
    )
    llama_context: int = option(
        "--llama-context", default=8192, type=int, help="context length in tokens for --model gguf:PATH (default: 8192)"
    )
    llama_args: str = option(
        "--llama-args",
        default="",
        help="more arguments for llama.cpp's server (python -m llama_cpp.server), one string",
    )


class Server(Protocol):
    @property
    def url(self) -> str | None: ...

    def start(self) -> str: ...

    def stop(self) -> None: ...


SERVERS = pytest.StashKey[dict[str, Server]]()  # "vllm", or a GGUF file's path: one server each
GGUF_URLS = "convcode_gguf"  # xdist: the workers' map from a GGUF file's path to its server's URL


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(AutorunOptions, options_group(parser))


def with_endpoint(config: pytest.Config, models: ModelOptions) -> ModelOptions:
    """The model options with the endpoint that --autorun will serve at: a free port's URL."""
    if not config.getoption("autorun"):
        return models
    if models.base_url:
        raise UsageError("--autorun starts its own server: leave out --base-url")
    return replace(models, base_url=f"http://127.0.0.1:{config.getoption('vllm_port') or free_port()}/v1")


def tensor_parallel(config: pytest.Config) -> int | None:
    """--tensor-parallel, which an engine in this process (vllm-offline) takes too."""
    value: int | None = config.getoption("tensor_parallel")
    return value


def connect(config: pytest.Config, model: Model, run_dir: Path, serve: bool = True) -> None:
    """Start the model's server (--autorun, or a GGUF file's), or check once that its endpoint
    answers. ``serve``: whether --autorun is for this model (the coder's, not the user's)."""
    options = from_config(AutorunOptions, config)
    autorun = serve and options.autorun
    http = model.http if isinstance(model, EndpointModel) else None
    if isinstance(http, GgufTransport):
        if serve and config.getoption("base_url"):  # the coder's own: a user model's is the coder's
            raise UsageError("--model gguf:PATH serves the file on this machine: leave out --base-url")
        _serve_gguf(config, http, options, run_dir)
    elif http is None:
        if autorun:
            raise UsageError(f"--autorun serves a model by its name; {model.name!r} is not one")
    elif autorun:
        assert isinstance(model, EndpointModel)
        server_options = ServeOptions(
            model=model.spec.model,
            gpus=options.gpus,
            tensor_parallel=options.tensor_parallel,
            port=urlparse(http.base_url).port,
            extra_args=tuple(shlex.split(options.vllm_args)),
        )
        server = VllmServer(server_options, Path(config.rootpath, config.getoption("reports_dir"), "vllm-serve.log"))
        _started(config, "vllm", server)
    else:
        http.check_reachable()


def _serve_gguf(config: pytest.Config, transport: GgufTransport, options: AutorunOptions, run_dir: Path) -> None:
    """Serve the file, once for the run: a coder and a simulated user of the same file share it."""
    key = str(transport.model_file)
    servers = config.stash.setdefault(SERVERS, {})
    if key not in servers:
        settings = LlamaOptions(
            threads=options.llama_threads or default_threads(),
            context=options.llama_context,
            extra_args=tuple(shlex.split(options.llama_args)),
        )
        port = urlparse(transport.base_url).port or free_port()
        name = f"llama-server-{transport.model_file.stem}.log"
        _started(config, key, llama_server(transport, settings, port, run_dir / name))
    url = servers[key].url
    assert url is not None
    transport.base_url = url


def _started(config: pytest.Config, key: str, server: Server) -> None:
    config.stash.setdefault(SERVERS, {})[key] = server  # stopped at the end even if it fails to start
    server.start()


def gguf_urls(config: pytest.Config) -> dict[str, str]:
    """What an xdist worker is told: where each GGUF file is served."""
    servers = config.stash.get(SERVERS, {})
    return {key: server.url for key, server in servers.items() if key != "vllm" and server.url}


def attach(model: Model, urls: dict[str, str]) -> None:
    """On an xdist worker: send a GGUF model's requests to the controller's server of its file."""
    http = model.http if isinstance(model, EndpointModel) else None
    if isinstance(http, GgufTransport) and str(http.model_file) in urls:
        http.base_url = urls[str(http.model_file)]


@pytest.hookimpl(trylast=True)  # after the run has closed its generators
def pytest_unconfigure(config: pytest.Config) -> None:
    for server in config.stash.get(SERVERS, {}).values():
        server.stop()
