"""Shared test set-up. JAX stays in its default (float32) mode, as users run it; tests that need
float64 references enable it themselves (see tests/test_nish.py)."""

import os

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
