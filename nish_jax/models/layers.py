"""Small pieces shared by the model families: input checks, PyTorch-equivalent layers and inits."""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# PyTorch initialisers, in Flax terms (fans are computed the same way for HWIO and OIHW kernels).
#: ``nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")`` (timm's ResNet convs).
KAIMING_NORMAL_FAN_OUT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
#: ``nn.init.kaiming_uniform_(w)`` with its default ``a=0`` (torchvision's SqueezeNet convs).
KAIMING_UNIFORM = nn.initializers.variance_scaling(2.0, "fan_in", "uniform")
#: The default weight init of ``nn.Linear`` and ``nn.Conv2d``: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
TORCH_DEFAULT_KERNEL = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_default_bias(fan_in: int) -> nn.initializers.Initializer:
    """The default bias init of ``nn.Linear``/``nn.Conv2d``: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def batch_norm(train: bool, dtype: Any, **options: Any) -> functools.partial:
    """A BatchNorm constructor that behaves as PyTorch's default ``BatchNorm2d`` (momentum 0.1)."""
    return functools.partial(
        nn.BatchNorm,
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        dtype=dtype,
        **options,
    )


def torch_dense(features: int, x: jax.Array, dtype: Any, name: str) -> jax.Array:
    """``nn.Linear(x.shape[-1], features)`` with PyTorch's default init, applied to ``x``."""
    return nn.Dense(
        features,
        kernel_init=TORCH_DEFAULT_KERNEL,
        bias_init=torch_default_bias(x.shape[-1]),
        dtype=dtype,
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


def check_choice(option: str, value: Any, choices: tuple[Any, ...], model: str) -> None:
    """Raise a ValueError naming ``value`` and the valid ``choices`` of ``option``."""
    if value not in choices:
        raise ValueError(
            f"{model} option {option}={value!r} is not valid; choose from "
            f"{', '.join(map(repr, choices))}"
        )
