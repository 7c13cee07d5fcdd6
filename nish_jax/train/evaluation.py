"""Exact evaluation of all runs over a whole test set, optionally with Gaussian input noise.

The last, partial batch is padded to the fixed batch size and masked out, so every example counts
once and one compiled program serves every batch. The noise level is a traced argument: one
evaluator measures a trained model at any number of noise levels without recompiling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from nish_jax.data import Dataset
from nish_jax.train import sharding
from nish_jax.train.components import build_model, build_preprocess
from nish_jax.train.state import TrainState
from nish_jax.train.steps import make_eval_step

if TYPE_CHECKING:
    import ml_collections

Evaluator = Callable[..., list[dict[str, float]]]
# The noise of test example i is drawn from fold_in(key(NOISE_SEED), i): the same noisy test
# set for every run, epoch, resumption, batch size and device count.
NOISE_SEED = 20_26


def _variables(state: TrainState | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(state, TrainState):
        return {"params": state.params, "batch_stats": state.batch_stats}
    return {"params": state["params"], "batch_stats": state.get("batch_stats", {})}


def _padded_batches(dataset: Dataset, batch_size: int):
    """(images, labels, mask, example indices) batches of exactly ``batch_size``, in the data
    set's own order."""
    batches = dataset.batches(batch_size, seed=0, epoch=0, shuffle=False, drop_remainder=False)
    for index, (images, labels) in enumerate(batches):
        real = len(labels)
        mask = np.zeros(batch_size, bool)
        mask[:real] = True
        if real < batch_size:
            images = np.concatenate(
                [images, np.zeros((batch_size - real, *images.shape[1:]), images.dtype)]
            )
            labels = np.concatenate([labels, np.zeros(batch_size - real, labels.dtype)])
        yield images, labels, mask, np.arange(index * batch_size, (index + 1) * batch_size)


def make_evaluator(
    config: ml_collections.ConfigDict,
    dataset: Dataset,
    *,
    mesh: Mesh | None = None,
    apply_fn: Callable[..., Any] | None = None,
) -> Evaluator:
    """``evaluator(state_or_variables, noise_std=0.0) -> [metrics of run r, ...]``.

    Metrics are ``loss``, ``top1`` and ``top5`` (fractions) over all of ``dataset``; the state (or
    a ``{"params", "batch_stats"}`` dict) carries the leading runs axis. ``noise_std`` is the
    standard deviation of Gaussian noise on the [0, 1] pixel scale, drawn from
    ``jax.random.key(NOISE_SEED)`` (the same noisy test set for every run and call).

    Args:
      config: the training config (``eval_batch_size``, the model and its preprocessing).
      dataset: the data set to evaluate on, all of it.
      mesh: the devices the batch is split over (default: all).
      apply_fn: the model's ``apply``; built from the config when None.

    Returns:
      The evaluator function.
    """
    mesh = mesh if mesh is not None else sharding.make_mesh()
    batch_size = config.eval_batch_size
    sharding.check_divisible(batch_size, mesh, "eval_batch_size")
    if apply_fn is None:
        apply_fn = build_model(config, dataset.num_classes).apply
    step = make_eval_step(
        apply_fn,
        build_preprocess(config, dataset),
        num_classes=dataset.num_classes,
        pixel_std=dataset.std,
        mesh=mesh,
    )
    batch = sharding.batch_sharding(mesh, runs_axis=False)
    replicated = sharding.replicated(mesh)
    noise_key = jax.device_put(jax.random.key(NOISE_SEED), replicated)

    def evaluator(state: TrainState | Mapping[str, Any], noise_std: float = 0.0):
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        variables = _variables(state)
        noise = jax.device_put(jnp.float32(noise_std), replicated)
        totals = None
        for images, labels, mask, indices in _padded_batches(dataset, batch_size):
            sums = step(
                variables,
                sharding.to_global(images, batch, 0),
                sharding.to_global(labels, batch, 0),
                sharding.to_global(mask, batch, 0),
                sharding.to_global(indices.astype(np.int32), batch, 0),
                noise_key,
                noise,
            )
            totals = sums if totals is None else jax.tree_util.tree_map(jnp.add, totals, sums)
        totals = jax.device_get(totals)
        return [
            {
                "loss": float(totals["loss"][run] / totals["count"][run]),
                "top1": float(totals["top1"][run] / totals["count"][run]),
                "top5": float(totals["top5"][run] / totals["count"][run]),
            }
            for run in range(len(totals["count"]))
        ]

    return evaluator


def evaluate(
    state: TrainState | Mapping[str, Any],
    dataset: Dataset,
    config: ml_collections.ConfigDict,
    noise_std: float = 0.0,
) -> list[dict[str, float]]:
    """Each run's loss, top-1 and top-5 on ``dataset`` (compiles; reuse :func:`make_evaluator`
    to evaluate at several noise levels)."""
    return make_evaluator(config, dataset)(state, noise_std)
