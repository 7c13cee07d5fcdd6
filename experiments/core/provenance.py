"""Where a result comes from: the identity of its data and starting weights, the device it ran
on, and the machine that published it.

Identities are content digests (sha256 of the bytes, independent of where the files lie), so a
record means the same on every machine and another copy of a data set is another identity.
Paths that reach a committed file are symbolic (``$NISH_DATA_DIR/mnist``), never absolute.
"""

from __future__ import annotations

import collections
import datetime
import functools
import hashlib
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections

from nish_jax.data import DATA_DIR_ENV, data_dirs
from nish_jax.train import machine


@functools.cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def content_digest(paths: Iterable[str | os.PathLike]) -> str:
    """``sha256:<16 hex>`` of the contents of the files at ``paths`` (a folder: every file in
    it), independent of their names, places and order."""
    files = set()
    for path in map(Path, paths):
        files.update([p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path])
    digests = sorted(_file_digest(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if not digests:
        raise ValueError(f"no files to identify in {', '.join(map(str, paths))}")
    return "sha256:" + hashlib.sha256("\n".join(digests).encode()).hexdigest()[:16]


@functools.cache
def _data_sources(dataset: str, data_dir: str, search_path: str) -> tuple[str, ...]:
    from nish_jax.train.components import load_split

    config = ml_collections.ConfigDict(
        {"dataset": dataset, "data_dir": data_dir, "augmentation": {"image_size": 0}}
    )
    config.train_subset = config.test_subset = 0
    return tuple(sorted({load_split(config, split).source for split in ("train", "test")}))


def data_identity(train: ml_collections.ConfigDict) -> str:
    """The content digest of the files an engine config's training and test data are read
    from (where ``data_dir`` or ``NISH_DATA_DIR`` finds them now)."""
    search = os.environ.get(DATA_DIR_ENV, "")
    return content_digest(_data_sources(train.dataset, train.data_dir, search))


def init_identity(init_from: str) -> str:
    """The content digest of a starting-weights file, "" for a random initialisation."""
    return content_digest([init_from]) if init_from else ""


def device_kind() -> str:
    """What this process computes on (``"cpu"``, ``"NVIDIA H200"``, ``"TPU v5 lite"``)."""
    import jax

    return " + ".join(sorted({device.device_kind for device in jax.devices()}))


def symbolic_source(source: str) -> str:
    """``source`` (a Dataset's) with the data directory it was found in written as
    ``$NISH_DATA_DIR`` and the home directory as ``~``: never a machine's absolute path."""
    path = Path(source)
    for root in data_dirs():
        if path.is_relative_to(root):
            return str(Path(f"${DATA_DIR_ENV}") / path.relative_to(root))
    if path.is_relative_to(Path.home()):
        return str(Path("~") / path.relative_to(Path.home()))
    return path.name if path.is_absolute() else source


def machine_description() -> str:
    """Today's date and this machine in one line (the heading of every benchmark's report)."""
    import jax

    devices = machine.describe_devices(jax.devices())
    host = (  # a CPU backend's description already names the host
        ""
        if jax.default_backend() == "cpu"
        else f", host {machine.processor_name()}, {machine.cpu_details()}"
    )
    return f"{datetime.date.today()}, jax {jax.__version__}, {devices}{host}"


def machine_record(runs: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The date, machine and versions behind a result (meta.json); with ``runs`` that name where
    they were computed (a ``trained_on`` column), how many runs each machine computed."""
    import flax
    import jax
    import jaxlib
    import numpy as np
    import optax
    import scipy

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}",
        "processor": machine.processor_name(),
        "devices": machine.describe_devices(jax.devices()),
        "python": platform.python_version(),
        "versions": {
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "git_commit": git_commit(),
        **(
            {"trained_on": runs_per_machine(runs)}
            if any("trained_on" in row for row in runs)
            else {}
        ),
    }


def git_commit() -> str:
    """The checkout's commit, "" outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def runs_per_machine(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many runs each machine (a ``trained_on`` value) computed. A run is a (workdir, seed)
    where the rows name one: an experiment may write a row per layer, noise level or epoch budget
    of one run. Rows without a workdir are one run each."""

    machines = {}
    for index, row in enumerate(rows):
        run = (row["workdir"], row.get("seed")) if "workdir" in row else index
        machines.setdefault(run, row.get("trained_on", machine.NOT_RECORDED))
    return dict(collections.Counter(machines.values()))
