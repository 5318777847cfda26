"""A language's toolchain on this machine: where its tools are, what a job needs to reach them (its
PATH, the paths outside /usr they read, their environment), and the one-line error, naming the
package and the command that installs it, when a tool is missing."""

from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import InfrastructureError
from .catalog import Language

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
SYSTEM_ROOTS = ("/usr/", "/bin/", "/lib/", "/lib64/")  # readable by every sandbox job already
INSTALL_COMMAND = "python -m pytest_convcode.env multipl-e --language {name}"


class MissingToolchain(InfrastructureError):
    """A language's compiler or runtime is not installed here: nothing a program could have caused."""


@dataclass(frozen=True)
class Toolchain:
    language: Language
    path: str  # the job's PATH: the tools' directories first
    readable: tuple[str, ...]  # paths outside the system's that the tools read
    env: tuple[tuple[str, str], ...]
    identity: str  # the tools' paths, sizes and times: a changed toolchain is timed again

    @property
    def environment(self) -> dict[str, str]:
        return {"PATH": self.path, **dict(self.env)}


def find(language: Language) -> Toolchain:
    """The language's toolchain here; ``MissingToolchain`` names what to install."""
    tools = [_on_path(language, name) for name in language.tools]
    dirs = list(dict.fromkeys(os.path.dirname(tool) for tool in tools))
    real = [os.path.realpath(tool) for tool in tools]
    readable = [os.path.dirname(os.path.dirname(t)) for t in real if not t.startswith(SYSTEM_ROOTS)]  # its tree
    readable += sorted(p for pattern in language.readable for p in glob.glob(pattern))
    stats = [f"{t}:{os.stat(t).st_size}:{os.stat(t).st_mtime_ns}" for t in real]
    return Toolchain(
        language,
        path=":".join([*dirs, SYSTEM_PATH]),
        readable=tuple(dict.fromkeys(readable)),
        env=language.env,
        identity=" ".join(stats),
    )


def _on_path(language: Language, name: str) -> str:
    """The first ``name`` on PATH that the sandbox's users can reach: a job runs under a uid of its
    own, and a tool under /root (rustup's, pyenv's) fails there, so the next one on PATH is used."""
    unreachable = ""
    for directory in os.environ.get("PATH", SYSTEM_PATH).split(os.pathsep):
        found = os.path.join(os.path.abspath(directory or "."), name)
        if os.path.isfile(found) and os.access(found, os.X_OK):
            if reachable(found):
                return found
            unreachable = unreachable or found
    raise _missing(language, name, unreachable)


def reachable(path: str) -> bool:
    """Every other user may walk to ``path`` (each directory above it is searchable by all)."""
    real = Path(os.path.realpath(path))
    return all(os.stat(directory).st_mode & stat.S_IXOTH for directory in real.parents)


def _missing(language: Language, tool: str, unreachable: str = "") -> MissingToolchain:
    where = f"lacks (it has {unreachable}, which the sandbox's users cannot reach)" if unreachable else "lacks"
    if language.packages:
        how = f"`{INSTALL_COMMAND.format(name=language.name)}` (apt-get install {' '.join(language.packages)})"
    else:
        how = f"its toolchain (Debian packages none: {language.install}) with {tool} on PATH"
    return MissingToolchain(f"MultiPL-E {language.title} needs {tool}, which this machine {where}: install {how}")


def installed(language: Language) -> bool:
    try:
        find(language)
    except MissingToolchain:
        return False
    return True
