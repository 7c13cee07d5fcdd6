"""The MNIST depth-sweep network of the Mish study: ``depth`` x Dense, BatchNorm, act, Dropout."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nish_jax.activations import Activation
from nish_jax.models.layers import check_input
from nish_jax.models.registry import ModelSpec, register


class MLP(nn.Module):
    """A deep fully connected classifier whose every hidden nonlinearity is ``act``.

    ``conv_stem`` adds a small convolutional stem (3x3 conv, 32 channels -> BatchNorm -> act ->
    2x2 max-pool) before flattening. Dense kernels are Glorot-uniform, as in the Keras original.
    """

    num_classes: int
    act: Activation
    depth: int = 15
    width: int = 500
    dropout: float = 0.25
    conv_stem: bool = False
    in_channels: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_input(x, self.in_channels, "mlp")
        norm = dict(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype)
        x = x.astype(self.dtype)
        if self.conv_stem:
            x = nn.Conv(32, (3, 3), padding="SAME", use_bias=False, dtype=self.dtype, name="stem")(
                x
            )
            x = self.act(nn.BatchNorm(name="stem_bn", **norm)(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        for i in range(self.depth):
            x = nn.Dense(
                self.width,
                kernel_init=nn.initializers.glorot_uniform(),
                dtype=self.dtype,
                name=f"dense{i}",
            )(x)
            x = self.act(nn.BatchNorm(name=f"bn{i}", **norm)(x))
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x)


def _build(*, num_classes: int, act: Activation, depth: int = 15, **options: Any) -> MLP:
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"mlp depth must be a positive integer, got {depth!r}")
    dropout = options.get("dropout", 0.25)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"mlp dropout must be in [0, 1), got {dropout!r}")
    return MLP(num_classes=num_classes, act=act, depth=depth, **options)


register(
    ModelSpec(
        name="mlp",
        build=_build,
        default_act="relu",
        options=("depth", "width", "dropout", "conv_stem", "in_channels"),
        input_shape=(28, 28, 1),
    )
)
