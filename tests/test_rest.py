"""The sandbox service (``python -m pytest_convcode.sandbox serve``) and its client backend
(``--sandbox rest``), each service a real process on 127.0.0.1: the process backend's verdicts
through it, the answers streamed as jobs end, the bearer token, the size and per-client limits,
the seed's ``POST /run_item`` on a tiny repository, the errors a user can act on, and the
Kubernetes manifest (``deploy/``).
Several hosts, and one of them lost: ``test_hosts.py``."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from test_hostile import (
    HOSTILE,
    SECRET,
    assert_failed_for_its_reason,
    fill_in,
    hostile_run,
    left_behind,
    read_samples,
    run_samples,
)
from test_repos import make_tiny_repo

from pytest_convcode.errors import InfrastructureError, UsageError
from pytest_convcode.judging import SandboxOptions
from pytest_convcode.repos import environment
from pytest_convcode.repos.environment import RepoEnvironment
from pytest_convcode.sandbox import CallJob, CommandJob, Limits, MiB, TestJob, backend, serve, wire
from pytest_convcode.sandbox.batch import read_line, request_body
from pytest_convcode.sandbox.process import ProcessSandbox
from pytest_convcode.sandbox.rest import TOKEN_VARIABLE, RestSandbox

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 30.0


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str

    def get(self, path: str, token: str = "") -> tuple[int, str]:
        connection = http.client.HTTPConnection(self.url.removeprefix("http://"), timeout=10)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()


@contextlib.contextmanager
def serving(*args: str, log: Path, netns: str | None = None, env: dict[str, str] | None = None) -> Iterator[Served]:
    """A sandbox service in a process of its own (in a network namespace, with ``netns``), until
    the block ends; its errors go to ``log``."""
    command = [sys.executable, "-m", "pytest_convcode.sandbox", "serve", *args]
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]
    with log.open("a") as errors:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, env={**os.environ, **(env or {})}
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("serving the sandbox at "), f"the service did not start: {log.read_text()}"
        yield Served(process, line.split()[-1])
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Served]:
    with serving("--port", "0", "--jobs", "2", log=tmp_path / "serve.log") as served:
        yield served


@pytest.fixture
def rest(service: Served) -> Iterator[RestSandbox]:
    sandbox = RestSandbox(url=service.url)
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="module")
def process() -> Iterator[ProcessSandbox]:
    sandbox = ProcessSandbox()
    yield sandbox
    sandbox.close()


def call_job(code: str, inputs: list[list[Any]], wall: float = 5.0, **options: Any) -> CallJob:
    return CallJob(code, "f", inputs, [1.0] * len(inputs), [wall] * len(inputs), **options)


SLEEPY = "import time\n\ndef f(seconds):\n    time.sleep(seconds)\n    return seconds\n"
TESTS = """import unittest

class TestCases(unittest.TestCase):
    def test_ok(self):
        self.assertEqual(f(2), 4)

    def test_wrong(self):
        self.assertEqual(f(3), 10)

    def test_crash(self):
        import os
        os._exit(3)
