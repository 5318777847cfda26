"""The docker sandbox's images, made from this machine's own files (never pulled): a root filesystem
of an interpreter (its install, a virtual environment, a repository's tree, each at the path it has
here), the shared libraries they load (``ldd``), a shell and the core utilities (Debian's packages'
files), a few files of /etc, and the sandbox's worker; streamed as a tar into ``docker import``.

A recipe names what goes in: ``base`` (the interpreter this project runs on, standard library only),
``bigcodebench`` (the environment ``python -m pytest_convcode.env bigcodebench`` made) or
``repo:SPEC`` (a repository's environment and tree, ``python -m pytest_convcode.env repo SPEC``).
The tag is the project's version and a hash of every input (path, size, mtime, mode): a build whose
inputs did not change finds its image and stops there.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from ..errors import InfrastructureError, UsageError
from ..machine_cache import cache_home

PACKAGE = Path(__file__).resolve().parent.parent  # never in an image: its data holds the reference solutions
SANDBOX = Path(__file__).resolve().parent
IMAGE_SANDBOX = "/opt/pytest_convcode/sandbox"  # where the image keeps the worker, the codec and the relay
SANDBOX_FILES = ("_codec.py", "_relay.py", "_worker/*.py")
USER = "65534:65534"  # nobody: jobs run unprivileged
VERSION = importlib.metadata.version("pytest-convcode")
BUILD_COMMAND = "python -m pytest_convcode.sandbox build-image"
ENV_COMMAND = "python -m pytest_convcode.env"  # which makes the environments a recipe names
# Debian packages whose files every image holds: what candidates' shell commands and tests use
SYSTEM_PACKAGES = (
    *("dash", "bash", "coreutils", "debianutils", "grep", "sed", "findutils", "procps"),
    *("tar", "gzip", "zip", "unzip", "tzdata", "media-types", "ncurses-base"),
)
LEFT_OUT = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/lintian/*")
# of an interpreter's install: what jobs do not run (a virtual environment brings its own site-packages)
LEFT_OUT_OF_INSTALL = ("lib/python3*/site-packages", "lib/python3*/test", "lib/python3*/config-*", "include", "share")
ETC = {
    "passwd": "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n",
    "group": "root:x:0:\nnogroup:x:65534:\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    "hosts": "127.0.0.1 localhost\n::1 localhost\n",
}
COPIED_ETC = ("/etc/ld.so.cache", "/etc/mime.types", "/etc/localtime")
LDD_BATCH = 200
MAX_LINKS = 40  # followed on one path, as the kernel's limit
LIBRARY = re.compile(r"(/\S+) \(0x[0-9a-f]+\)")
# image labels: what the backend finds an image by
RECIPE_LABEL, PYTHON_LABEL, SOURCES_LABEL = "convcode.recipe", "convcode.python", "convcode.sources"


@dataclass(frozen=True)
class Recipe:
    name: str  # base, bigcodebench, repo:SPEC
    python: str  # the interpreter that runs jobs, at its path here and in the image
    install: str  # its install's prefix (sys.base_prefix): copied less LEFT_OUT_OF_INSTALL
    roots: tuple[str, ...] = ()  # directories copied whole: a virtual environment, a repository's tree

    @property
    def repository(self) -> str:
        return "convcode-" + re.sub(r"[^a-z0-9._-]+", "-", self.name.lower()).strip("-.")


@dataclass(frozen=True)
class Built:
    tag: str
    seconds: float
    files: int
    new: bool  # False: an image with this tag (the same inputs) was there


def recipe(name: str) -> Recipe:
    """The recipe a ``build-image`` argument names; UsageError naming the command that makes a
    missing environment."""
    if name == "base":
        return _recipe(name, f"{sys.base_prefix}/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if name == "bigcodebench":
        record = _record(name, [cache_home() / "envs" / "bigcodebench.json"], "bigcodebench")
        return _recipe(name, record["python"], str(Path(record["python"]).parent.parent))
    if name.startswith("repo:"):
        spec = name.removeprefix("repo:")
        records = [r for r in (cache_home() / "envs").glob("repo-*.json") if _spec_of(r) == spec]
        record = _record(name, records, f"repo {spec}")
        return _recipe(name, record["python"], str(Path(record["python"]).parent.parent), record["tree"])
    raise UsageError(f"{name}: not an image recipe (base, bigcodebench or repo:SPEC)")


def _recipe(name: str, python: str, *roots: str) -> Recipe:
    done = subprocess.run([python, "-c", "import sys; print(sys.base_prefix)"], capture_output=True, text=True)
    if done.returncode:
        raise UsageError(f"{name}: {python} does not run ({done.stderr.strip()})")
    return Recipe(name, python, done.stdout.strip(), roots)


def _record(name: str, paths: list[Path], make: str) -> dict[str, Any]:
    """The first of ``paths``: an environment's record, whose interpreter is there."""
    try:
        found: dict[str, Any] = json.loads(paths[0].read_text()) if paths else {}
    except (OSError, ValueError):
        found = {}
    if not isinstance(found.get("python"), str) or not Path(found["python"]).exists():
        raise UsageError(f"{name}: no such environment here; make it with `{ENV_COMMAND} {make}`")
    return found


