"""Checkpoints of the whole training state with orbax, each sealed by a list of file checksums.

orbax writes a checkpoint aside and renames it when complete; after that the main process writes
``checksums.json`` (SHA-256 of every file) into it. A checkpoint is intact when its files match
that list: a missing list (the process died right after the rename) or a truncated or altered file
makes it damaged, found before orbax reads anything (orbax reading a damaged checkpoint fails
with pages of asynchronous tracebacks).

orbax does not store typed PRNG keys: a checkpoint holds their key data (uint32), and a restore
with a template wraps it back into keys of the template's implementation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

import jax

from nish_jax.train._optional import import_train_dependency
from nish_jax.train.state import TrainState

CHECKSUMS_FILE = "checksums.json"
_log = logging.getLogger(__name__)


class NoIntactCheckpointError(RuntimeError):
    """Every checkpoint of a directory is damaged: there is nothing to resume from."""


def _is_key(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _key_data(tree: Any) -> Any:
    """``tree`` with every typed PRNG key replaced by its key data, which orbax can store."""
    return jax.tree_util.tree_map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _wrap_keys(restored: Any, template: Any) -> Any:
    """``restored`` with the key data where ``template`` has typed keys wrapped back into keys."""
    return jax.tree_util.tree_map(
        lambda t, x: jax.random.wrap_key_data(x, impl=jax.random.key_impl(t)) if _is_key(t) else x,
        template,
        restored,
    )


def _file_checksums(step_dir: str) -> dict[str, str]:
    """``{relative path: sha256}`` of every file of a checkpoint but the checksum list itself."""
    checksums = {}
    for root, _, files in os.walk(step_dir):
        for name in files:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, step_dir)
            if relative.startswith(CHECKSUMS_FILE):  # the list, or a list being written
                continue
            digest = hashlib.sha256()
            with open(path, "rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
            checksums[relative] = digest.hexdigest()
    return checksums


class Checkpointer:
    """Keeps the last ``keep`` checkpoints of a run directory, indexed by global step.

    Saves are synchronous: the state is donated to the next training step, so the arrays must be
    on disk (or at least on the host) before training goes on, and a kill right after a save
    leaves a complete checkpoint.
    """

    def __init__(self, directory: str, keep: int) -> None:
        self._ocp = import_train_dependency("orbax.checkpoint", "Checkpointer")
        self.directory = os.path.abspath(directory)
        self._manager = self._ocp.CheckpointManager(
            self.directory,
            options=self._ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=True, enable_async_checkpointing=False
            ),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def step_dir(self, step: int) -> str:
        return os.path.join(self.directory, str(step))

    def save(self, state: TrainState) -> None:
        """Write ``state`` as the checkpoint of its step (nothing if that step is saved already).

        Args:
          state: the runs' stacked state; its typed keys are stored as their key data.
        """
        step = int(jax.device_get(state.step)[0])  # all runs share the step
        if step in self._manager.all_steps():
            return
        self._manager.save(step, args=self._ocp.args.StandardSave(_key_data(state)), force=True)
        if jax.process_index() == 0:
            checksums = _file_checksums(self.step_dir(step))
            path = os.path.join(self.step_dir(step), CHECKSUMS_FILE)
            with open(path + ".tmp", "w") as file:
                json.dump(checksums, file, indent=1, sort_keys=True)
            os.replace(path + ".tmp", path)

    def _damage(self, step: int) -> str | None:
        """What is wrong with the checkpoint of ``step``, or None when it is intact."""
        path = os.path.join(self.step_dir(step), CHECKSUMS_FILE)
        if not os.path.exists(path):
            return f"it has no {CHECKSUMS_FILE} (its save did not finish)"
        try:
            with open(path) as file:
                expected = json.load(file)
        except (OSError, ValueError) as error:
            return f"its {CHECKSUMS_FILE} is unreadable ({error})"
        actual = _file_checksums(self.step_dir(step))
        missing = sorted(expected.keys() - actual.keys())
        if missing:
            return f"{len(missing)} of its files are missing, e.g. {missing[0]}"
        changed = sorted(name for name in expected if actual[name] != expected[name])
        if changed:
            return f"{len(changed)} of its files differ from their checksums, e.g. {changed[0]}"
        return None

    def restore(self, template: TrainState | None = None) -> Any:
        """The newest intact checkpoint's state, with ``template``'s structure, shapes and
        shardings (typed keys included); without a template, the raw nested dict of arrays (for
        inspection; keys as their key data).

        Damaged newer checkpoints are deleted, each with a warning naming it, so that training
        from the restored step writes them again.

        Args:
          template: a state of the structure to restore (typically the initial state).

        Returns:
          The restored :class:`TrainState`, or a nested dict without a template.

        Raises:
          NoIntactCheckpointError: no checkpoint is intact (nothing is deleted then).
        """
        steps = self.all_steps()
        damaged = []
        for step in reversed(steps):
            problem = self._damage(step)
            if problem is None:
                break
            damaged.append((step, problem))
        else:
            details = "; ".join(f"step {step}: {problem}" for step, problem in damaged)
            raise NoIntactCheckpointError(
                f"no intact checkpoint in {self.directory} ({details or 'it holds none'}); "
                "start fresh with a new workdir or overwrite=True (--overwrite)"
            )
        for bad_step, problem in damaged:
            _log.warning(
                "checkpoint %s is damaged (%s); deleted it, resuming from step %d",
                self.step_dir(bad_step),
                problem,
                step,
            )
            self._manager.delete(bad_step)
        if template is None:
            return self._manager.restore(step, args=self._ocp.args.StandardRestore())
        abstract = jax.tree_util.tree_map(
            self._ocp.utils.to_shape_dtype_struct, _key_data(template)
        )
        restored = self._manager.restore(step, args=self._ocp.args.StandardRestore(abstract))
        return _wrap_keys(restored, template)

    def close(self) -> None:
        self._manager.close()