"""


def verdict(result: Any) -> Any:
    """What a result says, without its timings (an opaque value by its text: it equals only itself)."""
    if hasattr(result, "calls"):
        calls = [(c.index, c.status, repr(c.value) if c.status == "ok" else c.error[-200:]) for c in result.calls]
        return calls, result.load_error and result.load_error[-200:], result.complete, result.how_it_ended
    if hasattr(result, "outcomes"):
        outcomes = [(o.name, o.status, o.detail[-200:]) for o in result.outcomes]
        return outcomes, result.load_error, result.complete, result.how_it_ended
    return result.ok, result.how_it_ended, result.stdout, result.stderr


def test_jobs_of_every_kind_get_the_process_backends_verdicts(rest: RestSandbox, process: ProcessSandbox) -> None:
    calls = [
        call_job("def f(x):\n    return x * x\n", [[2], [3], [-1]]),
        call_job("def f(x):\n    return 1 / x\n", [[1], [0], [2]]),  # an error, then the job stops
        call_job("def f(x):\n    while True:\n        pass\n", [[1]]),  # the CPU limit
        call_job("raise ImportError('no')\ndef f(x):\n    return x\n", [[1]]),  # does not load
        call_job("def f(x):\n    return b'x' * x\n", [[10], [4 * MiB]], limits=Limits(max_output_bytes=MiB)),
        call_job("def f(x):\n    return (lambda: x)\n", [[1]]),  # unpicklable: an opaque stand-in
        call_job("import os\ndef f(x):\n    os.kill(os.getpid(), 9)\n", [[1]]),
    ]
    tests = TestJob("def f(x):\n    return x * x\n", TESTS)
    command = CommandJob(("sh", "-c", "echo out; echo err >&2; exit 3"))
    assert [verdict(r) for r in rest.run_all(calls)] == [verdict(r) for r in process.run_all(calls)]
    phases = [calls[1], replace(calls[1], inputs=[[4], [5]], cpu_limits=[1.0] * 2, wall_limits=[5.0] * 2)]
    assert [verdict(r) for r in rest.run_all(phases)] == [verdict(r) for r in process.run_all(phases)]
    assert verdict(rest.run_tests(tests)) == verdict(process.run_tests(tests))
    assert verdict(rest.run_command(command)) == verdict(process.run_command(command))
    assert rest.jobs_per_host() == {
        rest.hosts.hosts[0].remote.name: {"jobs": len(calls) + 3, "resent": 0}
    }  # the phases: one job


def test_the_service_never_unpickles_what_a_client_sent(service: Served, tmp_path: Path) -> None:
    """A call's inputs go to the worker as they came: a pickle that makes a folder when unpickled
    makes none on the service's machine (it is unpickled in the job, in the sandbox, which fails)."""
    marker = tmp_path / "unpickled"

    class MakesFolder:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.mkdir, (str(marker),))

    job = call_job("def f(x):\n    return x\n", [[1]])
    sent = wire.form(job)
    sent = wire.Form(sent.header, pickle.dumps([[MakesFolder()]]), sent.key, sent.wall, sent.cap)
    answer = RestSandbox(url=service.url).hosts.hosts[0].remote.send({0: sent}, ())
    (index, raw), *_ = list(answer)
    result = wire.result(job, sent, raw)
    assert index == 0 and not result.complete  # unpickled in the job, which may not write there
    assert not marker.exists()


def test_answers_stream_back_as_their_jobs_end_with_heartbeats_between(service: Served) -> None:
    jobs = {0: wire.form(call_job(SLEEPY, [[3.0]])), 1: wire.form(call_job(SLEEPY, [[0.0]]))}
    connection = http.client.HTTPConnection(service.url.removeprefix("http://"), timeout=30)
    start = time.monotonic()
    connection.request("POST", "/jobs", body=request_body(jobs, ()))
    response = connection.getresponse()
    assert response.getheader("Content-Type", "").startswith("application/x-ndjson")
    lines = []
    while line := response.readline():
        lines.append((time.monotonic() - start, read_line(line)))
    connection.close()
    answers = [(seconds, line.index) for seconds, line in lines if line.index is not None]
    assert [index for _, index in answers] == [1, 0]
    assert answers[1][0] >= 3.0 and answers[1][0] - answers[0][0] > 2.0  # the quick one's came first
    assert any(line.index is None for seconds, line in lines if seconds < answers[1][0])  # heartbeats meanwhile


def test_a_client_runs_its_share_of_jobs_at_once_and_its_others_wait(tmp_path: Path) -> None:
    with serving("--port", "0", "--jobs", "2", "--client-jobs", "1", log=tmp_path / "serve.log") as served:
        sandbox = RestSandbox(url=served.url)
        seen: list[dict[str, Any]] = []
        start = time.monotonic()
        two = [call_job(SLEEPY, [[1.0]]), call_job(SLEEPY + "# another program: a job of its own\n", [[1.0]])]
        batch = threading.Thread(target=sandbox.run_all, args=(two,))
        batch.start()
        while batch.is_alive():
            seen.append(json.loads(served.get("/capacity")[1]))
            time.sleep(0.2)
        elapsed = time.monotonic() - start
        sandbox.close()
    assert elapsed >= 2.0  # one after the other, though the host has two slots
    assert {"running": 1, "waiting": 1} in [c for s in seen for c in s["clients"].values()]
    assert max(s["running"] for s in seen) == 1


