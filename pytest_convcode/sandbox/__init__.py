"""Sandboxes run untrusted code: the interface (``interface.py``), the backend registry
(``registry.py``), the ``process`` backend (``process.py``, which starts the worker in
``_worker/``), and what the trusted side needs of the outputs that come back (``_codec.py``).
"""

from . import process  # noqa: F401 - registers the "process" backend
from ._codec import FLOATS, HAS_NAN, describe_output, dump_output, is_floats, load_output
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
    "SuiteResult",
    "TestJob",
    "TestOutcome",
    "TestStatus",
    "backend",
    "describe_output",
    "dump_output",
    "is_floats",
    "load_output",
]


def backend(name: str) -> SandboxFactory:
    """The factory of a sandbox backend (the built-in ones registered on import, above)."""
    return SANDBOXES.get(name)
