"""The training state of R independent runs, stacked on a leading runs axis.

Everything a resumed run needs is in the state, so a checkpoint restores it exactly: parameters,
optimiser state, BatchNorm statistics, each run's base PRNG key (the key of step ``s`` is
``fold_in(rng, s)``, so no key is ever carried forward), the running sums of the current epoch's
training metrics, and the step at which each run diverged. The data position is ``step`` itself
(epoch = step // steps_per_epoch).

Keys are typed (``jax.random.key``, threefry): the same bits as the legacy ``PRNGKey``, so the
random streams, and the checkpoints (which store the key data), are those of earlier versions.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

# Running sums over the current epoch's training batches, per run.
EPOCH_SUM_KEYS = ("loss", "correct", "count")


class TrainState(train_state.TrainState):
    """flax's TrainState plus BatchNorm statistics, a base PRNG key (typed), epoch metric sums
    and ``diverged_step``: the first step whose loss or updated parameters were not finite (0
    while the run is healthy)."""

    batch_stats: Any
    rng: jax.Array
    epoch_sums: dict[str, jax.Array]
    diverged_step: jax.Array


def zero_epoch_sums() -> dict[str, jax.Array]:
    """Fresh running sums (float32 everywhere, also under jax_enable_x64)."""
    return {key: jnp.zeros((), jnp.float32) for key in EPOCH_SUM_KEYS}


def run_seeds(seed: int, num_runs: int) -> list[int]:
    """Run r of a config uses seed + r (its init, dropout keys and data order all follow it)."""
    return [seed + run for run in range(num_runs)]


def run_keys(seed: int, num_runs: int) -> jax.Array:
    """The base keys of the runs, stacked.

    Args:
      seed: the config's seed; run r's key is ``jax.random.key(seed + r)``.
      num_runs: how many runs.

    Returns:
      A typed key array of shape ``(num_runs,)``.
    """
    return jnp.stack([jax.random.key(s) for s in run_seeds(seed, num_runs)])


def init_state(
    key: jax.Array,
    *,
    model: nn.Module,
    optimizer: optax.GradientTransformation,
    input_shape: tuple[int, int, int],
) -> TrainState:
    """The initial state of one run from its base key (vmap this over the runs axis)."""
    init_key, state_key = jax.random.split(key)
    dummy = jnp.zeros((1, *input_shape), jnp.float32)
    variables = model.init({"params": init_key, "dropout": init_key}, dummy, train=False)
    state = TrainState.create(
        apply_fn=model.apply,
        params=variables["params"],
        tx=optimizer,
        batch_stats=variables.get("batch_stats", {}),
        rng=state_key,
        epoch_sums=zero_epoch_sums(),
        diverged_step=jnp.zeros((), jnp.int32),
    )
    # A strongly typed int32 step, as a restored checkpoint has: a weakly typed one (flax's
    # default) would make the resumed process trace, and round, a slightly different program.
    return state.replace(step=jnp.zeros((), jnp.int32))
