"""Where a repository's source tree comes from: a PyPI sdist pinned by version (``django==4.0.4``),
downloaded by pip and unpacked once into the machine's cache, or a local checkout's folder, used
where it is. A pinned sdist is the same bytes on every machine, so what is mined from it is too."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..machine_cache import cache_home

_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")


@dataclass(frozen=True)
class Source:
    spec: str  # as the user gave it: "django==4.0.4", or a checkout's path
    key: str  # names its tree and environment in the cache: "django-4.0.4", "mylib-3f2a9c1e"
    tree: Path  # the source tree's root
    sdist: str  # "django==4.0.4"; "" for a local checkout

    @property
    def local(self) -> bool:
        return not self.sdist


def locate(spec: str) -> Source:
    """Where ``spec``'s tree is (or will be, once ``fetch``\\ ed): no download."""
    if pinned := _PINNED.match(spec):
        name, version = pinned.group(1).lower().replace("_", "-"), pinned.group(2)
        return Source(spec, f"{name}-{version}", cache_home() / "repos" / f"{name}-{version}", f"{name}=={version}")
    path = Path(spec).expanduser()
    if "/" in spec or path.is_dir():
        tree = path.resolve()
        digest = hashlib.sha256(str(tree).encode()).hexdigest()[:8]
        return Source(spec, f"{tree.name}-{digest}", tree, "")
    raise UsageError(
        f"repository {spec!r}: name a PyPI sdist pinned to a version (django==4.0.4) or a checkout's path (./mylib)"
    )


def fetch(spec: str) -> Source:
    """The source, its tree on disk: a local checkout as it is; an sdist downloaded and unpacked
    into the cache unless it is there already."""
    source = locate(spec)
    if source.local:
        if not source.tree.is_dir():
            raise UsageError(f"repository {spec}: no such folder")
        return source
    if not source.tree.is_dir():
        source.tree.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=source.tree.parent, prefix=f".{source.key}-") as scratch:
            archive = _download(source.sdist, Path(scratch) / "download")
            root = _unpack(archive, Path(scratch) / "unpacked")
            root.rename(source.tree)  # whole or not at all: an interrupted unpacking leaves no tree
    return source


def _download(sdist: str, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "--quiet"]
    command += ["--disable-pip-version-check", "--dest", str(into), sdist]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    archives = sorted(into.glob("*")) if into.is_dir() else []
    if done.returncode != 0 or len(archives) != 1:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise UsageError(f"repository {sdist}: pip could not download its sdist from PyPI: {why[0]}")
    return archives[0]


def _unpack(archive: Path, into: Path) -> Path:
    """Unpack an sdist (tar.gz or zip): the single folder at its top."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(into)
    else:
        with tarfile.open(archive) as opened:
            opened.extractall(into, filter="data")
    tops = list(into.iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        shutil.rmtree(into)
        raise UsageError(f"{archive.name}: an sdist holds one folder at its top; this one holds {len(tops)} entries")
    return tops[0]
