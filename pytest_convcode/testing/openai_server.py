"""A real HTTP server that speaks OpenAI's chat-completions and completions protocol.

Answers are scripted (an ``Answerer`` gives the text of each choice) and faults can
be queued, so the harness's client, its retries and its concurrency are tested over
real sockets without a model. A reply longer than ``max_tokens`` (a token is a
whitespace-separated word here) is cut there, with ``finish_reason`` "length"; with
``ignore_n`` the server gives one choice whatever ``n`` asks, as llama.cpp's does.
Standard library only: it also serves as the fake ``vllm serve`` in tests, in a
process of its own.

    python -m pytest_convcode.testing.openai_server --port 8000 --delay 0.2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, cast, get_args

Answerer = Callable[[dict[str, Any], int], str]  # (request body, choice index) -> reply text
FaultKind = Literal["429", "500", "503", "slow", "malformed", "cutoff", "drop"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
GENERATION_PATHS = {"/v1/chat/completions": "chat.completion", "/v1/completions": "text_completion"}
MAX_CHOICES = 128
DEFAULT_ANSWER = "```python\ndef f():\n    return 1\n```\n"
WORD = re.compile(r"\S+")

# status -> (OpenAI error type, code)
_ERRORS = {
    400: ("invalid_request_error", "invalid_request"),
    404: ("invalid_request_error", "not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    503: ("server_error", "overloaded"),
}


def default_answer(body: dict[str, Any], index: int) -> str:
    return DEFAULT_ANSWER


@dataclass(frozen=True)
class Fault:
    """What the server does to one generation request instead of answering it normally."""

    kind: FaultKind
    seconds: float = 0.0  # "slow": delay before answering normally
    retry_after: float | None = None  # "429"/"503": sent as the Retry-After header (seconds)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.seconds < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError(f"fault {self.kind!r}: times cannot be negative")

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``KIND`` or ``KIND:SECONDS``: "429", "429:1.5" (retry after), "503:2", "slow:2.5", "drop"."""
        kind, colon, value = text.strip().partition(":")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {text!r}; known: {', '.join(FAULT_KINDS)}")
        fault = cast(FaultKind, kind)
        if not colon:
            if fault == "slow":
                raise ValueError("fault 'slow' needs its delay: 'slow:SECONDS'")
            return cls(fault)
        if fault not in ("429", "503", "slow"):
            raise ValueError(f"fault {kind!r} takes no value: {text!r}")
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(f"fault {text!r}: {value!r} is not a number of seconds") from None
        return cls(fault, seconds=seconds) if fault == "slow" else cls(fault, retry_after=seconds)


