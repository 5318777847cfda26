"""Sandboxes run untrusted code: the interface (``interface.py``), the backend registry
(``registry.py``), the ``process`` backend (``process.py``, which starts the worker in
``_worker/``), the ``rest`` backend (``rest.py``: sandbox services, ``service.py``, spread over
hosts by ``hosts.py``), the ``docker`` backend (``docker.py``: the worker in a container of an image
``images.py`` made; ``docker_hosts.py``: several daemons), and what the trusted side needs of the
outputs that come back (``_codec.py``).
"""

from . import docker_hosts, process, rest  # noqa: F401 - register the "docker", "process" and "rest" backends
from ._codec import FLOATS, HAS_NAN, describe_output, dump_output, is_floats, load_output
from .hosts import Spread, add_jobs
from .interface import (
    Call,
    CallJob,
    CommandJob,
    CommandResult,
    Ending,
    ExecResult,
    GiB,
    Limits,
    MiB,
    Sandbox,
    SuiteResult,
    TestJob,
    TestOutcome,
    TestStatus,
)
from .registry import SANDBOXES, SandboxFactory

__all__ = [
    "FLOATS",
    "HAS_NAN",
    "SANDBOXES",
    "Call",
    "CallJob",
    "CommandJob",
    "CommandResult",
    "Ending",
    "ExecResult",
    "GiB",
    "Limits",
    "MiB",
    "Sandbox",
    "SandboxFactory",
    "Spread",
    "SuiteResult",
    "TestJob",
    "TestOutcome",
    "TestStatus",
    "add_jobs",
    "backend",
    "describe_output",
    "dump_output",
    "is_floats",
    "load_output",
]


def backend(name: str) -> SandboxFactory:
    """The factory of a sandbox backend (the built-in ones registered on import, above)."""
    return SANDBOXES.get(name)
