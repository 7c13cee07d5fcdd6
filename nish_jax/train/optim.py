"""The optimiser and learning-rate schedule a config asks for, as optax objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import optax

if TYPE_CHECKING:
    import ml_collections


def learning_rate_schedule(
    config: ml_collections.ConfigDict, steps_per_epoch: int
) -> optax.Schedule:
    """The per-step learning rate: constant, cosine, step or warmup_cosine (all in epochs)."""
    base = config.learning_rate
    total_steps = config.num_epochs * steps_per_epoch
    if config.schedule == "constant":
        return optax.constant_schedule(base)
    if config.schedule == "cosine":
        return optax.cosine_decay_schedule(base, decay_steps=total_steps)
    if config.schedule == "step":
        boundaries = {
            int(epoch * steps_per_epoch): config.lr_decay_factor for epoch in config.lr_decay_epochs
        }
        return optax.piecewise_constant_schedule(base, boundaries)
    if config.schedule == "warmup_cosine":
        warmup_steps = int(config.warmup_epochs * steps_per_epoch)
        return optax.warmup_cosine_decay_schedule(
            0.0, base, warmup_steps=warmup_steps, decay_steps=max(total_steps, warmup_steps + 1)
        )
    raise ValueError(f"unknown schedule {config.schedule!r}")


def _kernels_only(params: optax.Params) -> optax.Params:
    """Weight-decay mask: kernels (ndim > 1) decay, biases and BatchNorm scales do not."""
    return jax.tree_util.tree_map(lambda p: p.ndim > 1, params)


def make_optimizer(
    config: ml_collections.ConfigDict, schedule: optax.Schedule
) -> optax.GradientTransformation:
    """SGD (momentum, Nesterov, L2 weight decay) or Adam (decoupled weight decay, i.e. AdamW).

    For sgd the decay is added to the gradient before momentum (the classic L2 penalty
    ``decay/2 * |w|^2``); for adam it is applied to the parameters after the adaptive scaling,
    as AdamW does. Only kernels are decayed.
    """
    if config.optimizer == "sgd":
        parts = []
        if config.weight_decay:
            parts.append(optax.add_decayed_weights(config.weight_decay, mask=_kernels_only))
        parts.append(
            optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.nesterov)
        )
        return optax.chain(*parts)
    if config.optimizer == "adam":
        return optax.adamw(schedule, weight_decay=config.weight_decay, mask=_kernels_only)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")
