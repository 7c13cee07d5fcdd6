"""torchvision's SqueezeNet 1.0 and 1.1, with every ReLU (classifier included) replaced by ``act``.

Layer names spell torchvision's state-dict keys with ``_`` for ``.`` (``features_3/squeeze`` is
``features.3.squeeze``), so :func:`nish_jax.models.from_timm` converts its weights.

``stem="imagenet"`` (the default) is torchvision's network: a stride-2 unpadded stem conv (7x7,
96 channels in 1.0; 3x3, 64 in 1.1) and a 3x3/2 max-pool, then Fire modules with two more
max-pools; a 32x32 image reaches the classifier at 1x1. ``stem="cifar"`` makes the stem conv 3x3,
stride 1, padding 1 (same channels) and drops the max-pool after it; the Fire modules and their
two max-pools are unchanged, so a 32x32 image reaches the classifier at 8x8. Layer names stay
torchvision's. (weiaicunzai/pytorch-cifar100's SqueezeNet, a different network with BatchNorm
and bypasses, keeps a 2x2 max-pool after its 3x3/1 stem and reaches 4x4.)
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nish_jax.activations import Activation
from nish_jax.models.layers import (
    KAIMING_UNIFORM,
    STEMS,
    check_choice,
    check_input,
    check_positive_int,
    check_rate,
    dotted_torch_key,
    merge_window_axes,
)
from nish_jax.models.registry import ModelSpec, register

# torchvision's ``features``: a stem (conv, act, max-pool at indices 0-2), then one entry per index
# from 3: "pool" or a Fire module as (squeeze, expand1x1, expand3x3) channels.
_STEM_CONV = {"1_0": (96, 7), "1_1": (64, 3)}  # channels, kernel size (stride 2, unpadded)
_BODY: dict[str, list[tuple[int, int, int] | str]] = {
    "1_0": [
        (16, 64, 64),
        (16, 64, 64),
        (32, 128, 128),
        "pool",
        (32, 128, 128),
        (48, 192, 192),
        (48, 192, 192),
        (64, 256, 256),
        "pool",
        (64, 256, 256),
    ],
    "1_1": [
        (16, 64, 64),
        (16, 64, 64),
        "pool",
        (32, 128, 128),
        (32, 128, 128),
        "pool",
        (48, 192, 192),
        (48, 192, 192),
        (64, 256, 256),
        (64, 256, 256),
    ],
}
_BODY_START = 3


def _conv(features: int, size: int, name: str, **options: Any) -> nn.Conv:
    """A conv with bias 0 and torchvision's SqueezeNet init (kaiming-uniform unless overridden);
    unpadded unless ``padding`` says otherwise, as ``nn.Conv2d``. ``options`` are ``nn.Conv``'s
    (``dtype`` and ``param_dtype`` among them)."""
    options.setdefault("kernel_init", KAIMING_UNIFORM)
    options.setdefault("padding", "VALID")
    return nn.Conv(features, (size, size), bias_init=nn.initializers.zeros, name=name, **options)


def max_pool_ceil(x: jax.Array, size: int = 3, stride: int = 2) -> jax.Array:
    """``nn.MaxPool2d(size, stride, ceil_mode=True)``: a last, partial window is kept."""
    pads = []
    for length in x.shape[1:3]:
        out = math.ceil((length - size) / stride) + 1
        pads.append((0, (out - 1) * stride + size - length))
    return nn.max_pool(x, (size, size), strides=(stride, stride), padding=tuple(pads))


class Fire(nn.Module):
    """A 1x1 squeeze conv, then 1x1 and 3x3 expand convs concatenated; act after each conv."""

    squeeze: int
    expand1x1: int
    expand3x3: int
    act: Activation
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(_conv, dtype=self.dtype, param_dtype=self.param_dtype)
        x = self.act(conv(self.squeeze, 1, "squeeze")(x))
        left = self.act(conv(self.expand1x1, 1, "expand1x1")(x))
        right = self.act(conv(self.expand3x3, 3, "expand3x3", padding=1)(x))
        return jnp.concatenate([left, right], axis=-1)


class SqueezeNet(nn.Module):
    """torchvision's ``SqueezeNet``: features, then dropout -> 1x1 conv -> act -> average pool.

    ``version`` is "1_0" or "1_1"; ``stem``: module doc. The final conv is initialised
    N(0, 0.01), the others kaiming-uniform, all biases 0, as in torchvision.
    """

    num_classes: int
    act: Activation
    version: str = "1_0"
    stem: str = "imagenet"
    dropout: float = 0.5
    in_chans: int = 3
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        check_choice("version", self.version, tuple(_BODY), "squeezenet")
        model = f"squeezenet{self.version}"
        check_choice("stem", self.stem, STEMS, model)
        check_rate("dropout", self.dropout, model)
        check_positive_int("in_chans", self.in_chans, model)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_input(x, self.in_chans, f"squeezenet{self.version}")
        conv = functools.partial(_conv, dtype=self.dtype, param_dtype=self.param_dtype)
        x = x.astype(self.dtype)
        channels, size = _STEM_CONV[self.version]
        if self.stem == "imagenet":
            x = self.act(conv(channels, size, "features_0", strides=2)(x))
            x = max_pool_ceil(x)
        else:
            x = self.act(conv(channels, 3, "features_0", padding=1)(x))
        for index, layer in enumerate(_BODY[self.version], start=_BODY_START):
            if isinstance(layer, tuple):  # (squeeze, expand1x1, expand3x3) of a Fire block
                x = Fire(
                    *layer,
                    act=self.act,
                    dtype=self.dtype,
                    param_dtype=self.param_dtype,
                    name=f"features_{index}",
                )(x)
            else:  # "pool"
                x = max_pool_ceil(x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        final_init = merge_window_axes(nn.initializers.normal(0.01))
        x = conv(self.num_classes, 1, "classifier_1", kernel_init=final_init)(x)
        return jnp.mean(self.act(x), axis=(1, 2))


for _version in _BODY:
    register(
        ModelSpec(
            name=f"squeezenet{_version}",
            build=functools.partial(SqueezeNet, version=_version),
            default_act="relu",
            input_shape=(224, 224, 3),
            torch_key=dotted_torch_key,
            classifier="classifier.1",
            reference="torchvision",
        )
    )