def _spec_of(record: Path) -> str | None:
    try:
        spec = json.loads(record.read_text()).get("spec")
    except (OSError, ValueError, AttributeError):
        return None
    return spec if isinstance(spec, str) else None


# ---------------------------------------------------------------- what goes in


def sandbox_files() -> dict[str, bytes]:
    """The worker, the codec and the relay: path in the image -> content."""
    files = sorted(p for pattern in SANDBOX_FILES for p in SANDBOX.glob(pattern))
    return {f"{IMAGE_SANDBOX}/{p.relative_to(SANDBOX)}": p.read_bytes() for p in files}


def sources_hash() -> str:
    """Of the sandbox files: an image whose worker speaks this version's wire carries it as a label."""
    digest = hashlib.sha256()
    for path, content in sandbox_files().items():
        digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()[:16]


def host_paths(recipe: Recipe) -> list[str]:
    """Every file, symlink and directory of this machine the image holds, sorted."""
    paths = set(_walk(recipe.install, LEFT_OUT_OF_INSTALL))
    for root in recipe.roots:
        paths.update(_walk(root, ()))
    paths.update(p for p in _package_files(SYSTEM_PACKAGES) if not any(fnmatch(p, g) for g in LEFT_OUT))
    paths.update(p for p in COPIED_ETC if os.path.lexists(p))
    binaries = [p for p in paths if _maybe_elf(p)]
    paths.update(_libraries([recipe.python, *binaries]))
    return sorted({link for path in paths for link in _chain(path)})


def _walk(root: str, left_out: tuple[str, ...]) -> Iterator[str]:
    package = str(PACKAGE)
    for top, dirs, files in os.walk(root):
        rel = os.path.relpath(top, root)
        dirs[:] = [
            d
            for d in dirs
            if os.path.join(top, d) != package and not any(fnmatch(os.path.normpath(f"{rel}/{d}"), g) for g in left_out)
        ]
        yield top
        yield from (os.path.join(top, name) for name in files)
        yield from (os.path.join(top, d) for d in dirs if os.path.islink(os.path.join(top, d)))


def _package_files(packages: Iterable[str]) -> list[str]:
    """The files Debian's packages installed (none where dpkg is not there, or a package is not)."""
    try:
        done = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True)
    except FileNotFoundError:
        return []
    return [line for line in done.stdout.splitlines() if line.startswith("/") and os.path.isfile(line)]


def _maybe_elf(path: str) -> bool:
    name = os.path.basename(path)
    return (".so" in name or "/bin/" in path) and os.path.isfile(path) and not os.path.islink(path)


def _libraries(binaries: list[str]) -> set[str]:
    """The shared libraries these binaries load, as this machine's loader finds them."""
    found = set()
    for start in range(0, len(binaries), LDD_BATCH):
        done = subprocess.run(["ldd", *binaries[start : start + LDD_BATCH]], capture_output=True, text=True)
        found.update(LIBRARY.findall(done.stdout))
    return found


