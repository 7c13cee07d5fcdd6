"""ResNet-18 and SE-ResNet-18 (timm's ``resnet18`` and ``seresnet18``: layout and init) and the
pre-activation ResNet-18 of He et al. (2016).

All take the activation as a field, so every nonlinearity (stem and squeeze-excitation included)
is ``act``; only the squeeze-excitation gate stays a sigmoid. Module names spell timm's state-dict
keys with ``_`` for ``.`` (``layer2_0/downsample_1`` is ``layer2.0.downsample.1``), which is all
:func:`nish_jax.models.from_timm` needs.

The ``stem`` option:

- ``resnet18``, ``senet18``: "imagenet" (default) is timm's 7x7/2 conv -> BN -> act -> 3x3/2
  max-pool. "cifar" is a 3x3/1 conv -> BN -> act without the max-pool, as in
  kuangliu/pytorch-cifar's ResNet18 (and weiaicunzai/pytorch-cifar100's SE-ResNet-18), so a
  32x32 image reaches the last stage at 4x4 instead of 1x1. Nothing else changes.
- ``preact_resnet18``: "cifar" (default) is a lone 3x3/1 conv, as in kuangliu/pytorch-cifar's
  PreActResNet18 (the first block pre-activates it). "imagenet" is a 7x7/2 conv and a 3x3/2
  max-pool: resnet18's downsampling, its BN-act left to the first block.

``senet18`` puts a squeeze-excitation unit (Hu et al. 2018) on each block's residual branch, after
the second BatchNorm and before the sum, with timm's SE width: channels / 16 rounded to a multiple
of 8 (8, 8, 16, 32 in the four stages). kuangliu/pytorch-cifar's ``SENet18`` uses pre-activation
blocks instead; this is the post-activation SE-ResNet of the SE paper and of timm.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nish_jax.activations import Activation
from nish_jax.models.layers import (
    KAIMING_NORMAL_FAN_OUT,
    STEMS,
    batch_norm,
    check_choice,
    check_flag,
    check_input,
    check_positive_int,
    dotted_torch_key,
    make_divisible,
    torch_default_bias,
    torch_dense,
)
from nish_jax.models.registry import ModelSpec, register

STAGE_WIDTHS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = 2
SE_REDUCTION = 16
# The stem conv's (kernel size, stride) per ``stem``; "imagenet" follows it with a max-pool.
_STEM_CONV = {"imagenet": (7, 2), "cifar": (3, 1)}


def _conv(
    features: int, size: int, strides: int = 1, *, dtype: Any, param_dtype: Any, name: str
) -> nn.Conv:
    """A bias-free conv with PyTorch's symmetric padding ``size // 2`` and timm's init."""
    return nn.Conv(
        features,
        (size, size),
        strides=strides,
        padding=size // 2,
        use_bias=False,
        kernel_init=KAIMING_NORMAL_FAN_OUT,
        dtype=dtype,
        param_dtype=param_dtype,
        name=name,
    )


def _stem_pool(x: jax.Array) -> jax.Array:
    """The ImageNet stem's ``nn.MaxPool2d(3, stride=2, padding=1)``."""
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


class SqueezeExcite(nn.Module):
    """timm's ``SEModule``: spatial mean -> 1x1 conv ``fc1`` -> act -> 1x1 conv ``fc2`` -> sigmoid,
    which scales the input's channels. ``fc1`` has channels / 16 outputs, rounded to a multiple
    of 8; both convs have biases (PyTorch's default init) and timm's ResNet kernel init."""

    act: Activation
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        reduced = make_divisible(channels / SE_REDUCTION, 8, round_limit=0.0)

        def fc(features: int, fan_in: int, name: str) -> nn.Conv:
            return nn.Conv(
                features,
                (1, 1),
                kernel_init=KAIMING_NORMAL_FAN_OUT,
                bias_init=torch_default_bias(fan_in),
                dtype=self.dtype,
                param_dtype=self.param_dtype,
                name=name,
            )

        gate = jnp.mean(x, axis=(1, 2), keepdims=True)
        gate = self.act(fc(reduced, channels, "fc1")(gate))
        gate = fc(channels, reduced, "fc2")(gate)
        return x * jax.nn.sigmoid(gate)


class BasicBlock(nn.Module):
    """conv-BN-act-conv-BN (-> SE) plus the (projected) input, then act; timm's ``BasicBlock``.

    ``conv`` and ``norm`` build the network's convs and BatchNorms. ``squeeze_excite``, when
    given, builds the SE unit applied after the second BatchNorm (SE-ResNet). ``zero_init_last``
    starts the last BatchNorm's scale at 0, as timm does by default, so each block begins as the
    identity.
    """

    features: int
    strides: int
    act: Activation
    conv: Callable[..., nn.Module]
    norm: Callable[..., nn.Module]
    squeeze_excite: Callable[..., nn.Module] | None = None
    zero_init_last: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        last_scale = nn.initializers.zeros if self.zero_init_last else nn.initializers.ones
        y = self.conv(self.features, 3, self.strides, name="conv1")(x)
        y = self.act(self.norm(name="bn1")(y))
        y = self.conv(self.features, 3, name="conv2")(y)
        y = self.norm(name="bn2", scale_init=last_scale)(y)
        if self.squeeze_excite is not None:
            y = self.squeeze_excite(name="se")(y)
        shortcut = x
        if self.strides != 1 or x.shape[-1] != self.features:
            shortcut = self.conv(self.features, 1, self.strides, name="downsample_0")(x)
            shortcut = self.norm(name="downsample_1")(shortcut)
        return self.act(y + shortcut)


