"""The MNIST depth-sweep network of the Mish study: ``depth`` x Dense, BatchNorm, act, Dropout."""

from __future__ import annotations

import numbers
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nish_jax.activations import Activation
from nish_jax.models.layers import (
    check_choice,
    check_input,
    check_positive_int,
    check_rate,
    merge_window_axes,
)
from nish_jax.models.registry import ModelSpec, register

#: "origin": the Mish notebook's convolutional stem; "none": the image is flattened directly.
MLP_STEMS = ("none", "origin")


class MLP(nn.Module):
    """A deep fully connected classifier whose every nonlinearity is ``act``.

    ``stem="origin"`` puts the Mish notebook's convolutional stem in front (Conv 5x5, 20 filters
    -> act -> Conv 5x5, 50 filters -> act, both unpadded, -> 2x2 max-pool -> dropout). Kernels are
    Glorot-uniform and biases zero, as in the Keras original; ``bn_momentum=0.99`` and
    ``bn_epsilon=1e-3`` are Keras' BatchNorm defaults.
    """

    num_classes: int
    act: Activation
    depth: int = 15
    width: int = 500
    dropout: float = 0.25
    stem: str = "none"
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    in_chans: int = 1
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        for option in ("depth", "width", "in_chans"):
            check_positive_int(option, getattr(self, option), "mlp")
        check_rate("dropout", self.dropout, "mlp")
        check_rate("bn_momentum", self.bn_momentum, "mlp")
        check_choice("stem", self.stem, MLP_STEMS, "mlp")
        epsilon = self.bn_epsilon
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or epsilon <= 0:
            raise ValueError(f"mlp option bn_epsilon={epsilon!r} is not valid; must be > 0")
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_input(x, self.in_chans, "mlp")
        dtypes = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        dense = dict(kernel_init=merge_window_axes(nn.initializers.glorot_uniform()), **dtypes)
        x = x.astype(self.dtype)
        if self.stem == "origin":
            for i, filters in enumerate((20, 50)):
                x = self.act(nn.Conv(filters, (5, 5), padding="VALID", name=f"stem{i}", **dense)(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = x.reshape((x.shape[0], -1))
        for i in range(self.depth):
            x = nn.Dense(self.width, name=f"dense{i}", **dense)(x)
            x = nn.BatchNorm(
                use_running_average=not train,
                momentum=self.bn_momentum,
                epsilon=self.bn_epsilon,
                **dtypes,
                name=f"bn{i}",
            )(x)
            x = nn.Dropout(self.dropout, deterministic=not train)(self.act(x))
        return nn.Dense(self.num_classes, name="head", **dense)(x)


register(ModelSpec(name="mlp", build=MLP, default_act="relu", input_shape=(28, 28, 1)))
