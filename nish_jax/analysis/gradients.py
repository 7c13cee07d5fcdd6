"""Per-example gradient norms: of any per-example loss, and of a network per layer, parameter group
and activation site.

What "example i's gradient" means, in either mode:

- Eval mode (BatchNorm with its running statistics, no dropout): the examples do not interact, so
  example i's gradient is the gradient of its loss computed on it alone. It is computed for all
  examples at once with ``jax.vmap`` over single-example gradients: cost O(N) backward passes.
- Train mode (BatchNorm with the batch's statistics, dropout on or off): BatchNorm couples the
  examples: every example's output depends on the whole batch through the batch mean and
  variance. Example i's gradient is then the gradient of its loss term ``loss_i`` inside the
  full-batch forward pass, the path through the batch statistics included: row i of the Jacobian
  of the vector of per-example losses. It is exact, and its mean over the examples is the
  gradient of the training step's batch loss ``mean_i loss_i``. It is computed from one
  forward pass as vector-Jacobian products with the one-hot cotangents ``e_i``, vmapped: cost
  O(N) backward passes of the whole batch, O(N^2) in all.

``chunk_size`` bounds the memory: the examples (or cotangents) go through ``jax.lax.map`` that
many at a time, each chunk a ``jax.vmap``; only the norms of each chunk's gradients are kept, so
the memory is that of ``chunk_size`` gradients (and, in train mode, one batch's activations).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import traverse_util

from nish_jax.analysis.sites import activation_sites, apply_model

__all__ = ["GradNorms", "model_grad_norms", "per_example_grad_norms"]

PyTree = Any


def _leaf_norms(tree: PyTree) -> PyTree:
    return jax.tree.map(lambda g: jnp.sqrt(jnp.sum(jnp.square(g.astype(jnp.float32)))), tree)


def _map(fn: Callable[[Any], PyTree], xs: PyTree, chunk_size: int | None) -> PyTree:
    """``jax.vmap(fn)(xs)``, ``chunk_size`` rows at a time: ``jax.lax.map`` over chunks. The
    rows are padded with copies of the first to whole chunks (one compiled chunk, no separate
    remainder), and the padding's results dropped."""
    if chunk_size is None:
        return jax.vmap(fn)(xs)
    count = jax.tree.leaves(xs)[0].shape[0]
    padding = -count % chunk_size

    def to_chunks(a: jax.Array) -> jax.Array:
        a = jnp.concatenate([a, jnp.repeat(a[:1], padding, axis=0)])
        return a.reshape(-1, chunk_size, *a.shape[1:])

    found = jax.lax.map(jax.vmap(fn), jax.tree.map(to_chunks, xs))
    return jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:])[:count], found)


@functools.partial(jax.jit, static_argnames=("loss_fn", "coupled", "chunk_size"))
def per_example_grad_norms(
    loss_fn: Callable[[PyTree, PyTree], jax.Array],
    params: PyTree,
    batch: PyTree,
    *,
    coupled: bool = False,
    chunk_size: int | None = None,
) -> PyTree:
    """The norm of each example's gradient with respect to each leaf of ``params``.

    Args:
      loss_fn: ``loss_fn(params, batch)``, the vector of per-example losses of a batch, shape
        ``(N,)``; any function of any model (``apply_fn(variables, x, ...)`` inside).
      params: what to differentiate, a pytree.
      batch: a pytree of arrays whose leading axis is the example.
      coupled: False when the examples do not interact, so that example i's gradient is that of
        ``loss_fn`` on a batch of example i alone (vmapped single-example gradients); True when
        they do (train-mode BatchNorm): then example i's gradient is that of ``loss_i`` in the
        full-batch forward pass, row i of the Jacobian (module doc).
      chunk_size: how many examples to differentiate at once (``jax.lax.map`` over chunks, each a
        ``jax.vmap``); ``None``: all at once.

    Returns:
      A pytree shaped as ``params`` whose leaves are the per-example L2 norms, shape ``(N,)``.
    """
    if coupled:
        losses, vjp_fn = jax.vjp(lambda p: loss_fn(p, batch), params)
        cotangents = jnp.eye(losses.shape[0], dtype=losses.dtype)
        return _map(lambda cotangent: _leaf_norms(vjp_fn(cotangent)[0]), cotangents, chunk_size)

    def one_example(example: PyTree) -> PyTree:
        alone = jax.tree.map(lambda leaf: leaf[None], example)
        return _leaf_norms(jax.grad(lambda p: jnp.sum(loss_fn(p, alone)))(params))

    return _map(one_example, batch, chunk_size)


