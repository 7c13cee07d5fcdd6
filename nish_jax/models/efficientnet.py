"""MobileNetV2, EfficientNet-B0 (PyTorch and TF padding), EfficientNetV2-S and TinyNet-B/C.

One network class, :class:`EfficientNet`, built from architecture strings (see
:mod:`nish_jax.models.efficientnet_arch`) as timm's ``EfficientNet`` is, with timm's layer names,
so :func:`nish_jax.models.from_timm` loads timm weights directly. Every nonlinearity (stem,
blocks, SE reduction, head) is ``act``; only the squeeze-excitation gate stays a sigmoid.

``stem="imagenet"`` (the default) is timm's network. ``stem="cifar"`` changes strides only, so
layers, names and parameter counts stay timm's: the stem conv strides 1 instead of 2, and each
variant's ``cifar_stage_strides`` rewrite the stride of early stages in the block builder.
MobileNetV2 also keeps its second stage at stride 1, as kuangliu/pytorch-cifar's MobileNetV2 does
(32x32 images reach the head at 4x4). The EfficientNets and TinyNets change only the stem, as
kuangliu/pytorch-cifar's EfficientNetB0 does (2x2 at the head); EfficientNetV2-S, which has no
CIFAR version there, follows EfficientNet-B0, whose stride schedule it shares. (kuangliu's
EfficientNetB0 also drops the 1280-channel head conv and sizes SE on expanded channels; those
changes are not made here.)

Randomness in training mode: classifier dropout (``drop_rate``) and stochastic depth
(``drop_path_rate``, growing linearly from 0 at the first block to the rate at the last) both
draw from the ``'dropout'`` rng, so ``model.apply(..., train=True, rngs={'dropout': key})``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nish_jax.activations import Activation
from nish_jax.models.efficientnet_arch import BlockConfig, ConvLayer, build_blocks, round_channels
from nish_jax.models.layers import (
    STEMS,
    check_choice,
    check_input,
    check_positive_int,
    check_rate,
    merge_window_axes,
)
from nish_jax.models.registry import ModelSpec, register

BN_EPS_TORCH = 1e-5
BN_EPS_TF = 1e-3
HEAD_CHANNELS = 1280

MOBILENET_V2_STAGES = (
    ("ds_r1_k3_s1_c16",),
    ("ir_r2_k3_s2_e6_c24",),
    ("ir_r3_k3_s2_e6_c32",),
    ("ir_r4_k3_s2_e6_c64",),
    ("ir_r3_k3_s1_e6_c96",),
    ("ir_r3_k3_s2_e6_c160",),
    ("ir_r1_k3_s1_e6_c320",),
)
EFFICIENTNET_STAGES = (
    ("ds_r1_k3_s1_e1_c16_se0.25",),
    ("ir_r2_k3_s2_e6_c24_se0.25",),
    ("ir_r2_k5_s2_e6_c40_se0.25",),
    ("ir_r3_k3_s2_e6_c80_se0.25",),
    ("ir_r3_k5_s1_e6_c112_se0.25",),
    ("ir_r4_k5_s2_e6_c192_se0.25",),
    ("ir_r1_k3_s1_e6_c320_se0.25",),
)
EFFICIENTNET_V2_S_STAGES = (
    ("cn_r2_k3_s1_e1_c24_skip",),
    ("er_r4_k3_s2_e4_c48",),
    ("er_r4_k3_s2_e4_c64",),
    ("ir_r6_k3_s2_e4_c128_se0.25",),
    ("ir_r9_k3_s1_e6_c160_se0.25",),
    ("ir_r15_k3_s2_e6_c256_se0.25",),
)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One named network: its stages, width/depth scaling and reference conventions.

    ``tf_padding`` selects TensorFlow "SAME" padding (asymmetric when striding, as timm's
    ``tf_`` models) instead of PyTorch's symmetric ``(k - 1) // 2``. ``scale_stem`` applies the
    width multiplier to the stem; ``head_floor`` keeps the head at least 1280 channels wide.
    ``cifar_stage_strides``: (stage index, stride) pairs that ``stem="cifar"`` applies besides
    its stride-1 stem.
    """

    stages: tuple[tuple[str, ...], ...]
    stem: int
    default_act: str
    input_size: int = 224
    channel_multiplier: float = 1.0
    depth_multiplier: float = 1.0
    depth_truncation: str = "ceil"
    scale_stem: bool = True
    head_floor: bool = False
    tf_padding: bool = False
    bn_eps: float = BN_EPS_TORCH
    cifar_stage_strides: tuple[tuple[int, int], ...] = ()

    def stem_channels(self) -> int:
        if not self.scale_stem:
            return self.stem
        return round_channels(self.stem, self.channel_multiplier)

    def head_channels(self) -> int:
        head = round_channels(HEAD_CHANNELS, self.channel_multiplier)
        return max(HEAD_CHANNELS, head) if self.head_floor else head

    def blocks(self, stem: str) -> tuple[tuple[BlockConfig, ...], ...]:
        return build_blocks(
            self.stages,
            self.stem_channels(),
            self.channel_multiplier,
            self.depth_multiplier,
            self.depth_truncation,
            stage_strides=dict(self.cifar_stage_strides) if stem == "cifar" else None,
        )