class OpenAIServer:
    """Serves in a background thread; ``requests`` logs every generation request's body."""

    def __init__(
        self,
        answer: Answerer | None = None,
        *,
        delay: float = 0.0,
        model: str = "test-model",
        host: str = "127.0.0.1",
        port: int = 0,
        ignore_n: bool = False,
    ) -> None:
        self.answer = answer or default_answer
        self.delay = delay
        self.ignore_n = ignore_n
        self.model = model
        self.host = host
        self.port = port
        self.url = ""
        self.requests: list[dict[str, Any]] = []
        self.answered = 0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> OpenAIServer:
        if self._httpd is not None:
            raise RuntimeError("the server is already running")
        self._stopping.clear()
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}/v1"
        # a short poll interval: stop() waits for the loop to notice
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping through a delay: they drop their request
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()  # idle keep-alive connections would otherwise block their threads
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def inject(self, *faults: Fault | str) -> None:
        """Queue faults, first in first out: each generation request takes the next one."""
        parsed = [f if isinstance(f, Fault) else Fault.parse(f) for f in faults]
        with self._lock:
            self._faults.extend(parsed)

    # -- used by the handler threads

    def _record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _count_answer(self) -> None:
        with self._lock:
            self.answered += 1

    def _sleep(self, seconds: float) -> bool:
        """Wait; False when the server stopped meanwhile."""
        return seconds <= 0 or not self._stopping.wait(seconds)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a burst of clients must not meet refused connections
    allow_reuse_address = True
    owner: OpenAIServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._connections_lock:
            conns, self._connections = self._connections, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connections
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError):  # the client left; nothing to tell it
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests and benchmarks send thousands of requests

    @property
    def owner(self) -> OpenAIServer:
        return self.server.owner

    # -- endpoints

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, b"", content_type=None)
        elif self.path == "/v1/models":
            models = {"object": "list", "data": [{"id": self.owner.model, "object": "model", "owned_by": "test"}]}
            self._send_json(200, models)
        else:
            self._send_error(404, f"no such path: GET {self.path}")

    def do_POST(self) -> None:
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        except ValueError:
            self._send_error(400, "a bad Content-Length header")
            return
        if self.path not in GENERATION_PATHS:
            self._send_error(404, f"no such path: POST {self.path}")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send_error(400, "the request body is not a JSON object")
            return
        self.owner._record(body)
        n = body.get("n")
        n = 1 if n is None else n
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CHOICES:
            self._send_error(400, f"'n' must be an integer from 1 to {MAX_CHOICES}")
            return
        if body.get("stream"):
            self._send_error(400, "this test server does not stream")
            return
        fault = self.owner._next_fault()
        if not self.owner._sleep(self.owner.delay):
            self.close_connection = True
            return
        if fault is not None and not self._apply(fault):
            return
        choices = 1 if self.owner.ignore_n else n
        try:
            reply = _response(self.path, body, self.owner.model, [self.owner.answer(body, i) for i in range(choices)])
        except Exception as exc:  # a broken answerer is the test's bug: say so over the wire
            self._send_error(500, f"the answerer failed: {exc!r}")
            return
        self.owner._count_answer()  # before it is sent: a client that has its answer finds it counted
        self._send_json(200, reply)

    def _apply(self, fault: Fault) -> bool:
        """Carry out a fault; True when the request should then be answered normally."""
        if fault.kind == "slow":
            if self.owner._sleep(fault.seconds):
                return True
            self.close_connection = True
        elif fault.kind in ("429", "500", "503"):
            headers = {} if fault.retry_after is None else {"Retry-After": format(fault.retry_after, "g")}
            self._send_error(int(fault.kind), f"injected fault {fault.kind}", headers)
        elif fault.kind == "malformed":
            self._send(200, b'{"id": "chatcmpl-broken", "choices": [this is not json')
        elif fault.kind == "cutoff":
            whole = json.dumps({"id": "chatcmpl-cutoff", "choices": [], "padding": "x" * 200}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(whole)))
            self.end_headers()
            self.wfile.write(whole[: len(whole) // 2])
            self.close_connection = True
        else:  # drop: close without a word
            self.close_connection = True
        return False

    # -- responses

    def _send(
        self,
        status: int,
        data: bytes,
        headers: dict[str, str] | None = None,
        *,
        content_type: str | None = "application/json",
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _send_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind, code = _ERRORS[status]
        if status == 400:
            self.close_connection = True  # what is left of a bad request could spoil the next one
        self._send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, headers)


def _words(value: Any) -> int:
    """Whitespace-separated words in a prompt, a message list or a content-parts list."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(item) for item in value)
    if isinstance(value, dict):
        return _words(value.get("content")) + _words(value.get("text"))
    return 0


def _cut(text: str, max_tokens: Any) -> tuple[str, str]:
    """The text as far as ``max_tokens`` words, and why it ended ("length" when cut)."""
    if not isinstance(max_tokens, int) or max_tokens <= 0:
        return text, "stop"
    words = list(WORD.finditer(text))
    if len(words) <= max_tokens:
        return text, "stop"
    return text[: words[max_tokens - 1].end()], "length"


def _response(path: str, body: dict[str, Any], default_model: str, replies: Sequence[str]) -> dict[str, Any]:
    obj = GENERATION_PATHS[path]
    cut = [_cut(reply, body.get("max_tokens")) for reply in replies]
    texts = [text for text, _ in cut]
    if obj == "chat.completion":
        prompt = _words(body.get("messages"))
        choices: list[dict[str, Any]] = [
            {"index": i, "message": {"role": "assistant", "content": t}, "logprobs": None, "finish_reason": end}
            for i, (t, end) in enumerate(cut)
        ]
        prefix = "chatcmpl"
    else:
        prompt = _words(body.get("prompt"))
        choices = [{"index": i, "text": t, "logprobs": None, "finish_reason": end} for i, (t, end) in enumerate(cut)]
        prefix = "cmpl"
    completion = sum(len(t.split()) for t in texts)
    return {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "object": obj,
        "created": int(time.time()),
        "model": body.get("model") or default_model,
        "choices": choices,
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="0: any free port (the line printed names it)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each generation request waits")
    parser.add_argument("--model", default="test-model")
    parser.add_argument("--ignore-n", action="store_true", help="one choice a request, whatever n asks")
    args = parser.parse_args(argv)
    # a signal ignored at start stays ignored (as under nohup); the others are blocked
    # before any thread starts, so that only sigwait below receives them
    stop_signals = {s for s in (signal.SIGTERM, signal.SIGINT) if signal.getsignal(s) is not signal.SIG_IGN}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    with OpenAIServer(
        delay=args.delay, model=args.model, host=args.host, port=args.port, ignore_n=args.ignore_n
    ) as server:
        print(f"serving on {server.url}", flush=True)
        signal.sigwait(stop_signals)


if __name__ == "__main__":
    main()
