"""The ``docker`` sandbox backend: the process backend's warm worker, in a hardened container.

A sandbox keeps one container for its life, started from an image made on this machine
(``images.py``, ``python -m pytest_convcode.sandbox build-image``): no network, a read-only root,
a tmpfs /tmp (where the worker makes each job's directory), every capability dropped, an
unprivileged user, no new privileges, memory and process limits. Its first process is the relay
(``_relay.py``), which starts the worker and carries jobs and answers over the container's attached
stdin and stdout (``attached.py``); jobs go to that warm worker, not one ``docker run`` each
(``bench/sandbox_backends.py`` measures both). Everything else, the job's form, its answer and
the verdict, is the process backend's.

Inside, the worker has no namespaces of its own and no uid per job (both need privileges the
container dropped): the container is the network, process and memory isolation, and Landlock
confines each job's files and signals (where the daemon's seccomp profile lets it through). A test
or command job, which would have a private view of its own, gets what one allows in the container's
/tmp, /dev/shm, /proc and loopback (``_worker/isolation.container_view``); ``warnings`` says what
holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Sequence
from typing import Any, cast

from ..errors import InfrastructureError, UsageError
from .attached import AttachedRelay
from .images import BUILD_COMMAND, IMAGE_SANDBOX, PYTHON_LABEL, RECIPE_LABEL, SOURCES_LABEL, USER, sources_hash
from .interface import GiB
from .process import BOOTSTRAP, ProcessSandbox

RELAY = f"{IMAGE_SANDBOX}/_relay.py"
MEMORY_BYTES = 8 * GiB  # the container's, all its jobs and its /tmp together (each process: Limits.memory_bytes)
TMP_BYTES = 2 * GiB
PIDS = 256  # the container's processes and threads, all its jobs together
LABEL = "convcode.sandbox"  # on every container this backend starts


class DockerSandbox(ProcessSandbox):
    name = "docker"

    def __init__(
        self, python: str = sys.executable, preload: Sequence[str] = (), image: str | None = None, host: str = ""
    ) -> None:
        """``image``: a tag (default: the newest image this version's worker runs in whose interpreter
        is ``python``, else the base one); ``host``: the daemon's URL (default: DOCKER_HOST, else the
        local socket)."""
        super().__init__(python, preload)
        self.image, self.host = image, host
        self.container = ""
        self._client: Any = None

    # -- the container's life cycle, in place of the worker process's

    def _start(self) -> socket.socket:
        self._remove()
        client = self.client()
        image = find_image(client, self.python, self.image)
        worker = ["-s", "-c", BOOTSTRAP, IMAGE_SANDBOX, "{fd}", *self.preload]
        api = client.api
        created = api.create_container(
            image.id,
            [image.labels[PYTHON_LABEL], "-s", RELAY, *worker],
            user=USER,
            stdin_open=True,  # and, attached, stdin once: our end closes, the relay and the container end
            labels={LABEL: f"{socket.gethostname()}:{os.getpid()}"},
            host_config=api.create_host_config(**hardened()),
        )
        self.container = created["Id"]
        relay = AttachedRelay(
            api.attach_socket(self.container, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        )
        api.start(self.container)
        hello = relay.hello()
        if not hello:
            raise InfrastructureError(f"the sandbox container of {image.tags[0]} exited at start")
        self.isolation = json.loads(hello)
        # it stands in for the worker's socket: the process backend calls sendmsg, sendall and close
        self._sock = cast(socket.socket, relay)
        return self._sock

    def close(self) -> None:
        super().close()
        self._remove()

    def _remove(self) -> None:
        if self.container:
            with contextlib.suppress(Exception):  # gone already: it removes itself when it ends
                self._client.api.remove_container(self.container, force=True)
            self.container = ""

    def client(self) -> Any:
        """The daemon's docker client, connected at first use."""
        if self._client is None:
            self._client = connect(self.host)
        return self._client

    def warnings(self) -> list[str]:
        """What holds beside the container itself (no network, a read-only image, no capabilities, an
        unprivileged user): of the worker's own isolation per job, what the container allows."""
        with self._lock:
            if self._sock is None:
                self._start()
        out = []
        if not self.isolation.get("landlock"):
            out.append(
                "no Landlock in the container (the kernel, or the daemon's seccomp profile): a job can "
                "read the whole image and write anywhere in the container's /tmp"
            )
        out.append(
            "no namespaces or uid per job in the container: its jobs share its /tmp, /dev/shm, /proc and loopback, "
            f"and its limits on processes ({PIDS}) and memory ({MEMORY_BYTES // GiB} GiB)"
        )
        return out


def hardened() -> dict[str, Any]:
    """The container's host settings."""
    return {
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,exec,nosuid,nodev,size={TMP_BYTES},mode=1777"},  # jobs run what they write, as here
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": MEMORY_BYTES,
        "memswap_limit": MEMORY_BYTES,  # no swap
        "pids_limit": PIDS,
        "auto_remove": True,
    }


def connect(host: str = "", timeout: int = 60) -> Any:
    """A docker client of the daemon at ``host`` (default: DOCKER_HOST, else the local socket);
    ``timeout``: of each request, in seconds."""
    try:
        import docker
    except ImportError:
        raise UsageError("--sandbox docker needs the docker SDK: pip install 'pytest-convcode[docker]'") from None
    where = host or os.environ.get("DOCKER_HOST") or "the local socket"
    try:
        client = docker.DockerClient(base_url=host, timeout=timeout) if host else docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise InfrastructureError(
            f"no docker daemon answers at {where}: start dockerd, or name another with --docker-host ({exc})"
        ) from None
    return client


def find_image(client: Any, python: str, tag: str | None) -> Any:
    """The image to run: ``tag``, or the newest that runs this version's worker, with ``python`` as its
    interpreter if there is one (BigCodeBench's environment), else the base one."""
    import docker

    make = f"build it with `{BUILD_COMMAND} base` (or bigcodebench, repo:SPEC)"
    sources = sources_hash()
    if tag:
        try:
            image = client.images.get(tag)
        except docker.errors.ImageNotFound:
            raise InfrastructureError(f"no docker image {tag} on this daemon: {make}") from None
        if image.labels.get(SOURCES_LABEL) != sources:
            raise InfrastructureError(f"docker image {tag} holds another version's sandbox worker: {make}")
        return image
    images = client.images.list(filters={"label": f"{SOURCES_LABEL}={sources}"})
    fits = [i for i in images if i.labels.get(PYTHON_LABEL) == python]
    fits = fits or [i for i in images if i.labels.get(RECIPE_LABEL) == "base"]
    if not fits:
        raise InfrastructureError(f"no docker image of this version's sandbox worker: {make}")
    return max(fits, key=lambda image: image.attrs["Created"])
