"""Models answer tasks: the ``Model`` interface (``interface.py``), the registry of backends
(``registry.py``) and ``resolve``, which turns a ``--model`` value into one (``resolve.py``)."""

from .interface import Answer, Message, Model, ModelSettings, Request
from .resolve import project_aliases, resolve

__all__ = ["Answer", "Message", "Model", "ModelSettings", "Request", "project_aliases", "resolve"]