class PreActBlock(nn.Module):
    """BN-act-conv-BN-act-conv plus the input (He et al. 2016, "Identity Mappings").

    A projection shortcut, when the shape changes, reads the pre-activated input.
    """

    features: int
    strides: int
    act: Activation
    conv: Callable[..., nn.Module]
    norm: Callable[..., nn.Module]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.act(self.norm(name="bn1")(x))
        shortcut = x
        if self.strides != 1 or x.shape[-1] != self.features:
            shortcut = self.conv(self.features, 1, self.strides, name="shortcut")(y)
        y = self.conv(self.features, 3, self.strides, name="conv1")(y)
        y = self.act(self.norm(name="bn2")(y))
        y = self.conv(self.features, 3, name="conv2")(y)
        return y + shortcut


def _residual_stages(x: jax.Array, block: Callable[..., nn.Module]) -> jax.Array:
    """Four stages of two blocks, widths 64-512; every stage after the first halves the size."""
    for stage, features in enumerate(STAGE_WIDTHS):
        for index in range(BLOCKS_PER_STAGE):
            strides = 2 if stage > 0 and index == 0 else 1
            x = block(features=features, strides=strides, name=f"layer{stage + 1}_{index}")(x)
    return x


def _classifier(x: jax.Array, num_classes: int, dtype: Any, param_dtype: Any) -> jax.Array:
    """Global average pooling and a linear layer initialised as PyTorch's ``nn.Linear``."""
    features = jnp.mean(x, axis=(1, 2))
    return torch_dense(num_classes, features, dtype=dtype, param_dtype=param_dtype, name="fc")


class ResNet18(nn.Module):
    """timm's ``resnet18``: stem, four stages of :class:`BasicBlock`, pooling, ``fc``; with
    ``squeeze_excite`` timm's ``seresnet18`` (registered as ``senet18``). ``stem``: module doc."""

    num_classes: int
    act: Activation
    stem: str = "imagenet"
    squeeze_excite: bool = False
    zero_init_last: bool = True
    in_chans: int = 3
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @property
    def model_name(self) -> str:
        return "senet18" if self.squeeze_excite else "resnet18"

    def __post_init__(self) -> None:
        check_flag("squeeze_excite", self.squeeze_excite, "resnet18")
        check_choice("stem", self.stem, STEMS, self.model_name)
        check_flag("zero_init_last", self.zero_init_last, self.model_name)
        check_positive_int("in_chans", self.in_chans, self.model_name)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_input(x, self.in_chans, self.model_name)
        conv = functools.partial(_conv, dtype=self.dtype, param_dtype=self.param_dtype)
        norm = batch_norm(train, self.dtype, self.param_dtype)
        size, strides = _STEM_CONV[self.stem]
        x = conv(STAGE_WIDTHS[0], size, strides, name="conv1")(x.astype(self.dtype))
        x = self.act(norm(name="bn1")(x))
        if self.stem == "imagenet":
            x = _stem_pool(x)
        squeeze_excite = None
        if self.squeeze_excite:
            squeeze_excite = functools.partial(
                SqueezeExcite, act=self.act, dtype=self.dtype, param_dtype=self.param_dtype
            )
        block = functools.partial(
            BasicBlock,
            act=self.act,
            conv=conv,
            norm=norm,
            squeeze_excite=squeeze_excite,
            zero_init_last=self.zero_init_last,
        )
        x = _residual_stages(x, block)
        return _classifier(x, self.num_classes, self.dtype, self.param_dtype)


class PreActResNet18(nn.Module):
    """The CIFAR pre-activation ResNet-18: stem conv, four stages of :class:`PreActBlock`, a
    final BN-act (the extra activation after the last unit), pooling and ``fc``. ``stem``:
    module doc (default "cifar")."""

    num_classes: int
    act: Activation
    stem: str = "cifar"
    in_chans: int = 3
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        check_choice("stem", self.stem, STEMS, "preact_resnet18")
        check_positive_int("in_chans", self.in_chans, "preact_resnet18")
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_input(x, self.in_chans, "preact_resnet18")
        conv = functools.partial(_conv, dtype=self.dtype, param_dtype=self.param_dtype)
        norm = batch_norm(train, self.dtype, self.param_dtype)
        size, strides = _STEM_CONV[self.stem]
        x = conv(STAGE_WIDTHS[0], size, strides, name="conv1")(x.astype(self.dtype))
        if self.stem == "imagenet":
            x = _stem_pool(x)
        x = _residual_stages(x, functools.partial(PreActBlock, act=self.act, conv=conv, norm=norm))
        x = self.act(norm(name="bn_final")(x))
        return _classifier(x, self.num_classes, self.dtype, self.param_dtype)


for _name, _squeeze_excite in (("resnet18", False), ("senet18", True)):
    register(
        ModelSpec(
            name=_name,
            build=functools.partial(ResNet18, squeeze_excite=_squeeze_excite),
            default_act="relu",
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
        input_shape=(32, 32, 3),
    )
)
