"""vLLM: ``--autorun`` starts ``vllm serve`` for the run and stops it at the end (a
``server.ServerProcess``); ``--model vllm-offline:NAME`` runs vLLM's engine in the pytest
process instead.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .endpoint import EndpointModel, Replies, spec_for
from .interface import Model, ModelSettings
from .registry import MODELS
from .server import HOST, ServerProcess, free_port

NOT_INSTALLED = (
    "vllm is not installed: pip install 'pytest-convcode[vllm]' (it needs a GPU),"
    " or point --base-url at a running server"
)


@dataclass(frozen=True)
class ServeOptions:
    model: str  # the model name/path vllm serves
    gpus: str | None = None  # "0,1" -> CUDA_VISIBLE_DEVICES for the server
    tensor_parallel: int | None = None  # default: the number of gpus listed (when gpus given)
    port: int | None = None  # default: a free port on 127.0.0.1
    extra_args: tuple[str, ...] = ()  # passed through to `vllm serve`
    executable: str = "vllm"
    startup_timeout: float = 1200.0

    def tensor_parallel_size(self) -> int | None:
        if self.tensor_parallel is not None:
            return self.tensor_parallel
        if self.gpus:
            return len([g for g in self.gpus.split(",") if g.strip()])
        return None


class VllmServer:
    """One ``vllm serve`` process (and its workers) for the run (see ``server.ServerProcess``)."""

    def __init__(self, options: ServeOptions, log_path: Path) -> None:
        self.options = options
        self.log_path = log_path
        self._process: ServerProcess | None = None

    @property
    def url(self) -> str | None:
        return self._process.url if self._process is not None else None

    def start(self) -> str:
        """Start the server and wait until it answers; returns its base URL (``.../v1``)."""
        if self._process is not None:
            raise RuntimeError("this vllm server is already started")
        executable = shutil.which(self.options.executable)
        if executable is None:
            raise UsageError(NOT_INSTALLED)
        port = self.options.port or free_port()
        command = [executable, "serve", self.options.model, "--host", HOST, "--port", str(port)]
        tensor_parallel = self.options.tensor_parallel_size()
        if tensor_parallel is not None:
            command += ["--tensor-parallel-size", str(tensor_parallel)]
        env = dict(os.environ)  # the user's own: vllm needs HF_TOKEN and the like
        if self.options.gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.options.gpus
        self._process = ServerProcess(
            f"vllm serve {self.options.model}",
            [*command, *self.options.extra_args],
            port,
            self.log_path,
            ready=("/health", "/v1/models"),
            env=env,
            startup_timeout=self.options.startup_timeout,
        )
        return self._process.start()

    def stop(self) -> None:
        """Stop the server; safe to call twice."""
        if self._process is not None:
            self._process.stop()


# ---------------------------------------------------------------- in-process engine


@dataclass
class EngineTransport:
    """``vllm-offline:NAME``: vLLM's engine inside this pytest process (one per process: run
    it with ``-n 0``). The engine's calls block, so they run in a thread, one at a time; the
    engine batches a request's n samples itself. For throughput, prefer ``--autorun``."""

    model: str
    tensor_parallel: int = 1
    _engine: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def where(self) -> str:
        return f"vllm-offline:tp{self.tensor_parallel}"

    async def chat(self, body: dict[str, Any]) -> Replies:
        return await asyncio.to_thread(self._run, body)

    async def complete(self, body: dict[str, Any]) -> Replies:
        return await asyncio.to_thread(self._run, body)

    def _run(self, body: dict[str, Any]) -> Replies:
        import vllm

        with self._lock:
            if self._engine is None:
                self._engine = vllm.LLM(model=self.model, tensor_parallel_size=self.tensor_parallel)
            params = vllm.SamplingParams(
                n=body["n"], temperature=body["temperature"], max_tokens=body["max_tokens"], stop=body.get("stop")
            )
            if "messages" in body:
                (output,) = self._engine.chat(body["messages"], params, use_tqdm=False)
            else:
                (output,) = self._engine.generate([body["prompt"]], params, use_tqdm=False)
        usage = {
            "prompt_tokens": len(output.prompt_token_ids or ()),
            "completion_tokens": sum(len(choice.token_ids) for choice in output.outputs),
        }
        return Replies(
            [choice.text for choice in output.outputs], usage, [choice.finish_reason or "" for choice in output.outputs]
        )


@MODELS.register("vllm-offline")
def _offline(argument: str | None, settings: ModelSettings) -> Model:
    if not argument:
        raise UsageError("model 'vllm-offline' needs a model name: --model vllm-offline:ORGANISATION/NAME")
    if importlib.util.find_spec("vllm") is None:
        raise UsageError(NOT_INSTALLED)
    spec = spec_for(argument, settings, allow_unknown=True)
    assert spec is not None
    transport = EngineTransport(spec.model, settings.tensor_parallel or 1)
    return EndpointModel(f"vllm-offline:{argument}", spec, settings, transport, concurrency=1)  # one call at a time
