"""The airbench94 network (Keller Jordan's fast CIFAR-10 recipe) in Flax, with any activation.

A frozen 2x2 whitening convolution (3 -> 24 channels, its kernel the eigenvectors of the 2x2 patch
covariance of training images, see :func:`whitening_kernel`), the activation, three conv groups
``[Conv3x3, MaxPool2, BatchNorm, act, Conv3x3, BatchNorm, act]``, a 3x3 max-pool, a bias-free linear
head and logits scaled by 1/9. Unlike the original (GELU) every nonlinearity is ``act``.

As in the original: convolutions have no bias and start as identities on their first
``min(in, out)`` filters (an implicit residual), the rest PyTorch's default uniform init;
BatchNorm has a fixed scale of 1, a trained bias, eps 1e-12 and running statistics that keep 0.6
of their old value per step. The whitening kernel lives in its own collection ``"whitening"``,
out of the optimizer's reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nish_jax.activations import Activation
from nish_jax.models.layers import TORCH_DEFAULT_KERNEL

WHITENING_SIZE = 2  # the whitening kernel's side
WHITENING_WIDTH = 2 * 3 * WHITENING_SIZE**2  # every eigenvector, and its negative
BN_MOMENTUM = 0.6  # the share of the old running statistics (PyTorch momentum 0.4)
BN_EPSILON = 1e-12
LOGIT_SCALE = 1 / 9


def dirac_init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
    """PyTorch's default init with the first ``min(in, out)`` filters replaced by identities
    (output channel d copies input channel d), for an HWIO kernel."""
    kernel = TORCH_DEFAULT_KERNEL(key, shape, dtype)
    height, width, channels_in, channels_out = shape
    identities = np.arange(min(channels_in, channels_out))
    kernel = kernel.at[..., identities].set(0.0)
    return kernel.at[height // 2, width // 2, identities, identities].set(1.0)


class ConvGroup(nn.Module):
    """Conv3x3 -> MaxPool2 -> BatchNorm -> act -> Conv3x3 -> BatchNorm -> act."""

    width: int
    act: Activation
    dtype: Any

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        def conv(y: jax.Array) -> jax.Array:
            return nn.Conv(
                self.width, (3, 3), padding="SAME", use_bias=False, kernel_init=dirac_init,
                dtype=self.dtype,
            )(y)  # fmt: skip

        def norm(y: jax.Array) -> jax.Array:
            return nn.BatchNorm(
                use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                use_scale=False, dtype=self.dtype,
            )(y)  # fmt: skip

        x = nn.max_pool(conv(x), (2, 2), strides=(2, 2))
        x = self.act(norm(x))
        return self.act(norm(conv(x)))


class Airbench(nn.Module):
    """The network on normalised NHWC images; ``widths`` are the three conv groups'."""

    act: Activation
    widths: tuple[int, int, int] = (64, 256, 256)
    num_classes: int = 10
    dtype: Any = jnp.float32  # the compute dtype; parameters stay float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        kernel = self.variable(
            "whitening",
            "kernel",
            jnp.zeros,
            (WHITENING_SIZE, WHITENING_SIZE, x.shape[-1], WHITENING_WIDTH),
            jnp.float32,
        )
        bias = self.param("whitening_bias", nn.initializers.zeros, (WHITENING_WIDTH,))
        x = jax.lax.conv_general_dilated(
            x.astype(self.dtype),
            kernel.value.astype(self.dtype),
            window_strides=(1, 1),
            padding="VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        x = self.act(x + bias.astype(self.dtype))
        for width in self.widths:
            x = ConvGroup(width, self.act, self.dtype)(x, train)
        x = nn.max_pool(x, (3, 3), strides=(3, 3)).reshape(x.shape[0], -1)
        logits = nn.Dense(
            self.num_classes, use_bias=False, kernel_init=TORCH_DEFAULT_KERNEL, dtype=self.dtype
        )(x)
        return logits.astype(jnp.float32) * LOGIT_SCALE


def patches(images: jax.Array, size: int = WHITENING_SIZE) -> jax.Array:
    """Every ``size`` x ``size`` patch (stride 1) of NHWC ``images`` as rows, flattened in the
    (height, width, channel) order of an HWIO kernel."""
    _, height, width, channels = images.shape
    rows, cols = height - size + 1, width - size + 1
    shifted = [images[:, i : i + rows, j : j + cols, :] for i in range(size) for j in range(size)]
    stacked = jnp.stack(shifted, axis=-2)  # (n, rows, cols, size * size, channels)
    return stacked.reshape(-1, size * size * channels)


def whitening_kernel(
    images: jax.Array, eps: float = 5e-4, size: int = WHITENING_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """The whitening kernel (HWIO, ``2 * size * size * channels`` filters) from normalised
    ``images``, and the patch covariance's eigenvalues, largest first.

    Filter j < d is eigenvector j of the (uncentred) patch covariance over ``sqrt(eigenvalue_j +
    eps)``, filter d + j its negative: the first d outputs have covariance ``eigenvalue /
    (eigenvalue + eps)``, about the identity on every direction whose variance is well above eps.
    """
    rows = patches(jnp.asarray(images, jnp.float32), size)
    covariance = jnp.matmul(rows.T, rows, precision=jax.lax.Precision.HIGHEST) / rows.shape[0]
    eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(covariance, np.float64))
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    scaled = eigenvectors / np.sqrt(eigenvalues + eps)
    channels = images.shape[-1]
    kernel = np.concatenate([scaled, -scaled], axis=1)
    return kernel.reshape(size, size, channels, -1).astype(np.float32), eigenvalues
