"""Architecture strings of the MobileNetV2 / EfficientNet / TinyNet family, decoded into blocks.

A network is a list of stages, each a list of block strings such as ``'ir_r2_k3_s2_e6_c24_se0.25'``
(timm's notation): the block kind comes first, then options in any order

- ``r`` repeats, ``k`` kernel size, ``s`` stride of the stage's first block, ``e`` expansion
  ratio, ``c`` output channels (these five positive), ``se`` squeeze-excitation ratio (of the
  block's input channels), ``skip`` / ``noskip`` to force the residual connection on or off.

Kinds: ``ds`` depthwise-separable (dw conv -> SE -> pw conv), ``ir`` inverted residual / MBConv
(pw expansion -> dw conv -> SE -> pw projection), ``er`` edge residual / fused MBConv (full
expansion conv -> SE -> pw projection), ``cn`` conv -> BatchNorm -> act.

:func:`build_blocks` scales channels (``channel_multiplier``, rounded to multiples of 8) and
repeats (``depth_multiplier``) exactly as timm's ``decode_arch_def`` and ``EfficientNetBuilder``
do, so parameter counts and layer shapes match timm's, and names every layer as timm does. Its
``stage_strides`` rewrites the stride of chosen stages; that is how the ``stem="cifar"`` networks
of :mod:`nish_jax.models.efficientnet` keep more resolution from the same block strings.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping

from nish_jax.models.layers import make_divisible

BLOCK_KINDS = ("ds", "ir", "er", "cn")
_NUMERIC_OPTIONS = ("r", "k", "s", "e", "c", "se")
_INTEGER_OPTIONS = ("r", "k", "s", "c")
_FLAG_OPTIONS = ("skip", "noskip")
DEPTH_TRUNCATIONS = ("ceil", "round")


def round_channels(channels: int, multiplier: float = 1.0, divisor: int = 8) -> int:
    """Channels scaled by the width ``multiplier`` and rounded to a multiple of ``divisor``."""
    if not multiplier:
        return channels
    return make_divisible(channels * multiplier, divisor)


@dataclasses.dataclass(frozen=True)
class BlockString:
    """One decoded block string: the block, how many times it repeats, and its options."""

    kind: str
    repeats: int
    kernel: int
    stride: int
    out_channels: int
    exp_ratio: float = 1.0
    se_ratio: float = 0.0
    skip: bool | None = None


def decode_block_string(text: str) -> BlockString:
    """Parse ``'ir_r2_k3_s2_e6_c24_se0.25'`` into a :class:`BlockString` (ValueError if bad)."""
    kind, *ops = text.split("_")
    if kind not in BLOCK_KINDS:
        raise ValueError(
            f"unknown block kind {kind!r} in block string {text!r}; valid kinds: "
            f"{', '.join(BLOCK_KINDS)}"
        )
    values: dict[str, str] = {}
    skip = None
    for op in ops:
        if op in _FLAG_OPTIONS:
            skip = op == "skip"
            continue
        match = re.fullmatch(r"([a-z]+)(\d+(?:\.\d+)?)", op)
        if match is None or match.group(1) not in _NUMERIC_OPTIONS:
            raise ValueError(
                f"unknown option {op!r} in block string {text!r}; valid options: "
                f"{', '.join(_NUMERIC_OPTIONS)} (followed by a number), {', '.join(_FLAG_OPTIONS)}"
            )
        values[match.group(1)] = match.group(2)
    missing = [key for key in _INTEGER_OPTIONS if key not in values]
    if missing:
        raise ValueError(f"block string {text!r} lacks option(s) {', '.join(missing)}")
    for key in _INTEGER_OPTIONS:
        if not values[key].isdigit() or int(values[key]) < 1:
            raise ValueError(
                f"option {key}{values[key]} in block string {text!r} is not valid; "
                f"{', '.join(_INTEGER_OPTIONS)} must be integers >= 1"
            )
    exp_ratio = float(values.get("e", 1.0))
    if exp_ratio <= 0:
        raise ValueError(f"expansion ratio e{values['e']} in block string {text!r} must be > 0")
    se_ratio = float(values.get("se", 0.0))
    if kind in ("ds", "cn") and exp_ratio != 1.0:
        raise ValueError(f"block kind {kind!r} has no expansion, got e{exp_ratio} in {text!r}")
    if kind == "cn" and se_ratio:
        raise ValueError(f"block kind 'cn' has no squeeze-excitation, got se in {text!r}")
    return BlockString(
        kind=kind,
        repeats=int(values["r"]),
        kernel=int(values["k"]),
        stride=int(values["s"]),
        out_channels=int(values["c"]),
        exp_ratio=exp_ratio,
        se_ratio=se_ratio,
        skip=skip,
    )


def scale_stage_depth(repeats: list[int], depth_multiplier: float, truncation: str) -> list[int]:
    """Repeats of each block string of one stage after depth scaling (timm's per-stage rule).

    The stage's total is scaled (``ceil`` as EfficientNet, ``round`` as TinyNet) and handed out
    proportionally from the last block string backwards, each keeping at least one block.
    """
    if truncation not in DEPTH_TRUNCATIONS:
        raise ValueError(
            f"unknown depth truncation {truncation!r}; valid: {', '.join(DEPTH_TRUNCATIONS)}"
        )
    total = sum(repeats)
    if truncation == "round":
        scaled_total = max(1, round(total * depth_multiplier))
    else:
        scaled_total = int(math.ceil(total * depth_multiplier))
    scaled = []
    for count in reversed(repeats):
        share = max(1, round(count / total * scaled_total))
        scaled.append(share)
        total -= count
        scaled_total -= share
    return scaled[::-1]


@dataclasses.dataclass(frozen=True)
class ConvLayer:
    """One conv -> BatchNorm (-> act) layer of a block, named as in timm (``conv_dw``, ``bn2``)."""

    conv: str
    norm: str
    features: int
    kernel: int
    stride: int
    depthwise: bool
    act: bool


@dataclasses.dataclass(frozen=True)
class BlockConfig:
    """A fully resolved block: its layers, SE width (0: none; SE runs before the last layer)
    and whether it adds its input back (the residual that stochastic depth drops)."""

    kind: str
    layers: tuple[ConvLayer, ...]
    se_channels: int
    residual: bool


def _block_layers(spec: BlockString, in_chs: int, out_chs: int, stride: int) -> list[ConvLayer]:
    mid_chs = make_divisible(in_chs * spec.exp_ratio)
    if spec.kind == "ds":
        return [
            ConvLayer("conv_dw", "bn1", in_chs, spec.kernel, stride, True, True),
            ConvLayer("conv_pw", "bn2", out_chs, 1, 1, False, False),
        ]
    if spec.kind == "ir":
        return [
            ConvLayer("conv_pw", "bn1", mid_chs, 1, 1, False, True),
            ConvLayer("conv_dw", "bn2", mid_chs, spec.kernel, stride, True, True),
            ConvLayer("conv_pwl", "bn3", out_chs, 1, 1, False, False),
        ]
    if spec.kind == "er":
        return [
            ConvLayer("conv_exp", "bn1", mid_chs, spec.kernel, stride, False, True),
            ConvLayer("conv_pwl", "bn2", out_chs, 1, 1, False, False),
        ]
    return [ConvLayer("conv", "bn1", out_chs, spec.kernel, stride, False, True)]


def _resolve_block(spec: BlockString, in_chs: int, out_chs: int, stride: int) -> BlockConfig:
    layers = _block_layers(spec, in_chs, out_chs, stride)
    se_channels = 0
    if spec.se_ratio:
        # SE width is a fraction of the block's input channels, applied to the expanded ones.
        se_in = layers[-2].features
        se_channels = round(se_in * (spec.se_ratio / spec.exp_ratio))
    # cn blocks add their input only on request ("skip"), the others unless told "noskip".
    wanted = spec.skip is True if spec.kind == "cn" else spec.skip is not False
    residual = wanted and stride == 1 and in_chs == out_chs
    return BlockConfig(spec.kind, tuple(layers), se_channels, residual)


def build_blocks(
    stages: tuple[tuple[str, ...], ...],
    stem_channels: int,
    channel_multiplier: float = 1.0,
    depth_multiplier: float = 1.0,
    depth_truncation: str = "ceil",
    stage_strides: Mapping[int, int] | None = None,
) -> tuple[tuple[BlockConfig, ...], ...]:
    """Every block of the network, stage by stage, from the stages' block strings.

    Only the first block of a stage strides; each block's input is the previous block's output.
    ``stage_strides`` maps a stage's index to the stride its first block takes instead of its
    string's ``s`` (``{1: 1}``: the second stage keeps the resolution).
    """
    stage_strides = dict(stage_strides or {})
    unknown = sorted(set(stage_strides) - set(range(len(stages))))
    if unknown or not all(isinstance(s, int) and s >= 1 for s in stage_strides.values()):
        raise ValueError(
            f"stage_strides {stage_strides!r} must map stage indices 0-{len(stages) - 1} "
            "to strides >= 1"
        )
    resolved = []
    in_chs = stem_channels
    for index, stage in enumerate(stages):
        specs = [decode_block_string(text) for text in stage]
        if index in stage_strides:
            specs[0] = dataclasses.replace(specs[0], stride=stage_strides[index])
        counts = scale_stage_depth([s.repeats for s in specs], depth_multiplier, depth_truncation)
        blocks: list[BlockConfig] = []
        for spec, count in zip(specs, counts, strict=True):
            out_chs = round_channels(spec.out_channels, channel_multiplier)
            for _ in range(count):
                stride = spec.stride if not blocks else 1
                blocks.append(_resolve_block(spec, in_chs, out_chs, stride))
                in_chs = out_chs
        resolved.append(tuple(blocks))
    return tuple(resolved)