VARIANTS: dict[str, Variant] = {
    "mobilenetv2_100": Variant(
        MOBILENET_V2_STAGES, 32, "relu6", head_floor=True, cifar_stage_strides=((1, 1),)
    ),
    "efficientnet_b0": Variant(EFFICIENTNET_STAGES, 32, "silu"),
    "tf_efficientnet_b0": Variant(
        EFFICIENTNET_STAGES, 32, "silu", tf_padding=True, bn_eps=BN_EPS_TF
    ),
    "tf_efficientnetv2_s": Variant(
        EFFICIENTNET_V2_S_STAGES, 24, "silu", input_size=300, tf_padding=True, bn_eps=BN_EPS_TF
    ),
    "tinynet_b": Variant(
        EFFICIENTNET_STAGES, 32, "silu", input_size=188, channel_multiplier=0.75,
        depth_multiplier=1.1, depth_truncation="round", scale_stem=False, head_floor=True,
    ),
    "tinynet_c": Variant(
        EFFICIENTNET_STAGES, 32, "silu", input_size=184, channel_multiplier=0.54,
        depth_multiplier=0.85, depth_truncation="round", scale_stem=False, head_floor=True,
    ),
}  # fmt: skip


def conv_kernel_init(groups: int) -> Callable[..., jax.Array]:
    """timm's ``_init_weight_goog`` for convs: normal(0, sqrt(2 / fan_out)), fan_out per group."""
    standard_normal = merge_window_axes(nn.initializers.normal(1.0))

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        height, width, _, out_channels = shape
        fan_out = height * width * out_channels // groups
        return standard_normal(key, shape, dtype) * math.sqrt(2.0 / fan_out)

    return init


def classifier_kernel_init(
    key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32
) -> jax.Array:
    """timm's ``_init_weight_goog`` for linear layers: uniform(+-1 / sqrt(fan_out))."""
    bound = 1.0 / math.sqrt(shape[-1])
    return jax.random.uniform(key, shape, dtype, -bound, bound)


def _padding(kernel: int, stride: int, tf_padding: bool) -> str | list[tuple[int, int]]:
    if tf_padding:
        return "SAME"
    pad = (stride - 1 + kernel - 1) // 2
    return [(pad, pad), (pad, pad)]


def _conv_bn(
    x: jax.Array,
    layer: ConvLayer,
    *,
    act: Activation,
    train: bool,
    tf_padding: bool,
    bn_eps: float,
    dtype: Any,
    param_dtype: Any,
) -> jax.Array:
    """conv -> BatchNorm (-> act), named after ``layer`` in the calling module."""
    groups = x.shape[-1] if layer.depthwise else 1
    x = nn.Conv(
        layer.features,
        (layer.kernel, layer.kernel),
        strides=layer.stride,
        padding=_padding(layer.kernel, layer.stride, tf_padding),
        feature_group_count=groups,
        use_bias=False,
        kernel_init=conv_kernel_init(groups),
        dtype=dtype,
        param_dtype=param_dtype,
        name=layer.conv,
    )(x)
    x = nn.BatchNorm(
        use_running_average=not train,
        momentum=0.9,
        epsilon=bn_eps,
        dtype=dtype,
        param_dtype=param_dtype,
        name=layer.norm,
    )(x)
    return act(x) if layer.act else x


class SqueezeExcite(nn.Module):
    """Channel attention: pooled features -> 1x1 conv -> act -> 1x1 conv -> sigmoid gate."""

    reduced: int
    act: Activation
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(
            nn.Conv,
            kernel_size=(1, 1),
            kernel_init=conv_kernel_init(1),
            dtype=self.dtype,
            param_dtype=self.param_dtype,
        )
        gate = jnp.mean(x, axis=(1, 2), keepdims=True)
        gate = self.act(conv(self.reduced, name="conv_reduce")(gate))
        gate = conv(x.shape[-1], name="conv_expand")(gate)
        return x * jax.nn.sigmoid(gate)


