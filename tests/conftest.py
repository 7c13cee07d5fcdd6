"""Shared test set-up: float64 is enabled so references can be computed next to float32 results."""

import os

import jax

jax.config.update("jax_enable_x64", True)

# Tests read real data sets through the same option a user has (NISH_DATA_DIR).
os.environ.setdefault(
    "NISH_DATA_DIR",
    os.pathsep.join(
        [
            os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"),
            "/usr/share/datasets",
        ]
    ),
)
