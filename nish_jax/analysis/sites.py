"""Activation sites: every call of a network's activation, observed without changing the network.

The zoo's networks take their nonlinearity as a plain function field, ``act``, and call it
wherever they apply it: after a BatchNorm, on a residual sum, inside a squeeze-excitation unit. A
plain function cannot ``sow`` or ``perturb`` (those are Module methods), and Flax's
``capture_intermediates`` sees only Module outputs. So the analysis clones the network with its
``act`` replaced by a probe (``model.clone(act=probe)``): a callable that applies the original
activation, records the call's input (the pre-activation) and output (the post-activation), and
adds a perturbation (zeros) to the output, so that the gradient with respect to the perturbation
is the gradient with respect to the site's output. Every zoo network works unchanged, and so does
any Flax module that takes its activation as an ``act`` field and passes it to its submodules.

A site is named after the module that calls the activation, tracked with
``flax.linen.intercept_methods``: ``"<module path>/act<k>"`` is the k-th activation call made
by that module (``"layer1_0/act1"``: the second activation of ResNet-18's first block; the top
level has no path: ``"act0"``). Sites are numbered in call order, which is the forward order.

The same interceptor switches dropout off: in train mode without a dropout key every
``nn.Dropout`` returns its input. Randomness drawn outside ``nn.Dropout`` (EfficientNet's
stochastic depth, ``drop_path_rate > 0``) then has no key, and Flax raises; build such a model
with ``drop_path_rate=0.0`` (the parameters are the same) to analyse it without dropout.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["Site", "SiteRecord", "activation_sites", "apply_model"]


class Site(NamedTuple):
    """One activation call of a network: its name and the shape and dtype of its output."""

    name: str
    shape: tuple[int, ...]
    dtype: jnp.dtype


class SiteRecord(NamedTuple):
    """What one activation call received and returned (arrays, or tracers under a transform)."""

    name: str
    pre: jax.Array
    post: jax.Array


class _Probe:
    """Stands in for a network's ``act``: records each call and perturbs its output."""

    def __init__(self, act: Any, perturbations: Sequence[jax.Array] | None) -> None:
        self._act = act
        self._perturbations = perturbations
        self._calls_per_module: dict[str, int] = {}
        self.module_paths: list[tuple[str, ...]] = []
        self.records: list[SiteRecord] = []

    def __call__(self, x: jax.Array) -> jax.Array:
        path = "/".join(self.module_paths[-1]) if self.module_paths else ""
        count = self._calls_per_module.get(path, 0)
        self._calls_per_module[path] = count + 1
        name = f"{path}/act{count}" if path else f"act{count}"
        y = self._act(x)
        if self._perturbations is not None:
            y = y + self._perturbations[len(self.records)]
        self.records.append(SiteRecord(name, x, y))
        return y


def _interceptor(probe: _Probe, dropout: bool, next_fun, args, kwargs, context):
    """Keeps ``probe``'s stack of running modules; makes ``nn.Dropout`` the identity unless
    ``dropout``."""
    if not dropout and isinstance(context.module, nn.Dropout):
        return args[0]
    probe.module_paths.append(context.module.path)
    try:
        return next_fun(*args, **kwargs)
    finally:
        probe.module_paths.pop()


def apply_model(
    model: nn.Module,
    variables: Mapping[str, Any],
    inputs: jax.Array,
    *,
    train: bool,
    dropout_key: jax.Array | None = None,
    perturbations: Sequence[jax.Array] | None = None,
) -> tuple[jax.Array, list[SiteRecord]]:
    """Runs ``model`` once and records every activation call.

    Args:
      model: a Flax module called as ``model.apply(variables, inputs, train=...)`` that takes its
        activation as the ``act`` field (every zoo network).
      variables: ``{"params": ..., "batch_stats": ...}``.
      inputs: a batch of inputs.
      train: BatchNorm with the batch's statistics (train mode; the running statistics are not
        updated: the new ones are discarded) or with the running statistics (eval mode).
      dropout_key: train mode only: the ``"dropout"`` rng, which switches dropout on; without it
        every ``nn.Dropout`` is the identity.
      perturbations: one array per site, added to that site's output (zeros, to differentiate
        with respect to the site's output); ``None`` adds nothing.

    Returns:
      The model's output and one :class:`SiteRecord` per activation call, in call order.
    """
    if not train and dropout_key is not None:
        raise ValueError(
            "dropout_key applies to train mode: in eval mode the networks' dropout is off"
        )
    if not hasattr(model, "act"):
        raise TypeError(
            f"{type(model).__name__} has no `act` field: activation sites are observed by "
            "replacing the module's `act` (see nish_jax.analysis.sites)"
        )
    probe = _Probe(model.act, perturbations)
    options: dict[str, Any] = {}
    if train:
        options["mutable"] = ["batch_stats"]
        options["rngs"] = {} if dropout_key is None else {"dropout": dropout_key}
    interceptor = functools.partial(_interceptor, probe, dropout_key is not None)
    with nn.intercept_methods(interceptor):
        outputs = model.clone(act=probe).apply(variables, inputs, train=train, **options)
    if train:
        outputs, _ = outputs
    return cast(jax.Array, outputs), probe.records


def activation_sites(
    model: nn.Module, variables: Mapping[str, Any], inputs: jax.Array, *, train: bool = False
) -> tuple[Site, ...]:
    """The activation sites of ``model`` on inputs shaped as ``inputs`` (nothing is computed).

    Args:
      model: a Flax module that takes its activation as the ``act`` field (see
        :func:`apply_model`).
      variables: its variables (only their shapes matter).
      inputs: a batch (only its shape and dtype matter).
      train: the mode, for networks whose call sequence depends on it.

    Returns:
      One :class:`Site` per activation call, in call order.
    """

    def shapes(variables: Mapping[str, Any], inputs: jax.Array) -> list[jax.Array]:
        _, records = apply_model(model, variables, inputs, train=train)
        names.extend(record.name for record in records)
        return [record.post for record in records]

    names: list[str] = []
    outputs = jax.eval_shape(shapes, variables, inputs)
    return tuple(
        Site(name, tuple(out.shape), out.dtype) for name, out in zip(names, outputs, strict=True)
    )
