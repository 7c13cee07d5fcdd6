"""Data-parallel sharding in the style of big_vision: one mesh axis, "data", over all devices.

The batch is split over "data"; the state (all runs' parameters) is replicated. The runs axis of
a vmapped multi-seed batch, ``(runs, batch, ...)``, is replicated too: every device trains a slice
of every run's batch, so any batch size divisible by the device count works with any number of
runs, and BatchNorm statistics are those of the whole global batch (XLA inserts the reductions).
Each host feeds only its own slice of the batch (``make_array_from_process_local_data``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"
# Set by launchers of multi-process jobs; jax.distributed.initialize() reads them itself.
_CLUSTER_ENV = ("JAX_COORDINATOR_ADDRESS", "SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE")


def maybe_initialize_distributed() -> bool:
    """Join a multi-process job when the environment describes one; True if it did.

    Must run before anything touches a device; a single process (the usual case) does nothing.
    """
    wanted = any(
        name in os.environ and (name == "JAX_COORDINATOR_ADDRESS" or int(os.environ[name]) > 1)
        for name in _CLUSTER_ENV
    )
    if wanted and not jax.distributed.is_initialized():
        jax.distributed.initialize()
        return True
    return False


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis ("data") mesh over ``devices`` (default: every device of every process)."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, *, runs_axis: bool) -> NamedSharding:
    """Batch axis on "data"; a leading runs axis (when present) replicated."""
    return NamedSharding(mesh, P(None, DATA_AXIS) if runs_axis else P(DATA_AXIS))


def check_divisible(batch_size: int, mesh: Mesh, what: str = "batch size") -> None:
    """ValueError naming both numbers unless ``batch_size`` splits evenly over the mesh."""
    devices = mesh.devices.size
    if batch_size % devices:
        raise ValueError(
            f"{what} {batch_size} is not divisible by the {devices} devices of the mesh"
        )


def to_global(array: np.ndarray, sharding: NamedSharding, batch_axis: int) -> jax.Array:
    """A global array from the host's copy of the whole batch; each process sends its slice.

    Every process reads the same global batch (its order is fixed by seed and epoch) and keeps
    the contiguous part its devices hold, so multi-host runs see exactly single-host batches.
    """
    count, index = jax.process_count(), jax.process_index()
    if count == 1:
        return jax.make_array_from_process_local_data(sharding, array)
    size = array.shape[batch_axis] // count
    local = np.take(array, np.arange(index * size, (index + 1) * size), axis=batch_axis)
    return jax.make_array_from_process_local_data(sharding, local, array.shape)


def sync_processes(name: str) -> None:
    """Wait until every process of a multi-process job gets here (nothing to wait for in one)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
