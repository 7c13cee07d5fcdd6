"""Checkpoints of the whole training state with orbax (atomic: written aside, then renamed)."""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

from nish_jax.train.state import TrainState


class Checkpointer:
    """Keeps the last ``keep`` checkpoints of a run directory, indexed by global step.

    Saves are synchronous: the state is donated to the next training step, so the arrays must be
    on disk (or at least on the host) before training goes on, and a kill right after a save
    leaves a complete checkpoint.
    """

    def __init__(self, directory: str, keep: int) -> None:
        self.directory = os.path.abspath(directory)
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=True, enable_async_checkpointing=False
            ),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, state: TrainState) -> None:
        step = int(jax.device_get(state.step)[0])  # all runs share the step
        if step not in self._manager.all_steps():
            self._manager.save(step, args=ocp.args.StandardSave(state), force=True)

    def restore(self, template: TrainState | None = None, step: int | None = None) -> Any:
        """The state at ``step`` (default: the latest) with ``template``'s structure, shapes and
        shardings; without a template, the raw nested dict of arrays (for inspection)."""
        step = self.latest_step() if step is None else step
        if template is None:
            return self._manager.restore(step, args=ocp.args.StandardRestore())
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, template)
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def close(self) -> None:
        self._manager.close()
