"""Signal propagation: the mean and variance entering and leaving every activation, in train mode
and in eval mode, on one batch.

Comparing the modes site by site shows where the running statistics stop describing what the
network computes: the variance shift of dropout before BatchNorm (Li et al. 2019, "Understanding
the disharmony between dropout and batch normalization by variance shift"), or stale running
statistics after training (see :func:`nish_jax.analysis.recalibrate_batch_stats`). In train mode
a BatchNorm that feeds an activation directly hands it pre-activations of per-channel mean
``bias`` and variance ``scale**2`` (1 at initialisation, less BatchNorm's epsilon).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nish_jax.analysis.sites import activation_sites, apply_model

__all__ = ["SiteSignal", "signal_propagation"]


@dataclasses.dataclass(frozen=True)
class SiteSignal:
    """The statistics of one activation site in one mode, over all elements of the batch's
    tensor (examples, positions and channels together).

    Attributes:
      index: the site's position in call (forward) order.
      name: the site's name (:mod:`nish_jax.analysis.sites`).
      mode: ``"train"`` (BatchNorm with batch statistics, dropout as requested) or ``"eval"``.
      pre_mean, pre_var: of the activation's input.
      post_mean, post_var: of its output.
      pre_unit_var: the mean over channels of each channel's variance over the examples (and
        positions) of the activation's input: its input-dependent part. ``pre_var`` adds the
        spread of the channel means to it.
    """

    index: int
    name: str
    mode: str
    pre_mean: float
    pre_var: float
    post_mean: float
    post_var: float
    pre_unit_var: float


@functools.partial(jax.jit, static_argnums=(0, 1))
def _site_moments(
    model: nn.Module,
    train: bool,
    variables: Mapping[str, Any],
    inputs: jax.Array,
    dropout_key: jax.Array | None,
) -> jax.Array:
    _, records = apply_model(model, variables, inputs, train=train, dropout_key=dropout_key)

    def moments(x: jax.Array) -> list[jax.Array]:
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        return [jnp.mean(x), jnp.var(x)]

    def unit_var(x: jax.Array) -> jax.Array:
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        return jnp.mean(jnp.var(x, axis=tuple(range(x.ndim - 1))))

    return jnp.stack(
        [jnp.stack([*moments(r.pre), *moments(r.post), unit_var(r.pre)]) for r in records]
    )


def signal_propagation(
    model: nn.Module,
    variables: Mapping[str, Any],
    inputs: jax.Array,
    *,
    dropout_key: jax.Array | None = None,
) -> tuple[SiteSignal, ...]:
    """The mean and variance before and after every activation, in train and in eval mode.

    Args:
      model: a zoo network or a Flax module with its activation as the ``act`` field.
      variables: ``{"params": ..., "batch_stats": ...}``.
      inputs: a preprocessed batch.
      dropout_key: the dropout rng of the train-mode pass (dropout on, as in training);
        ``None``: train mode without dropout. Eval mode never drops.

    Returns:
      One :class:`SiteSignal` per site and mode: the train-mode sites in forward order, then the
      eval-mode ones.
    """
    names = [site.name for site in activation_sites(model, variables, inputs)]
    rows = []
    for mode, key in (("train", dropout_key), ("eval", None)):
        found = np.asarray(_site_moments(model, mode == "train", variables, inputs, key))
        for index, (name, values) in enumerate(zip(names, found, strict=True)):
            rows.append(SiteSignal(index, name, mode, *map(float, values)))
    return tuple(rows)