def _combine(norms: Mapping[str, jax.Array]) -> jax.Array:
    return jnp.sqrt(sum(jnp.square(norm) for norm in norms.values()))


class GradNorms(NamedTuple):
    """Per-example gradient norms of a network, each of shape ``(N,)``.

    Attributes:
      params: a pytree shaped as the network's ``params``: the norm of each parameter's gradient.
      sites: activation site name (see :mod:`nish_jax.analysis.sites`) to the norm of the
        gradient with respect to the site's output (the post-activation).
    """

    params: PyTree
    sites: dict[str, jax.Array]

    def _flat(self) -> dict[tuple[str, ...], jax.Array]:
        return traverse_util.flatten_dict(self.params)

    def layers(self) -> dict[str, jax.Array]:
        """The per-example norm over each layer's parameters.

        Returns:
          Module path (``"layer1_0/conv1"``) to the norm over all its parameters, ``(N,)``.
        """
        groups: dict[str, dict[str, jax.Array]] = {}
        for path, norm in self._flat().items():
            groups.setdefault("/".join(path[:-1]), {})[path[-1]] = norm
        return {layer: _combine(norms) for layer, norms in groups.items()}

    def groups(self) -> dict[str, jax.Array]:
        """The per-example norm over each kind of parameter, across layers.

        Returns:
          Parameter name (``"kernel"``, ``"bias"``, ``"scale"``) to the norm over every
          parameter of that name, ``(N,)``.
        """
        groups: dict[str, dict[str, jax.Array]] = {}
        for path, norm in self._flat().items():
            groups.setdefault(path[-1], {})["/".join(path)] = norm
        return {group: _combine(norms) for group, norms in groups.items()}


def model_grad_norms(
    model: nn.Module,
    variables: Mapping[str, Any],
    inputs: jax.Array,
    labels: jax.Array,
    *,
    train: bool = False,
    dropout_key: jax.Array | None = None,
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array] = (
        optax.softmax_cross_entropy_with_integer_labels
    ),
    chunk_size: int | None = None,
) -> GradNorms:
    """Per-example gradient norms of a network's loss, per parameter and per activation site.

    Example i's loss is ``loss_fn(logits, labels)[i]`` (not divided by the batch size). In eval
    mode its gradient is computed on example i alone; in train mode inside the full-batch forward
    pass, through the batch statistics (module doc). The gradient at an activation site is taken
    with respect to the site's output: in eval mode the example's own row; in train mode the
    whole batch's activation tensor, whose other rows example i's loss reaches through BatchNorm.

    Args:
      model: a zoo network (``nish_jax.create_model``) or any Flax module called as
        ``model.apply(variables, x, train=...)`` with its activation as the ``act`` field.
      variables: ``{"params": ..., "batch_stats": ...}``.
      inputs: a preprocessed batch, shape ``(N, ...)``.
      labels: its labels, shape ``(N,)`` or as ``loss_fn`` takes them.
      train: BatchNorm with the batch's statistics (as a training step) instead of the running
        ones.
      dropout_key: train mode only: the dropout rng (dropout on); ``None``: dropout off.
      loss_fn: per-example loss ``loss_fn(logits, labels) -> (N,)``.
      chunk_size: examples differentiated at once; ``None``: all.

    Returns:
      :class:`GradNorms`; ``.layers()`` and ``.groups()`` aggregate the parameter norms.
    """
    return _model_grad_norms(
        model, loss_fn, train, chunk_size, variables, inputs, labels, dropout_key
    )


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _model_grad_norms(
    model: nn.Module,
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array],
    train: bool,
    chunk_size: int | None,
    variables: Mapping[str, Any],
    inputs: jax.Array,
    labels: jax.Array,
    dropout_key: jax.Array | None,
) -> GradNorms:
    # A perturbation per site, shaped as its output on what loss_fn receives: one example in
    # eval mode, the whole batch in train mode.
    sites = activation_sites(model, variables, inputs if train else inputs[:1], train=train)
    zeros = [jnp.zeros(site.shape, site.dtype) for site in sites]

    def losses(differentiated: tuple[PyTree, list[jax.Array]], batch) -> jax.Array:
        params, perturbations = differentiated
        logits, _ = apply_model(
            model,
            {**variables, "params": params},
            batch[0],
            train=train,
            dropout_key=dropout_key,
            perturbations=perturbations,
        )
        return loss_fn(logits, batch[1])

    param_norms, site_norms = per_example_grad_norms(
        losses,
        (variables["params"], zeros),
        (inputs, labels),
        coupled=train,
        chunk_size=chunk_size,
    )
    return GradNorms(
        param_norms, {site.name: norm for site, norm in zip(sites, site_norms, strict=True)}
    )
