"""The sandbox registry: ``--sandbox NAME`` picks a backend's factory by NAME.

A leaf module, so that each backend can register itself here without importing back whoever
looks a name up (``backend`` in the package).
"""

from __future__ import annotations

from collections.abc import Callable

from ..registry import Registry
from .interface import Sandbox

SandboxFactory = Callable[..., Sandbox]
SANDBOXES: Registry[SandboxFactory] = Registry("sandbox backend")
