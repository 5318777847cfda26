"""Data sets on the Hugging Face hub, read through the ``datasets`` library: ``--dataset hf:NAME@VERSION``.

BigCodeBench publishes its versions as the *splits* of one data set (``bigcode/bigcodebench``,
splits ``v0.1.0_hf`` ... ``v0.1.4``) and its own harness loads
``load_dataset("bigcode/bigcodebench", split=version)``; so ``hf:NAME@v0.1.4`` reads split
``v0.1.4`` at the hub's current revision, as a BigCodeBench user expects. To pin the hub's git
revision as well, name the split after it: ``hf:NAME@REVISION:SPLIT`` (a branch, tag or commit).
NAME may be a local folder in the hub's layout (``data/<split>-00000-of-00001.parquet``).
Offline (``HF_HUB_OFFLINE=1`` or ``HF_DATASETS_OFFLINE=1``) the rows come from ``datasets``'
local cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

INSTALL = "pip install 'pytest-convcode[hub]'"
FORM = "hf:NAME@VERSION or hf:NAME@REVISION:SPLIT (e.g. hf:bigcode/bigcodebench@v0.1.4)"


@dataclass(frozen=True)
class HubSpec:
    """What ``--dataset`` names: the data set, its split, and the hub revision (None: the current one)."""

    text: str  # as given: the source that summary.json records
    name: str
    split: str
    revision: str | None

    @property
    def version(self) -> str:
        """The data version the records name: the split without its "v" (as the bundled "0.1.0_hf"),
        with the revision when one is pinned."""
        version = self.split.removeprefix("v")
        return f"{version}@{self.revision}" if self.revision else version


def parse_spec(text: str) -> HubSpec:
    """``hf:NAME@VERSION`` or ``hf:NAME@REVISION:SPLIT``; anything else is a UsageError saying the form."""
    name, at, rest = text.removeprefix("hf:").rpartition("@")
    first, colon, split = rest.partition(":")  # VERSION, or REVISION:SPLIT
    if not text.startswith("hf:") or not at or not name or not first or (colon and not split):
        raise UsageError(f"--dataset {text!r}: expected {FORM}")
    return HubSpec(text, name, split, first) if colon else HubSpec(text, name, first, None)


@dataclass(frozen=True)
class HubRows:
    spec: HubSpec
    rows: list[dict[str, Any]]
    digest: str  # sha256 of the rows as JSON lines (sorted keys): the same data, the same digest


def load_rows(spec: HubSpec) -> HubRows:
    """The split's rows, from the hub, a local folder, or ``datasets``' cache when offline; a
    one-line UsageError naming what is missing."""
    datasets = _datasets()
    try:
        data = datasets.load_dataset(spec.name, split=spec.split, revision=spec.revision)
    except ConnectionError:
        raise UsageError(_unreachable(spec, datasets.config.HF_HUB_OFFLINE)) from None
    except Exception as exc:  # datasets raises many kinds: no such data set, split or revision
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"--dataset {spec.text}: could not be read ({message})") from None
    rows = [dict(row) for row in data]
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    return HubRows(spec, rows, digest.hexdigest())


def _unreachable(spec: HubSpec, offline: bool) -> str:
    at = f" at revision {spec.revision}" if spec.revision else ""
    what = f"split {spec.split} of {spec.name}{at}"
    if offline:
        return (
            f"--dataset {spec.text}: {what} is not in the local datasets cache and the hub is off "
            "(HF_HUB_OFFLINE/HF_DATASETS_OFFLINE): run once online to cache it, or give a local copy as hf:DIR@SPLIT"
        )
    return (
        f"--dataset {spec.text}: {what} is not in the local datasets cache and the hub cannot be reached: "
        "run once with a network to cache it, or give a local copy as hf:DIR@SPLIT"
    )


def _datasets() -> Any:
    """The ``datasets`` library, imported only when a hub data set is read."""
    try:
        import datasets
    except ImportError:
        raise UsageError(f"--dataset hf:... needs the datasets library: {INSTALL}") from None
    datasets.disable_progress_bars()
    return datasets