def test_off_loopback_the_service_needs_a_token(tmp_path: Path) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "pytest_convcode.sandbox", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=START_SECONDS,
    )
    assert refused.returncode == 2
    assert "--host 0.0.0.0" in refused.stderr and "--token-file FILE" in refused.stderr


def test_with_a_token_health_is_open_and_the_rest_needs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    with serving("--port", "0", "--token-file", str(token), log=tmp_path / "serve.log") as served:
        assert served.get("/health")[0] == 200
        assert served.get("/capacity")[0] == 401
        assert served.get("/capacity", "wrong")[0] == 401
        assert served.get("/capacity", "s3cret")[0] == 200
        monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
        with pytest.raises(InfrastructureError, match=f"wants a token: set {TOKEN_VARIABLE}"):
            RestSandbox(url=served.url).run(call_job("def f(x):\n    return x\n", [[1]]))
        monkeypatch.setenv(TOKEN_VARIABLE, "s3cret")
        sandbox = RestSandbox(url=served.url)
        assert sandbox.run(call_job("def f(x):\n    return x\n", [[1]])).calls[0].value == 1
        sandbox.close()


def test_a_batch_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    with serving("--port", "0", "--max-request-mib", "1", log=tmp_path / "serve.log") as served:
        sandbox = RestSandbox(url=served.url)
        assert sandbox.run(call_job("def f(x):\n    return len(x)\n", [["x" * 1000]])).calls[0].value == 1000
        with pytest.raises(InfrastructureError, match="refused the batch: HTTP 413"):
            sandbox.run(call_job("def f(x):\n    return len(x)\n", [["x" * (2 * MiB)]]))
        sandbox.close()


def test_no_service_answering_is_an_error_that_says_what_to_start(tmp_path: Path) -> None:
    sandbox = RestSandbox(url="http://127.0.0.1:9,http://127.0.0.1:1")  # nothing listens there
    with pytest.raises(InfrastructureError, match=r"no sandbox service answers \(http://127.0.0.1:9: .*serve"):
        sandbox.run(call_job("def f(x):\n    return x\n", [[1]]))
    with pytest.raises(UsageError, match="--sandbox rest and --sandbox-url"):
        SandboxOptions(sandbox="rest")
    with pytest.raises(UsageError, match="needs --sandbox-url"):
        backend("rest")()
    with pytest.raises(UsageError, match="not an http"):
        backend("rest")(url="w1:7778")


@pytest.mark.slow
def test_hostile_samples_fail_through_the_service_as_in_process(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, process: ProcessSandbox
) -> None:
    """tests/test_hostile.py's run, its jobs sent to a service (which has the harness's secret in
    its environment too): each sample fails for its reason, nothing reaches the host."""
    if process.warnings():  # without the isolation, some hostile samples would succeed
        pytest.skip("; ".join(process.warnings()))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    hostile = [s for s in read_samples(HOSTILE) if "xfail" not in s]
    with serving("--port", "0", log=tmp_path / "serve.log") as served:
        monkeypatch.setenv("PYTEST_ADDOPTS", f"--sandbox rest --sandbox-url {served.url}")
        with hostile_run(pytester) as (values, listeners):
            result, records, _ = run_samples(pytester, [fill_in(s, values) for s in hostile], "hostile", 2)
            time.sleep(3)  # the late daemon's moment to act, were it alive
            assert listeners.heard() == [] and left_behind(values["__TAG__"]) == []
    assert not Path(values["__ESCAPE__"]).exists()
    assert result.ret == 0 and "sandbox jobs per host: http://127.0.0.1:" in result.stdout.str()
    for sample in hostile:
        assert_failed_for_its_reason(records[sample["task_id"]], sample)
    assert SECRET not in result.stdout.str() + (pytester.path / "reports" / "hostile" / "results.jsonl").read_text()


