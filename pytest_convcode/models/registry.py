"""The model registry: ``--model NAME[:ARGUMENT]`` picks a factory by NAME.

A leaf module, so that each backend can register itself here without importing back whoever
resolves a ``--model`` value (``resolve.py``)."""

from __future__ import annotations

from collections.abc import Callable

from ..registry import Registry
from .interface import Model, ModelSettings

ModelFactory = Callable[[str | None, ModelSettings], Model]
MODELS: Registry[ModelFactory] = Registry("model")
