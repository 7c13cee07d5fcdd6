"""ResNet-18 (timm's layout and init) and the pre-activation ResNet-18 of He et al. (2016).

Both take the activation as a field, so every nonlinearity (stem included) is ``act``. Module
names spell timm's state-dict keys with ``_`` for ``.`` (``layer2_0/downsample_1`` is
``layer2.0.downsample.1``), which is all :func:`nish_jax.models.from_timm` needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nish_jax.activations import Activation
from nish_jax.models.layers import (
    KAIMING_NORMAL_FAN_OUT,
    batch_norm,
    check_choice,
    check_input,
    dotted_torch_key,
    torch_dense,
)
from nish_jax.models.registry import ModelSpec, register

STAGE_WIDTHS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = 2
STEMS = ("imagenet", "cifar")


def _conv(features: int, size: int, strides: int, dtype: Any, name: str) -> nn.Conv:
    """A bias-free conv with PyTorch's symmetric padding ``size // 2`` and timm's init."""
    return nn.Conv(
        features,
        (size, size),
        strides=strides,
        padding=size // 2,
        use_bias=False,
        kernel_init=KAIMING_NORMAL_FAN_OUT,
        dtype=dtype,
        name=name,
    )


class BasicBlock(nn.Module):
    """conv-BN-act-conv-BN plus the (projected) input, then act; timm's ``BasicBlock``.

    ``zero_init_last`` starts the last BatchNorm's scale at 0, as timm does by default, so each
    block begins as the identity.
    """

    features: int
    strides: int
    act: Activation
    zero_init_last: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        norm = batch_norm(train, self.dtype)
        last_scale = nn.initializers.zeros if self.zero_init_last else nn.initializers.ones
        y = _conv(self.features, 3, self.strides, self.dtype, "conv1")(x)
        y = self.act(norm(name="bn1")(y))
        y = _conv(self.features, 3, 1, self.dtype, "conv2")(y)
        y = norm(name="bn2", scale_init=last_scale)(y)
        shortcut = x
        if self.strides != 1 or x.shape[-1] != self.features:
            shortcut = _conv(self.features, 1, self.strides, self.dtype, "downsample_0")(x)
            shortcut = norm(name="downsample_1")(shortcut)
        return self.act(y + shortcut)


class PreActBlock(nn.Module):
    """BN-act-conv-BN-act-conv plus the input (He et al. 2016, "Identity Mappings").

    A projection shortcut, when the shape changes, reads the pre-activated input.
    """

    features: int
    strides: int
    act: Activation
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        norm = batch_norm(train, self.dtype)
        y = self.act(norm(name="bn1")(x))
        shortcut = x
        if self.strides != 1 or x.shape[-1] != self.features:
            shortcut = _conv(self.features, 1, self.strides, self.dtype, "shortcut")(y)
        y = _conv(self.features, 3, self.strides, self.dtype, "conv1")(y)
        y = self.act(norm(name="bn2")(y))
        y = _conv(self.features, 3, 1, self.dtype, "conv2")(y)
        return y + shortcut


def _residual_stages(x: jax.Array, make_block: Callable[..., nn.Module], train: bool) -> jax.Array:
    """Four stages of two blocks, widths 64-512; every stage after the first halves the size."""
    for stage, features in enumerate(STAGE_WIDTHS):
        for index in range(BLOCKS_PER_STAGE):
            strides = 2 if stage > 0 and index == 0 else 1
            block = make_block(features=features, strides=strides, name=f"layer{stage + 1}_{index}")
            x = block(x, train)
    return x


def _classifier(x: jax.Array, num_classes: int, dtype: Any) -> jax.Array:
    """Global average pooling and a linear layer initialised as PyTorch's ``nn.Linear``."""
    return torch_dense(num_classes, jnp.mean(x, axis=(1, 2)), dtype, "fc")


class ResNet18(nn.Module):
    """timm's ``resnet18``: stem, four stages of :class:`BasicBlock`, pooling, ``fc``.

    ``stem="imagenet"`` is timm's 7x7/2 conv and 3x3/2 max-pool; ``stem="cifar"`` a 3x3/1 conv
    without pooling, for 32x32 inputs.
    """

    num_classes: int
    act: Activation
    stem: str = "imagenet"
    zero_init_last: bool = True
    in_channels: int = 3
    dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        check_choice("stem", self.stem, STEMS, "resnet18")
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_input(x, self.in_channels, "resnet18")
        x = x.astype(self.dtype)
        if self.stem == "imagenet":
            x = _conv(STAGE_WIDTHS[0], 7, 2, self.dtype, "conv1")(x)
        else:
            x = _conv(STAGE_WIDTHS[0], 3, 1, self.dtype, "conv1")(x)
        x = self.act(batch_norm(train, self.dtype)(name="bn1")(x))
        if self.stem == "imagenet":
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))

        def make_block(**layout: Any) -> BasicBlock:
            return BasicBlock(
                act=self.act, zero_init_last=self.zero_init_last, dtype=self.dtype, **layout
            )

        x = _residual_stages(x, make_block, train)
        return _classifier(x, self.num_classes, self.dtype)


class PreActResNet18(nn.Module):
    """The CIFAR pre-activation ResNet-18: 3x3 conv, four stages of :class:`PreActBlock`, a
    final BN-act (the extra activation after the last unit), pooling and ``fc``."""

    num_classes: int
    act: Activation
    in_channels: int = 3
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_input(x, self.in_channels, "preact_resnet18")
        x = _conv(STAGE_WIDTHS[0], 3, 1, self.dtype, "conv1")(x.astype(self.dtype))

        def make_block(**layout: Any) -> PreActBlock:
            return PreActBlock(act=self.act, dtype=self.dtype, **layout)

        x = _residual_stages(x, make_block, train)
        x = self.act(batch_norm(train, self.dtype)(name="bn_final")(x))
        return _classifier(x, self.num_classes, self.dtype)


register(
    ModelSpec(
        name="resnet18",
        build=ResNet18,
        default_act="relu",
        options=("stem", "zero_init_last", "in_channels"),
        input_shape=(224, 224, 3),
        torch_key=dotted_torch_key,
        classifier="fc",
        reference="timm",
    )
)
register(
    ModelSpec(
        name="preact_resnet18",
        build=PreActResNet18,
        default_act="relu",
        options=("in_channels",),
        input_shape=(32, 32, 3),
    )
)