# ---------------------------------------------------------------- the seed's /run_item

AREA = "    def area(self):\n        return self.width * self.height\n"
WRONG_AREA = "    def area(self):\n        return self.width + self.height\n"


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RepoEnvironment:
    """The tiny repository (Django's runner layout), recorded as its environment on this machine."""
    monkeypatch.setenv("CONVCODE_CACHE", str(tmp_path / "cache"))
    tree = make_tiny_repo(tmp_path / "tinylib")
    env = RepoEnvironment(str(tree), tree, Path(sys.executable), "django")
    environment.save(env, {})
    return env


def run_item(served: Served, content: str, **changes: Any) -> tuple[int, dict[str, Any]]:
    item = {
        "idx": 7,
        "dp_id": "tinylib/shapes.py::Rect.area",
        "file_path": "tinylib/shapes.py",
        "replace_content": content,
        "method_name": "area",
        "start_line": 8,  # "    def area(self):", 0-based
        "end_line": 12,  # its last line
        "tests": ["test_shapes.RectTests.test_area"],
        **changes,
    }
    connection = http.client.HTTPConnection(served.url.removeprefix("http://"), timeout=120)
    try:
        connection.request("POST", "/run_item?do_edit=true", body=json.dumps(item))
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_run_item_runs_the_repositorys_tests_on_the_spliced_method(tiny: RepoEnvironment, tmp_path: Path) -> None:
    env = {"CONVCODE_CACHE": os.environ["CONVCODE_CACHE"]}
    with serving("--port", "0", "--repo", tiny.spec, log=tmp_path / "serve.log", env=env) as served:
        status, right = run_item(served, AREA)
        assert status == 200, right
        assert right["datapoint"]["passed"] and right["datapoint"]["ran"] == 1
        assert right["datapoint"]["idx"] == 7 and "Ran 1 test" in right["test_output"]
        assert "return self.width * self.height\n\n    @property" in right["edited_file"]
        status, wrong = run_item(served, WRONG_AREA)
        assert status == 200 and not wrong["datapoint"]["passed"] and wrong["datapoint"]["failures"] == 1
        assert "FAIL: test_area" in wrong["test_output"]
        status, outside = run_item(served, AREA, file_path="../../etc/passwd")
        assert status == 500 and "not a file of the repository" in outside["error"]
        status, missing = run_item(served, AREA, start_line="8")
        assert status == 500 and "'start_line' must be a int" in missing["error"]
    assert (tiny.tree / "tinylib" / "shapes.py").read_text().count("width * height") == 1  # the tree untouched


def test_run_item_on_a_repository_without_an_environment_names_the_command(tmp_path: Path) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "pytest_convcode.sandbox", "serve", "--repo", "django==4.0.4"],
        capture_output=True,
        text=True,
        timeout=START_SECONDS,
        env={**os.environ, "CONVCODE_CACHE": str(tmp_path / "cache")},
    )
    assert refused.returncode == 2
    assert "python -m pytest_convcode.env repo django==4.0.4" in refused.stderr


def test_the_kubernetes_manifest_runs_the_serve_command_behind_its_service() -> None:
    """deploy/sandbox-service.yaml parses, and what it runs is this serve command, on the port its
    Service and probes name, with the token from its Secret."""
    yaml = pytest.importorskip("yaml")
    service, deployment = yaml.safe_load_all((ROOT / "deploy" / "sandbox-service.yaml").read_text())
    assert (service["kind"], deployment["kind"]) == ("Service", "Deployment")
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"] == pod["metadata"]["labels"] == deployment["spec"]["selector"]["matchLabels"]
    (container,) = pod["spec"]["containers"]
    command = container["command"]
    assert command[:4] == ["python", "-m", "pytest_convcode.sandbox", "serve"]
    args = serve.parser().parse_args(command[4:])
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["containerPort"] == args.port
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": args.port}
    (mount,) = container["volumeMounts"]
    assert args.token_file.parent == Path(mount["mountPath"])
    assert pod["spec"]["volumes"][0]["secret"]["secretName"] == "convcode-sandbox-token"
