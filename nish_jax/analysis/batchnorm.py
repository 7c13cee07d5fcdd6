"""BatchNorm recalibration: a trained network's running statistics recomputed from data.

The running statistics a network ends training with are an exponential moving average over
training steps whose weights kept changing, so they lag behind the final weights (and fit the
data the network saw, augmented, with dropout on). :func:`recalibrate_batch_stats` replaces them
by the exact population statistics of the given batches ("precise BatchNorm": Wu & Johnson 2021,
"Rethinking 'Batch' in BatchNorm", section 3): the network runs in train mode with dropout off,
so each BatchNorm layer normalises with the batch's statistics, exactly the inputs it saw in
training; each layer's input mean ``E[x]`` and mean square ``E[x^2]`` per channel are averaged
over all batches, weighted by their element counts, and the running mean becomes ``E[x]`` and the
running variance ``E[x^2] - E[x]^2``: the (biased) variance of the pooled inputs, as Flax's
BatchNorm computes it for a batch. An EMA with a momentum would weight the batches unequally and
depend on their order; the pooled average does neither.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from nish_jax.analysis.sites import apply_model

__all__ = ["recalibrate_batch_stats"]


def _recording_interceptor(
    found: dict[str, tuple[jax.Array, ...]], next_fun, args, kwargs, context
):
    """Records the per-channel mean, mean square and element count of each BatchNorm's input."""
    module = context.module
    if isinstance(module, nn.BatchNorm) and context.method_name == "__call__":
        if kwargs.get("mask") is not None:
            raise ValueError("recalibrate_batch_stats does not support masked BatchNorm")
        x = args[0]
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        feature_axes = {a % x.ndim for a in np.atleast_1d(module.axis).tolist()}
        reduced = tuple(a for a in range(x.ndim) if a not in feature_axes)
        count = np.prod([x.shape[a] for a in reduced])
        moments = (jnp.mean(x, reduced), jnp.mean(jnp.square(x), reduced), jnp.float32(count))
        path = "/".join(module.path)
        if path in found:  # a BatchNorm called more than once: pool its calls
            moments = _pool(found[path], moments)
        found[path] = moments
    return next_fun(*args, **kwargs)


def _pool(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
    """The (mean, mean square, count) of two sets of elements together."""
    count = a[2] + b[2]
    return (
        (a[0] * a[2] + b[0] * b[2]) / count,
        (a[1] * a[2] + b[1] * b[2]) / count,
        count,
    )


@functools.partial(jax.jit, static_argnums=0)
def _batch_moments(
    model: nn.Module, variables: Mapping[str, Any], inputs: jax.Array
) -> dict[str, tuple[jax.Array, ...]]:
    found: dict[str, tuple[jax.Array, ...]] = {}
    with nn.intercept_methods(functools.partial(_recording_interceptor, found)):
        apply_model(model, variables, inputs, train=True)
    return found


def recalibrate_batch_stats(
    model: nn.Module, variables: Mapping[str, Any], batches: Iterable[jax.Array]
) -> dict[str, Any]:
    """``variables`` with every BatchNorm's running statistics recomputed from ``batches``.

    Args:
      model: a zoo network, or any Flax module called as ``model.apply(variables, x,
        train=...)`` with its activation as the ``act`` field, whose BatchNorm layers are
        ``flax.linen.BatchNorm``.
      variables: ``{"params": ..., "batch_stats": ...}``, trained.
      batches: preprocessed input batches of training data (as training preprocesses them,
        augmentation aside); their pooled statistics become the running statistics (module doc).

    Returns:
      New variables: ``params`` (and any other collection) the same objects, ``batch_stats``
      with each layer's ``mean`` and ``var`` replaced, in their dtype.
    """
    totals: dict[str, tuple[Any, ...]] = {}
    for inputs in batches:
        found = jax.device_get(_batch_moments(model, variables, inputs))
        for path, moments in found.items():
            moments = tuple(np.asarray(m, np.float64) for m in moments)
            totals[path] = _pool(totals[path], moments) if path in totals else moments
    stats = traverse_util.flatten_dict(variables["batch_stats"], sep="/")
    layers = {key.rsplit("/", 1)[0] for key in stats}
    if not totals:
        raise ValueError("recalibrate_batch_stats needs at least one batch")
    if layers != set(totals):
        raise ValueError(
            f"batch_stats layers {sorted(layers)} are not the BatchNorm layers the model ran "
            f"({sorted(totals)})"
        )
    new = {}
    for key, old in stats.items():
        layer, name = key.rsplit("/", 1)
        mean, mean_square, _ = totals[layer]
        value = {"mean": mean, "var": np.maximum(mean_square - np.square(mean), 0.0)}[name]
        new[key] = jnp.asarray(value, old.dtype)
    return {**variables, "batch_stats": traverse_util.unflatten_dict(new, sep="/")}
