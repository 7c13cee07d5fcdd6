"""Theory figures: what the mean-field analysis of :mod:`nish_jax.analysis` predicts."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

IMAGES = os.path.normpath(
    os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "images")
)


def write_figure(figure: Figure, name: str) -> str:
    """Saves ``figure`` as ``docs/images/<name>`` (150 dpi), closes it and says where."""
    path = os.path.join(IMAGES, name)
    figure.savefig(path, dpi=150)
    plt.close(figure)
    print(f"wrote {path}")
    return path
