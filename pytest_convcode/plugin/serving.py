"""``--autorun``: serve the model with `vllm serve` for the run's duration (stopped at the end, also
on Ctrl-C or a crash), or check once that a given endpoint answers."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import pytest

from ..errors import UsageError
from ..models import Model
from ..models.endpoint import EndpointModel
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


SERVER = pytest.StashKey[VllmServer]()


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


def connect(config: pytest.Config, model: Model, serve: bool = True) -> None:
    """Start the model's server (--autorun), or check once that its endpoint answers."""
    options = from_config(AutorunOptions, config)
    autorun = serve and options.autorun
    if not isinstance(model, EndpointModel) or model.http is None:
        if autorun:
            raise UsageError(f"--autorun serves a model by its name; {model.name!r} is not one")
    elif autorun:
        server_options = ServeOptions(
            model=model.spec.model,
            gpus=options.gpus,
            tensor_parallel=options.tensor_parallel,
            port=urlparse(model.http.base_url).port,
            extra_args=tuple(shlex.split(options.vllm_args)),
        )
        server = VllmServer(server_options, Path(config.rootpath, config.getoption("reports_dir"), "vllm-serve.log"))
        config.stash[SERVER] = server
        server.start()
    else:
        model.http.check_reachable()


@pytest.hookimpl(trylast=True)  # after the run has closed its generators
def pytest_unconfigure(config: pytest.Config) -> None:
    if SERVER in config.stash:
        config.stash[SERVER].stop()
