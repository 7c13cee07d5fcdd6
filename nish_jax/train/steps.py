"""The jitted training and evaluation steps, vmapped over the runs axis, sharded over "data".

Both take uint8 images and preprocess them on the device. A training batch is
``(runs, batch, H, W, C)`` (every run sees its own data order); an evaluation batch is
``(batch, H, W, C)``, shared by all runs, padded to a fixed size with a mask so that the last,
partial batch is counted exactly and nothing is recompiled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from nish_jax.data.augment import Preprocess
from nish_jax.train import sharding
from nish_jax.train.state import TrainState


def cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float) -> jax.Array:
    """Per-example softmax cross-entropy against (optionally smoothed) one-hot labels."""
    targets = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)
    if label_smoothing:
        targets = optax.smooth_labels(targets, label_smoothing)
    return optax.softmax_cross_entropy(logits, targets)


def step_keys(rng: jax.Array, step: jax.Array | int) -> tuple[jax.Array, jax.Array]:
    """The (preprocessing, dropout) keys of one run's training step ``step`` (0-based) from the
    run's base key: a function of its seed and the step only, the same for every model."""
    preprocess_key, dropout_key = jax.random.split(jax.random.fold_in(rng, step))
    return preprocess_key, dropout_key


def make_train_step(
    model: nn.Module,
    preprocess: Preprocess,
    schedule: optax.Schedule,
    *,
    label_smoothing: float,
    mesh: Mesh,
) -> Callable[[TrainState, jax.Array, jax.Array], tuple[TrainState, dict[str, jax.Array]]]:
    """``step(state, images, labels) -> (state, metrics)`` for all runs at once.

    ``metrics`` holds each run's batch loss, top-1 accuracy, learning rate and ``diverged_step``
    (that of the new state), shape (runs,). A run whose loss or updated parameters are not finite
    gets ``diverged_step`` = this step (1-based) unless it diverged before; the other runs are
    unaffected. The state is donated: the caller must not touch the old one after the call.
    """

    def one_run(state: TrainState, images: jax.Array, labels: jax.Array):
        preprocess_key, dropout_key = step_keys(state.rng, state.step)
        inputs = preprocess(preprocess_key, images, True)

        def loss_fn(params):
            logits, updates = model.apply(
                {"params": params, "batch_stats": state.batch_stats},
                inputs,
                train=True,
                rngs={"dropout": dropout_key},
                mutable=["batch_stats"],
            )
            logits = logits.astype(jnp.float32)
            return cross_entropy(logits, labels, label_smoothing).mean(), (logits, updates)

        (loss, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        correct = jnp.sum(jnp.argmax(logits, -1) == labels).astype(jnp.float32)
        count = jnp.float32(labels.shape[0])
        sums = state.epoch_sums
        new_state = state.apply_gradients(
            grads=grads,
            batch_stats=updates.get("batch_stats", state.batch_stats),
            epoch_sums={
                "loss": sums["loss"] + loss * count,
                "correct": sums["correct"] + correct,
                "count": sums["count"] + count,
            },
        )
        leaves = [loss, *jax.tree_util.tree_leaves(new_state.params)]
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))
        first_divergence = (state.diverged_step == 0) & ~finite
        new_state = new_state.replace(
            diverged_step=jnp.where(first_divergence, state.step + 1, state.diverged_step)
        )
        metrics = {
            "loss": loss,
            "top1": correct / count,
            "learning_rate": jnp.asarray(schedule(state.step), jnp.float32),
            "diverged_step": new_state.diverged_step,
        }
        return new_state, metrics

    replicated = sharding.replicated(mesh)
    batch = sharding.batch_sharding(mesh, runs_axis=True)
    return jax.jit(
        jax.vmap(one_run),
        in_shardings=(replicated, batch, batch),
        out_shardings=(replicated, replicated),
        donate_argnums=0,
    )


def make_eval_step(
    apply_fn: Callable[..., Any],
    preprocess: Preprocess,
    *,
    num_classes: int,
    pixel_std: tuple[float, ...],
    mesh: Mesh,
) -> Callable[..., dict[str, jax.Array]]:
    """``step(variables, images, labels, mask, indices, key, noise_std) -> sums`` for all runs.

    ``variables`` is ``{"params": ..., "batch_stats": ...}`` with the leading runs axis.

    ``sums`` are each run's summed loss, top-1 and top-5 correct counts and example count over the
    masked-in examples, shape (runs,). ``noise_std`` is Gaussian noise on the [0, 1] pixel scale
    (as in ``nish_jax.data.augment``), added here after normalisation as ``noise / pixel_std``,
    which is the same thing; it is traced, so every noise level reuses one compiled program. The
    noise of test example ``indices[j]`` is drawn from ``fold_in(key, indices[j])``: the noisy test
    set does not depend on the batch size or the number of devices.
    """
    top_k = min(5, num_classes)
    inverse_std = 1.0 / jnp.asarray(pixel_std, jnp.float32)

    def one_run(variables, inputs, labels, mask):
        logits = apply_fn(variables, inputs, train=False).astype(jnp.float32)
        weight = mask.astype(jnp.float32)
        top = jax.lax.top_k(logits, top_k)[1]
        hits = top == labels[:, None]
        return {
            "loss": jnp.sum(cross_entropy(logits, labels, 0.0) * weight),
            "top1": jnp.sum(hits[:, 0] * weight),
            "top5": jnp.sum(jnp.any(hits, -1) * weight),
            "count": jnp.sum(weight),
        }

    def all_runs(variables, images, labels, mask, indices, key, noise_std):
        inputs = preprocess(key, images, False)
        noise = jax.vmap(
            lambda index: jax.random.normal(
                jax.random.fold_in(key, index), inputs.shape[1:], jnp.float32
            )
        )(indices)
        inputs = inputs + noise_std.astype(jnp.float32) * inverse_std * noise
        return jax.vmap(one_run, in_axes=(0, None, None, None))(variables, inputs, labels, mask)

    batch = sharding.batch_sharding(mesh, runs_axis=False)
    replicated = sharding.replicated(mesh)
    return jax.jit(
        all_runs,
        in_shardings=(replicated, batch, batch, batch, batch, replicated, replicated),
        out_shardings=replicated,
    )
