"""Small pieces shared by the model families: option and input checks, PyTorch-equivalent layers
and inits, channel rounding."""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def merge_window_axes(init: nn.initializers.Initializer) -> nn.initializers.Initializer:
    """``init`` drawing a kernel of more than 3 axes (a convolution's HWIO) as (H*W, I, O), then
    reshaped: the same numbers (JAX numbers a draw's elements in row-major order) and the same
    fans (with its default axes, variance scaling counts all but the last two as the window), in
    half the compile time: XLA's CPU compiler is slow over 4-d random draws (ResNet-18's init
    compiled in 17 s, now 9 s, on two cores, 2026-12-01). Every conv init of the models uses it."""

    def draw(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        if len(shape) <= 3:
            return init(key, shape, dtype)
        return init(key, (math.prod(shape[:-2]), *shape[-2:]), dtype).reshape(shape)

    return draw


# PyTorch initialisers, in Flax terms (fans are computed the same way for HWIO and OIHW kernels).
#: ``nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")`` (timm's ResNet convs).
KAIMING_NORMAL_FAN_OUT = merge_window_axes(
    nn.initializers.variance_scaling(2.0, "fan_out", "normal")
)
#: ``nn.init.kaiming_uniform_(w)`` with its default ``a=0`` (torchvision's SqueezeNet convs).
KAIMING_UNIFORM = merge_window_axes(nn.initializers.variance_scaling(2.0, "fan_in", "uniform"))
#: The default weight init of ``nn.Linear`` and ``nn.Conv2d``: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
TORCH_DEFAULT_KERNEL = merge_window_axes(
    nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")
)

#: Values of the ``stem`` option of the image networks: the reference's own stem and early strides
#: ("imagenet") or their adaptation to 32x32 images ("cifar"); :mod:`nish_jax.models` lists what
#: each network changes.
STEMS = ("imagenet", "cifar")


def torch_default_bias(fan_in: int) -> nn.initializers.Initializer:
    """The default bias init of ``nn.Linear``/``nn.Conv2d``: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def batch_norm(train: bool, dtype: Any, param_dtype: Any, **options: Any) -> functools.partial:
    """A BatchNorm constructor that behaves as PyTorch's default ``BatchNorm2d`` (momentum 0.1).

    Args:
      train: normalise with the batch's statistics (and update the running ones) when True, with
        the running ones when False.
      dtype: the computation dtype.
      param_dtype: the dtype of the scale and bias (the running statistics stay float32).
      **options: further ``nn.BatchNorm`` fields (``name``, ``scale_init``).

    Returns:
      A ``functools.partial`` of ``nn.BatchNorm``.
    """
    return functools.partial(
        nn.BatchNorm,
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        dtype=dtype,
        param_dtype=param_dtype,
        **options,
    )


def torch_dense(
    features: int, x: jax.Array, *, dtype: Any, param_dtype: Any, name: str
) -> jax.Array:
    """``nn.Linear(x.shape[-1], features)`` with PyTorch's default init, applied to ``x``.

    Args:
      features: the number of outputs.
      x: the input, features last.
      dtype: the computation dtype.
      param_dtype: the dtype of the kernel and bias.
      name: the layer's name.

    Returns:
      The layer's output.
    """
    return nn.Dense(
        features,
        kernel_init=TORCH_DEFAULT_KERNEL,
        bias_init=torch_default_bias(x.shape[-1]),
        dtype=dtype,
        param_dtype=param_dtype,
        name=name,
    )(x)


def dotted_torch_key(module_path: tuple[str, ...]) -> str:
    """The PyTorch key of a Flax module path whose names spell it with ``_`` for ``.``.

    ``("layer1_0", "downsample_1")`` becomes ``"layer1.0.downsample.1"``.
    """
    return ".".join(part.replace("_", ".") for part in module_path)


def check_input(x: jax.Array, channels: int, model: str) -> None:
    """Raise a ValueError naming the expected NHWC shape when ``x`` is not a batch of images."""
    if x.ndim != 4 or x.shape[-1] != channels:
        raise ValueError(
            f"{model} expects NHWC images of shape (batch, height, width, {channels}); "
            f"got an input of shape {tuple(x.shape)}"
        )


def make_divisible(value: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), one
    ``divisor`` more when that falls below ``round_limit * value`` (timm's ``make_divisible``)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


# Option checks: each network runs them on its fields in ``__post_init__``, so a bad value is a
# ValueError naming the model, the option, the value and what is valid, whichever way it is built.


def _invalid(model: str, option: str, value: Any, valid: str) -> ValueError:
    return ValueError(f"{model} option {option}={value!r} is not valid; {valid}")


def check_choice(option: str, value: Any, choices: tuple[Any, ...], model: str) -> None:
    """Raise a ValueError naming ``value`` and the valid ``choices`` of ``option``."""
    if value not in choices:
        raise _invalid(model, option, value, f"choose from {', '.join(map(repr, choices))}")


def check_positive_int(option: str, value: Any, model: str) -> None:
    """Raise a ValueError unless ``value`` is an integer >= 1 (a count of layers or channels)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise _invalid(model, option, value, "must be an integer >= 1")


def check_rate(option: str, value: Any, model: str) -> None:
    """Raise a ValueError unless ``value`` is a number in [0, 1) (a dropout probability)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) < 1:
        raise _invalid(model, option, value, "must be a number in [0, 1)")


def check_flag(option: str, value: Any, model: str) -> None:
    """Raise a ValueError unless ``value`` is True or False."""
    if not isinstance(value, bool):
        raise _invalid(model, option, value, "must be True or False")
