"""A plain CNN of ``depth`` conv -> BatchNorm -> act layers (the noise-robustness experiment)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nish_jax.activations import Activation
from nish_jax.models.layers import check_input, check_positive_int, merge_window_axes
from nish_jax.models.registry import ModelSpec, register


class CNN(nn.Module):
    """``depth`` 3x3 conv -> BatchNorm -> act layers in up to three stages, each ending in a 2x2
    max-pool and doubling the width, then global average pooling and a dense head."""

    num_classes: int
    act: Activation
    depth: int = 5
    width: int = 32
    in_chans: int = 1
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        for option in ("depth", "width", "in_chans"):
            check_positive_int(option, getattr(self, option), "cnn")
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_input(x, self.in_chans, "cnn")
        dtypes = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        x = x.astype(self.dtype)
        stages = min(3, self.depth)
        per_stage = [self.depth // stages + (i < self.depth % stages) for i in range(stages)]
        layer = 0
        for stage, count in enumerate(per_stage):
            for _ in range(count):
                x = nn.Conv(
                    self.width * 2**stage,
                    (3, 3),
                    padding="SAME",
                    use_bias=False,
                    kernel_init=merge_window_axes(nn.initializers.he_normal()),
                    **dtypes,
                    name=f"conv{layer}",
                )(x)
                x = nn.BatchNorm(
                    use_running_average=not train,
                    momentum=0.9,
                    epsilon=1e-5,
                    **dtypes,
                    name=f"bn{layer}",
                )(x)
                x = self.act(x)
                layer += 1
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, **dtypes, name="head")(x)


register(
    ModelSpec(
        name="cnn",
        build=CNN,
        default_act="relu",
        input_shape=(28, 28, 1),
    )
)