def _chain(path: str, depth: int = 0) -> list[str]:
    """``path`` and the symlinks on its way (a merged /usr's /lib64, a library's soname link, a
    library ``ldd`` found through ``$ORIGIN/..``), each added as it is, so that the image resolves
    the path as this machine does."""
    current, parts = "/", Path(path).parts[1:]
    for i, part in enumerate(parts):
        current = os.path.dirname(current) if part == ".." else os.path.join(current, part)
        if os.path.islink(current) and depth < MAX_LINKS:
            target = os.path.join(os.path.dirname(current), os.readlink(current), *parts[i + 1 :])
            return [current, *_chain(target, depth + 1)]
    return [current] if os.path.lexists(current) else []


def inputs_hash(recipe: Recipe, paths: list[str], generated: dict[str, bytes]) -> str:
    digest = hashlib.sha256(f"{VERSION}\n{recipe}\n".encode() + Path(__file__).read_bytes())  # and how it is built
    for path in paths:
        info = os.lstat(path)
        link = os.readlink(path) if os.path.islink(path) else ""
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_mode}\0{link}\n".encode())
    for path, content in sorted(generated.items()):
        digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()[:12]


def generated_files() -> dict[str, bytes]:
    return {**{f"/etc/{name}": text.encode() for name, text in ETC.items()}, **sandbox_files()}


# ---------------------------------------------------------------- building


def build(client: Any, recipe: Recipe, log: Any = print) -> Built:
    """The image of ``recipe`` (a docker client's), made unless one with the same inputs is there."""
    start = time.monotonic()
    paths = host_paths(recipe)
    generated = generated_files()
    tag = f"{recipe.repository}:{VERSION}-{inputs_hash(recipe, paths, generated)}"
    if client.images.list(name=tag):
        return Built(tag, time.monotonic() - start, len(paths), new=False)
    log(f"building {tag} from {len(paths)} files of this machine")
    labels = {RECIPE_LABEL: recipe.name, PYTHON_LABEL: recipe.python, SOURCES_LABEL: sources_hash()}
    changes = [f"USER {USER}", "WORKDIR /tmp", "ENV LANG=C.UTF-8"]
    changes += [f"LABEL {key}={json.dumps(value)}" for key, value in labels.items()]
    read_end, write_end = os.pipe()
    failed: list[OSError] = []

    def write() -> None:
        try:
            _write_tar(write_end, paths, generated)
        except OSError as exc:  # a file gone meanwhile, or the daemon stopped reading
            failed.append(exc)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    repository, version = tag.split(":")
    try:
        with os.fdopen(read_end, "rb") as stream:
            client.api.import_image_from_stream(stream, repository=repository, tag=version, changes=changes)
    except OSError as exc:  # the SDK's APIError is one
        raise InfrastructureError(f"docker import of {tag} failed: {exc}") from None
    finally:
        writer.join()
    if failed:  # a tar cut short at a file's boundary reads as a whole one
        client.images.remove(tag)
        raise InfrastructureError(f"the files of {tag} could not all be read: {failed[0]}")
    return Built(tag, time.monotonic() - start, len(paths), new=True)


def _write_tar(fd: int, paths: list[str], generated: dict[str, bytes]) -> None:
    with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w|") as tar:
        tar.addfile(_info("/tmp", tarfile.DIRTYPE, 0o1777))  # the mount point of the container's tmpfs
        made = {"/", "/tmp"}
        for path in [*paths, *generated]:
            if path in made:
                continue
            for parent in reversed(Path(path).parents):
                if str(parent) not in made:  # a folder on the way: traversable, whatever it is here (/root)
                    made.add(str(parent))
                    tar.addfile(_info(str(parent), tarfile.DIRTYPE, 0o755))
            made.add(path)
            if path in generated:
                content = generated[path]
                info = _info(path, tarfile.REGTYPE, 0o644)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                tar.add(path, arcname=path.lstrip("/"), recursive=False, filter=_owned_by_root)


def _info(path: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.type, info.mode, info.mtime = kind, mode, 0
    return info


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Root's, readable by all (the image is read-only): no set-uid bits, no private files."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if info.isdir():
        info.mode = 0o755
    elif info.isreg():
        info.mode = 0o755 if info.mode & 0o111 else 0o644
    return info
