"""Small pieces shared by the model families."""

from __future__ import annotations

import jax


def check_input(x: jax.Array, channels: int, model: str) -> None:
    """Raise a ValueError naming the expected NHWC shape when ``x`` is not a batch of images."""
    if x.ndim != 4 or x.shape[-1] != channels:
        raise ValueError(
            f"{model} expects NHWC images of shape (batch, height, width, {channels}); "
            f"got an input of shape {tuple(x.shape)}"
        )
