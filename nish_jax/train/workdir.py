"""A run directory belongs to one configuration, and to one process at a time.

:func:`lock` holds ``workdir.lock`` (``flock``) for the whole run: a second process fails at once,
and the kernel drops the lock of a process that dies, so a left-over file never blocks.
:func:`check_config` refuses a config whose runs would compute something else than the run the
directory holds (its ``config.json``), and :func:`check_steps` one that asks for fewer steps than
were trained: resuming either would report results of a run nobody asked for.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from nish_jax.train.config import changes_computation, config_differences
from nish_jax.train.metrics import STREAMS

if TYPE_CHECKING:
    import ml_collections

LOCK_FILE = "workdir.lock"
CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
_START_FRESH = (
    "to start fresh use a new workdir, or overwrite=True (--overwrite), which deletes this "
    "one's checkpoints and metrics"
)


class WorkdirBusyError(RuntimeError):
    """Another process is training in the workdir."""


class WorkdirMismatchError(ValueError):
    """The workdir holds a run the requested config cannot continue."""


@contextlib.contextmanager
def lock(workdir: str) -> Iterator[None]:
    """Hold the workdir's lock (creating the directory) or raise :class:`WorkdirBusyError`."""
    os.makedirs(workdir, exist_ok=True)
    descriptor = os.open(os.path.join(workdir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise WorkdirBusyError(
                f"workdir {workdir} is in use by another process (pid {holder}); one process "
                "trains in a workdir at a time: wait for it, or stop it"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _has_checkpoints(workdir: str) -> bool:
    directory = os.path.join(workdir, CHECKPOINT_DIR)
    return os.path.isdir(directory) and any(os.scandir(directory))


def check_config(config: ml_collections.ConfigDict, workdir: str) -> list[tuple[str, Any, Any]]:
    """Raise :class:`WorkdirMismatchError` listing every computation key whose value differs
    from the workdir's config.json (or when its checkpoints have no config.json to check).

    Returns the differences that change no step (bookkeeping keys, a longer run), for the caller
    to mention once the run goes ahead.
    """
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        if _has_checkpoints(workdir):
            raise WorkdirMismatchError(
                f"workdir {workdir} holds checkpoints but no {CONFIG_FILE}, so nothing shows "
                f"which configuration they belong to; {_START_FRESH}"
            )
        return []
    try:
        with open(path) as file:
            stored = json.load(file)
    except ValueError as error:
        raise WorkdirMismatchError(f"{path} is not valid JSON ({error}); {_START_FRESH}") from None
    differences = config_differences(stored, config)
    mismatches = [
        difference for difference in differences if changes_computation(difference[0], config)
    ]
    if mismatches:
        lines = "".join(
            f"\n  {key}: {old!r} (workdir) -> {new!r} (requested)" for key, old, new in mismatches
        )
        raise WorkdirMismatchError(
            f"workdir {workdir} holds a run of another configuration:{lines}\n"
            f"A workdir belongs to one configuration; {_START_FRESH}."
        )
    return differences


def describe_changes(workdir: str, differences: list[tuple[str, Any, Any]]) -> str:
    """One line naming the accepted differences of a resumed run."""
    changes = ", ".join(f"{key} {old!r} -> {new!r}" for key, old, new in differences)
    return f"{workdir}: resuming with {changes} (these change no training step)"


def check_steps(workdir: str, trained_steps: int, total_steps: int, steps_per_epoch: int) -> None:
    """Raise :class:`WorkdirMismatchError` when the workdir's run is past ``total_steps``: its
    earlier states are gone, and its later one is not the run asked for."""
    if trained_steps <= total_steps:
        return
    raise WorkdirMismatchError(
        f"workdir {workdir} holds a run trained to step {trained_steps} "
        f"(epoch {math.ceil(trained_steps / steps_per_epoch)}), past the {total_steps} steps "
        f"(num_epochs={total_steps // steps_per_epoch}) asked for; ask for num_epochs >= "
        f"{math.ceil(trained_steps / steps_per_epoch)}, or {_START_FRESH}"
    )


def clear(workdir: str) -> None:
    """Delete what the engine wrote in ``workdir``: config, checkpoints and metric files."""
    shutil.rmtree(os.path.join(workdir, CHECKPOINT_DIR), ignore_errors=True)
    names = [
        CONFIG_FILE,
        *(f"{stream}.{suffix}" for stream in STREAMS for suffix in ("jsonl", "csv")),
    ]
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(workdir, name))


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Write ``config.json`` (atomically: a kill never leaves half a file)."""
    path = os.path.join(workdir, CONFIG_FILE)
    with open(path + ".tmp", "w") as file:
        json.dump(config.to_dict(), file, indent=2, sort_keys=True, default=list)
        file.write("\n")
    os.replace(path + ".tmp", path)
