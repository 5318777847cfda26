"""The scripted OpenAI server, driven over real sockets by the real openai SDK."""

from __future__ import annotations

import asyncio
import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import openai
import pytest

from pytest_convcode.testing.openai_server import DEFAULT_ANSWER, Fault, OpenAIServer

T = TypeVar("T")
USER = [{"role": "user", "content": "write a function f"}]


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as srv:
        yield srv


def drive(server: OpenAIServer, work: Callable[[openai.AsyncOpenAI], Awaitable[T]], **options: Any) -> T:
    """Run ``work`` with a fresh client (no retries: every fault must reach the test)."""

    async def main() -> T:
        async with openai.AsyncOpenAI(base_url=server.url, api_key="x", max_retries=0, **options) as client:
            return await work(client)

    return asyncio.run(main())


def chat(client: openai.AsyncOpenAI, **extra: Any) -> Awaitable[Any]:
    options: dict[str, Any] = {"model": "m", "messages": USER, **extra}
    return client.chat.completions.create(**options)


def raw_request(server: OpenAIServer, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# -- answers


def test_chat_answer_and_usage() -> None:
    with OpenAIServer(lambda body, i: "one two three") as server:
        reply = drive(server, lambda c: chat(c, model="my-model"))
    assert reply.object == "chat.completion"
    assert reply.model == "my-model"
    assert reply.id
    [choice] = reply.choices
    assert (choice.index, choice.message.role, choice.message.content) == (0, "assistant", "one two three")
    assert choice.finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (4, 3, 7)


def test_default_answer_is_a_python_block(server: OpenAIServer) -> None:
    reply = drive(server, chat)
    assert reply.choices[0].message.content == DEFAULT_ANSWER
    assert "```python\ndef f():\n    return 1\n```" in DEFAULT_ANSWER


def test_completion_answer_and_usage() -> None:
    with OpenAIServer(lambda body, i: "    return " + body["prompt"].split()[-1]) as server:
        reply = drive(server, lambda c: c.completions.create(model="base", prompt="def f(x):\n    y = x\n"))
    assert reply.object == "text_completion"
    assert reply.model == "base"
    assert reply.choices[0].text == "    return x"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (5, 2, 7)


def test_n_choices_each_get_their_index() -> None:
    with OpenAIServer(lambda body, i: f"answer {i}") as server:
        reply = drive(server, lambda c: chat(c, n=3))
        completion = drive(server, lambda c: c.completions.create(model="m", prompt="p", n=2))
    assert [(c.index, c.message.content) for c in reply.choices] == [(0, "answer 0"), (1, "answer 1"), (2, "answer 2")]
    assert reply.usage is not None and reply.usage.completion_tokens == 6
    assert [c.text for c in completion.choices] == ["answer 0", "answer 1"]


def test_request_log_and_answered_count(server: OpenAIServer) -> None:
    async def work(client: openai.AsyncOpenAI) -> None:
        await chat(client, temperature=0.5)
        await client.completions.create(model="m", prompt="second")
        await client.models.list()  # not a generation request

    drive(server, work)
    assert [r.get("messages", r.get("prompt")) for r in server.requests] == [USER, "second"]
    assert server.requests[0]["temperature"] == 0.5
    assert server.answered == 2


def test_models_health_and_unknown_paths() -> None:
    with OpenAIServer(model="served") as server:
        models = drive(server, lambda c: c.models.list())
        assert [(m.id, m.object, m.owned_by) for m in models.data] == [("served", "model", "test")]
        assert raw_request(server, "GET", "/health") == (200, b"")
        status, body = raw_request(server, "GET", "/v1/nothing")
        assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
        status, body = raw_request(server, "POST", "/v1/embeddings", b"{}")
        assert status == 404 and "message" in json.loads(body)["error"]
        status, body = raw_request(server, "POST", "/v1/chat/completions", b"not json")
        assert status == 400 and json.loads(body)["error"]["type"] == "invalid_request_error"
        assert server.answered == 0


def test_connections_are_kept_alive(server: OpenAIServer) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        socks = []
        for _ in range(3):
            conn.request("POST", "/v1/chat/completions", body=json.dumps({"model": "m", "messages": USER}))
            response = conn.getresponse()
            assert response.status == 200 and not response.will_close
            response.read()
            socks.append(conn.sock)
        assert socks[0] is not None and socks[0] is socks[1] is socks[2]
    finally:
        conn.close()


def test_answerer_error_is_a_500() -> None:
    def broken(body: dict[str, Any], index: int) -> str:
        raise RuntimeError("boom")

    with OpenAIServer(broken) as server, pytest.raises(openai.InternalServerError, match="boom"):
        drive(server, chat)


# -- timing


def test_delay_applies_to_every_generation_request() -> None:
    with OpenAIServer(delay=0.3) as server:
        start = time.monotonic()
        drive(server, chat)
        assert time.monotonic() - start >= 0.3
        start = time.monotonic()
        assert raw_request(server, "GET", "/health")[0] == 200
        assert time.monotonic() - start < 0.3


def test_concurrent_requests_overlap() -> None:
    count, delay = 100, 0.2

    async def work(client: openai.AsyncOpenAI) -> list[Any]:
        return await asyncio.gather(*(chat(client) for _ in range(count)))

    with OpenAIServer(delay=delay) as server:
        start = time.monotonic()
        replies = drive(server, work)
        elapsed = time.monotonic() - start
    assert len(replies) == count and server.answered == count
    assert elapsed < count * delay / 4, f"{count} requests took {elapsed:.1f} s"


def test_serves_150_connections_at_once() -> None:
    """Every answer waits until all 150 requests are inside the server at the same time."""
    count = 150
    barrier = threading.Barrier(count, timeout=10)

    def answer(body: dict[str, Any], index: int) -> str:
        barrier.wait()
        return "ok"

    async def work(client: openai.AsyncOpenAI) -> list[Any]:
        return await asyncio.gather(*(chat(client) for _ in range(count)))

    with OpenAIServer(answer) as server:
        replies = drive(server, work)
    assert {r.choices[0].message.content for r in replies} == {"ok"}


# -- faults


def test_429_carries_retry_after(server: OpenAIServer) -> None:
    server.inject("429:1.5")
    with pytest.raises(openai.RateLimitError) as caught:
        drive(server, chat)
    assert caught.value.response.headers["Retry-After"] == "1.5"
    assert caught.value.status_code == 429
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "rate_limit_exceeded"
    assert server.answered == 0 and len(server.requests) == 1


def test_429_without_retry_after(server: OpenAIServer) -> None:
    server.inject(Fault("429"))
    with pytest.raises(openai.RateLimitError) as caught:
        drive(server, chat)
    assert "retry-after" not in caught.value.response.headers


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(server: OpenAIServer, status: int) -> None:
    server.inject(f"{status}:2" if status == 503 else str(status))
    with pytest.raises(openai.InternalServerError) as caught:
        drive(server, chat)
    assert caught.value.status_code == status
    assert isinstance(caught.value, openai.APIStatusError)
    if status == 503:
        assert caught.value.response.headers["Retry-After"] == "2"


def test_malformed_body_is_an_error_not_a_hang(server: OpenAIServer) -> None:
    """The SDK parses an ``application/json`` body without wrapping the decoder's error."""
    server.inject("malformed")
    start = time.monotonic()
    with pytest.raises((openai.APIError, ValueError)):
        drive(server, chat, timeout=10)
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("kind", ["cutoff", "drop"])
def test_broken_connections(server: OpenAIServer, kind: str) -> None:
    server.inject(kind)
    with pytest.raises(openai.APIConnectionError) as caught:
        drive(server, chat, timeout=10)
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert drive(server, chat).choices[0].message.content == DEFAULT_ANSWER  # the server is still fine


def test_slow_answer_times_the_client_out(server: OpenAIServer) -> None:
    server.inject("slow:2")
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        drive(server, chat, timeout=0.3)
    assert time.monotonic() - start < 1.5


def test_slow_answer_arrives_with_patience(server: OpenAIServer) -> None:
    server.inject(Fault("slow", seconds=0.3))
    start = time.monotonic()
    assert drive(server, chat).choices[0].message.content == DEFAULT_ANSWER
    assert time.monotonic() - start >= 0.3
    assert server.answered == 1


def test_faults_are_consumed_in_order(server: OpenAIServer) -> None:
    server.inject("500", "429")

    async def work(client: openai.AsyncOpenAI) -> list[Any]:
        outcomes: list[Any] = []
        for _ in range(3):
            try:
                outcomes.append((await chat(client)).choices[0].message.content)
            except openai.APIStatusError as exc:
                outcomes.append(exc.status_code)
        return outcomes

    assert drive(server, work) == [500, 429, DEFAULT_ANSWER]
    assert server.answered == 1 and len(server.requests) == 3


def test_fault_parse() -> None:
    assert Fault.parse("429") == Fault("429")
    assert Fault.parse("429:1.5") == Fault("429", retry_after=1.5)
    assert Fault.parse("503:2") == Fault("503", retry_after=2.0)
    assert Fault.parse("slow:2.5") == Fault("slow", seconds=2.5)
    for kind in ("500", "malformed", "cutoff", "drop"):
        assert Fault.parse(kind) == Fault(kind)
    for bad in ("404", "slow", "slow:x", "drop:1", "429:-1", ""):
        with pytest.raises(ValueError):
            Fault.parse(bad)


def test_stop_releases_waiting_requests() -> None:
    server = OpenAIServer(delay=30).start()
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", body=json.dumps({"model": "m", "messages": USER}))
    while not server.requests:
        time.sleep(0.01)
    start = time.monotonic()
    server.stop()
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        conn.getresponse()
    conn.close()
    assert time.monotonic() - start < 2


def test_command_line_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_convcode.testing.openai_server", "--port", "0", "--model", "cli-model"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:") and line.rstrip().endswith("/v1")
        url = line.split()[-1]

        async def work(client: openai.AsyncOpenAI) -> Any:
            return await client.models.list()

        async def main() -> Any:
            async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0) as client:
                return await work(client)

        assert [m.id for m in asyncio.run(main()).data] == ["cli-model"]
        proc.terminate()
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
        proc.wait()