class Block(nn.Module):
    """One ds / ir / er / cn block: its conv layers, SE before the last one, and the residual
    with stochastic depth (whole samples dropped with probability ``drop_path``, train only)."""

    config: BlockConfig
    act: Activation
    tf_padding: bool
    bn_eps: float
    drop_path: float = 0.0
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        shortcut = x
        dtypes = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        layer_options = dict(
            act=self.act, train=train, tf_padding=self.tf_padding, bn_eps=self.bn_eps, **dtypes
        )
        *body, last = self.config.layers
        for layer in body:
            x = _conv_bn(x, layer, **layer_options)
        if self.config.se_channels:
            x = SqueezeExcite(self.config.se_channels, self.act, **dtypes, name="se")(x)
        x = _conv_bn(x, last, **layer_options)
        if not self.config.residual:
            return x
        if train and self.drop_path > 0:
            keep = 1.0 - self.drop_path
            kept = jax.random.bernoulli(self.make_rng("dropout"), keep, (x.shape[0], 1, 1, 1))
            x = x * (kept.astype(x.dtype) / keep)
        return x + shortcut


class EfficientNet(nn.Module):
    """Stem conv -> blocks -> 1x1 head conv -> global average pool -> dropout -> classifier.

    Takes NHWC images of ``in_chans`` channels; ``train`` switches BatchNorm to batch statistics
    and turns on dropout and stochastic depth. ``dtype`` is the computation dtype,
    ``param_dtype`` the parameters'. ``stem`` is "imagenet" or "cifar" (module doc).
    """

    num_classes: int
    act: Activation
    variant: Variant
    model_name: str
    stem: str = "imagenet"
    drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    in_chans: int = 3
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        check_choice("stem", self.stem, STEMS, self.model_name)
        check_rate("drop_rate", self.drop_rate, self.model_name)
        check_rate("drop_path_rate", self.drop_path_rate, self.model_name)
        check_positive_int("in_chans", self.in_chans, self.model_name)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_input(x, self.in_chans, self.model_name)
        variant = self.variant
        dtypes = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        layer_options = dict(
            act=self.act, train=train, tf_padding=variant.tf_padding, bn_eps=variant.bn_eps,
            **dtypes,
        )  # fmt: skip
        x = x.astype(self.dtype)
        stem_stride = 1 if self.stem == "cifar" else 2
        stem = ConvLayer("conv_stem", "bn1", variant.stem_channels(), 3, stem_stride, False, True)
        x = _conv_bn(x, stem, **layer_options)
        stages = variant.blocks(self.stem)
        total = sum(len(stage) for stage in stages)
        index = 0
        for stage_index, stage in enumerate(stages):
            for block_index, config in enumerate(stage):
                x = Block(
                    config,
                    self.act,
                    variant.tf_padding,
                    variant.bn_eps,
                    drop_path=self.drop_path_rate * index / total,
                    **dtypes,
                    name=f"blocks_{stage_index}_{block_index}",
                )(x, train)
                index += 1
        head = ConvLayer("conv_head", "bn2", variant.head_channels(), 1, 1, False, True)
        x = _conv_bn(x, head, **layer_options)
        x = jnp.mean(x, axis=(1, 2))
        x = nn.Dropout(self.drop_rate, deterministic=not train)(x)
        return nn.Dense(
            self.num_classes,
            kernel_init=classifier_kernel_init,
            **dtypes,
            name="classifier",
        )(x)


def torch_key(module_path: tuple[str, ...]) -> str:
    """timm's state-dict prefix of a Flax module path: ``blocks_1_0/se/conv_reduce`` becomes
    ``blocks.1.0.se.conv_reduce``; the other names are timm's already."""
    first, *rest = module_path
    if first.startswith("blocks_"):
        first = first.replace("_", ".")
    return ".".join([first, *rest])


for _name, _variant in VARIANTS.items():
    register(
        ModelSpec(
            name=_name,
            build=functools.partial(EfficientNet, variant=_variant, model_name=_name),
            default_act=_variant.default_act,
            input_shape=(_variant.input_size, _variant.input_size, 3),
            torch_key=torch_key,
            classifier="classifier",
        )
    )
