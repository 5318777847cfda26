"""Turning a model's reply into the program to run.

Chat models answer in prose with Markdown code blocks, often after a reasoning
section, and add things that are not the answer: example calls and prints, a
block of tests, a ``pip install``. Completion models continue the prompt, but
servers may echo it or run past the stop sequences. The rules here undo those
so that the judge runs the code the model meant; they are kept simple so that a
surprising verdict can be traced by reading the reply.

Standard library only: the syntax questions are answered by ``compile``, and
which names a piece of code reads from module scope by ``symtable``.

``chat`` finds the code in a chat reply, ``completion`` in a completion model's
continuation; both hand it to ``sanitize``, which keeps what the program defines
and borrows what it lacks, and which holds their result type, ``Extraction``.
"""

from .chat import drop_reasoning, from_chat
from .completion import from_completion
from .sanitize import Extraction

__all__ = ["Extraction", "drop_reasoning", "from_chat", "from_completion"]
