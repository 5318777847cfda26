"""``--autorun``'s server manager, against a fake ``vllm`` executable (no GPU, no vllm).

The fake parses ``serve MODEL --host H --port P ...``, records what it was given,
and becomes the scripted OpenAI server on that port. Environment variables make it
fail, load slowly, ignore SIGTERM or start a worker process of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from pytest_convcode.errors import InfrastructureError, UsageError
from pytest_convcode.models import server as process
from pytest_convcode.models.vllm import ServeOptions, VllmServer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc: Linux")

FAKE_VLLM = f"""\
#!{sys.executable}
import json, os, signal, subprocess, sys, time

command, model, *rest = sys.argv[1:]
assert command == "serve", sys.argv
host, port = rest[rest.index("--host") + 1], rest[rest.index("--port") + 1]
record = os.environ.get("FAKE_VLLM_RECORD")
if record:
    with open(record + ".tmp", "w") as out:
        json.dump({{"argv": sys.argv, "pid": os.getpid(), "pgid": os.getpgid(0),
                   "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}}, out)
    os.replace(record + ".tmp", record)
if os.environ.get("FAKE_VLLM_IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stays ignored across exec
print("fake vllm: loading", model, flush=True)
if os.environ.get("FAKE_VLLM_FAIL"):
    for i in range(50):
        print("progress", i, flush=True)
    print("RuntimeError: no GPU found", file=sys.stderr, flush=True)
    sys.exit(int(os.environ["FAKE_VLLM_FAIL"]))
time.sleep(float(os.environ.get("FAKE_VLLM_SLEEP", "0")))
if os.environ.get("FAKE_VLLM_WORKER"):  # like vllm's workers: same process group
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
os.execv(sys.executable, [sys.executable, "-m", "pytest_convcode.testing.openai_server",
                          "--host", host, "--port", port, "--model", model])
"""

# a pytest process in miniature: starts the server, then does what argv[3] says
PARENT = textwrap.dedent(
    """\
    import os, signal, sys, time
    from pathlib import Path
    from pytest_convcode.models import server as process, vllm

    # Ctrl-C as in a terminal, even where the tests run as a background job (which starts
    # with SIGINT ignored, and so would this process)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    process.STOP_GRACE_SECONDS = 0.3
    server = vllm.VllmServer(vllm.ServeOptions(model="m", executable=sys.argv[1]), Path(sys.argv[2]))
    print("starting", flush=True)
    print(server.start(), flush=True)
    if sys.argv[3] == "exit":
        sys.exit(0)  # without stop(): atexit's turn
    time.sleep(600)
    """
)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The fake executable; it records itself in tmp_path/record.json. Its process
    groups are killed at teardown, whatever a test left."""
    path = tmp_path / "bin" / "vllm"
    path.parent.mkdir()
    path.write_text(FAKE_VLLM)
    path.chmod(0o755)
    record = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_VLLM_RECORD", str(record))
    for name in ("FAKE_VLLM_FAIL", "FAKE_VLLM_SLEEP", "FAKE_VLLM_WORKER", "FAKE_VLLM_IGNORE_TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(process, "POLL_SECONDS", 0.05)
    yield path
    group = json.loads(record.read_text())["pgid"] if record.exists() else None
    if group is not None and group != os.getpgid(0):  # never our own group, whatever went wrong
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)


@pytest.fixture
def make_server(tmp_path: Path, fake: Path) -> Iterator[Callable[..., VllmServer]]:
    servers: list[VllmServer] = []

    def make(**options: Any) -> VllmServer:
        options.setdefault("model", "m")
        options.setdefault("executable", str(fake))
        server = VllmServer(ServeOptions(**options), tmp_path / "logs" / "vllm-serve.log")
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def recorded(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "record.json"
    wait_for(path.exists, f"{path} to be written")
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.02)


def _stat(pid: str) -> tuple[str, int] | None:
    """(state, process group) of a process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()
    except OSError:
        return None
    return fields[0].decode(), int(fields[2])


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = _stat(str(pid))
    return stat is not None and stat[0] != "Z"


def group_members(group: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        stat = _stat(entry) if entry.isdigit() else None
        if stat is not None and stat[1] == group and stat[0] != "Z":
            members.append(int(entry))
    return members


# -- options


def test_tensor_parallel_defaults_to_the_gpus_listed() -> None:
    assert ServeOptions("m").tensor_parallel_size() is None
    assert ServeOptions("m", gpus="0,1").tensor_parallel_size() == 2
    assert ServeOptions("m", gpus="3").tensor_parallel_size() == 1
    assert ServeOptions("m", gpus="0,1,2,3", tensor_parallel=2).tensor_parallel_size() == 2
    assert ServeOptions("m", tensor_parallel=4).tensor_parallel_size() == 4


# -- start and stop


def test_start_serves_chat_completions(make_server: Callable[..., VllmServer], tmp_path: Path) -> None:
    server = make_server(model="org/coder")
    url = server.start()
    assert url == server.url
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
    reply = client.chat.completions.create(model="org/coder", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content and "def f" in reply.choices[0].message.content
    assert [m.id for m in client.models.list().data] == ["org/coder"]
    client.close()
    assert "fake vllm: loading org/coder" in (tmp_path / "logs" / "vllm-serve.log").read_text()
    argv = recorded(tmp_path)["argv"]
    assert argv[1:5] == ["serve", "org/coder", "--host", "127.0.0.1"]
    assert "--tensor-parallel-size" not in argv


def test_gpus_give_tensor_parallel_and_cuda_devices(make_server: Callable[..., VllmServer], tmp_path: Path) -> None:
    server = make_server(gpus="0,1", port=0, extra_args=("--max-model-len", "4096"))
    server.start()
    record = recorded(tmp_path)
    argv = record["argv"]
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
    assert argv[-2:] == ["--max-model-len", "4096"]
    assert record["cuda"] == "0,1"


def test_fixed_port(make_server: Callable[..., VllmServer], tmp_path: Path) -> None:
    port = process.free_port()
    assert make_server(port=port).start() == f"http://127.0.0.1:{port}/v1"
    argv = recorded(tmp_path)["argv"]
    assert argv[argv.index("--port") + 1] == str(port)


def test_stop_ends_the_whole_process_group(
    make_server: Callable[..., VllmServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_VLLM_WORKER", "1")
    server = make_server()
    server.start()
    record = recorded(tmp_path)
    assert record["pgid"] == record["pid"] != os.getpgid(0)  # a session of its own
    assert len(group_members(record["pgid"])) == 2  # the server and its worker
    server.stop()
    assert group_members(record["pgid"]) == []
    assert server.url is None
    server.stop()  # idempotent


def test_stop_kills_a_server_that_ignores_sigterm(
    make_server: Callable[..., VllmServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_VLLM_IGNORE_TERM", "1")
    monkeypatch.setattr(process, "STOP_GRACE_SECONDS", 0.5)
    server = make_server()
    server.start()
    pid = recorded(tmp_path)["pid"]
    start = time.monotonic()
    server.stop()
    assert 0.4 < time.monotonic() - start < 5
    assert not alive(pid)


# -- failures


def test_server_that_exits_at_start(
    make_server: Callable[..., VllmServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_VLLM_FAIL", "3")
    server = make_server(model="org/broken")
    with pytest.raises(InfrastructureError) as caught:
        server.start()
    message = str(caught.value)
    assert "serve org/broken --host 127.0.0.1 --port" in message
    assert "exited with code 3" in message
    assert "RuntimeError: no GPU found" in message
    assert "progress 49" in message and "progress 11\n" in message
    assert "progress 10\n" not in message  # only the last 40 lines
    assert str(tmp_path / "logs" / "vllm-serve.log") in message
    assert server.url is None


def test_server_that_never_becomes_healthy(
    make_server: Callable[..., VllmServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_VLLM_SLEEP", "60")
    server = make_server(startup_timeout=1.0)
    start = time.monotonic()
    with pytest.raises(InfrastructureError, match=r"did not become ready within 1 s") as caught:
        server.start()
    assert time.monotonic() - start < 5
    assert "fake vllm: loading m" in str(caught.value)
    assert not alive(recorded(tmp_path)["pid"])


def test_progress_lines_while_waiting(
    make_server: Callable[..., VllmServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FAKE_VLLM_SLEEP", "0.8")
    monkeypatch.setattr(process, "PROGRESS_SECONDS", 0.25)
    make_server(model="org/slow").start()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("waiting for vllm serve")]
    assert len(lines) >= 2
    assert lines[0].startswith("waiting for vllm serve org/slow (0 s, log: ")
    assert lines[0].endswith(f"{tmp_path / 'logs' / 'vllm-serve.log'})")


def test_missing_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no vllm here, whatever the machine has
    server = VllmServer(ServeOptions("m"), tmp_path / "logs" / "vllm-serve.log")
    with pytest.raises(UsageError) as caught:
        server.start()
    assert str(caught.value) == (
        "vllm is not installed: pip install 'pytest-convcode[vllm]' (it needs a GPU),"
        " or point --base-url at a running server"
    )
    assert not (tmp_path / "logs").exists()
    server.stop()


# -- the server dies with the process that started it


def start_parent(fake: Path, tmp_path: Path, then: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(fake), str(tmp_path / "vllm-serve.log"), then],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "starting\n"
    return proc


def test_parent_killed_outright_takes_the_server(fake: Path, tmp_path: Path) -> None:
    """SIGKILL leaves no atexit handler a chance: the parent-death signal does it."""
    parent = start_parent(fake, tmp_path, "sleep")
    try:
        assert parent.stdout is not None and parent.stdout.readline().startswith("http://127.0.0.1:")
        pid = recorded(tmp_path)["pid"]
        assert alive(pid)
        parent.kill()
        parent.wait()
        wait_for(lambda: not alive(pid), "the server to die with its parent")
    finally:
        parent.kill()
        parent.communicate()


def test_parent_exit_stops_the_server(fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """atexit calls stop(): with SIGTERM ignored, only stop()'s SIGKILL can end the server."""
    monkeypatch.setenv("FAKE_VLLM_IGNORE_TERM", "1")
    parent = start_parent(fake, tmp_path, "exit")
    _, err = parent.communicate(timeout=20)
    assert parent.returncode == 0, err
    assert not alive(recorded(tmp_path)["pid"])


def test_ctrl_c_while_waiting_stops_the_server(fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VLLM_IGNORE_TERM", "1")
    monkeypatch.setenv("FAKE_VLLM_SLEEP", "60")
    parent = start_parent(fake, tmp_path, "sleep")
    pid = recorded(tmp_path)["pid"]
    time.sleep(0.2)  # in the wait loop
    parent.send_signal(signal.SIGINT)
    _, err = parent.communicate(timeout=20)
    assert "KeyboardInterrupt" in err
    assert not alive(pid)
