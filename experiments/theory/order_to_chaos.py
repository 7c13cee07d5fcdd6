"""The order-to-chaos boundary of wide random networks, per activation.

    python -m experiments.theory.order_to_chaos      # writes docs/images/order_to_chaos.png

For a fully connected network with weight variance ``sigma_w^2 / fan_in`` and bias variance
``sigma_b^2``, the boundary is the curve ``chi_1 = 1`` in the ``(sigma_w^2, sigma_b^2)`` plane
(Poole et al. 2016, Schoenholz et al. 2017): to its left gradients vanish with depth (order), to
its right they explode (chaos). ``chi_1`` comes from :func:`nish_jax.analysis.chi1_grid` at the
variance fixed point that unit-variance inputs reach. ReLU's boundary is the line
``sigma_w^2 = 2`` (He initialisation), which every ReLU-like activation approaches at large
``sigma_b^2`` (large variances see only their linear tails). ELU and Nish, with ``phi'(0) = 1``,
bend to ``sigma_w^2 = 1`` as ``sigma_b^2 -> 0``, where the variance vanishes and only the slope
at 0 matters. Where SiLU's, GELU's and Mish's boundaries run diagonally to ``sigma_b^2 = 0``,
``chi_1`` jumps across 1: left of it unit-variance inputs decay to the fixed point 0 (where
``chi_1 = sigma_w^2 phi'(0)^2 < 1``), right of it they grow without bound.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from experiments.theory import write_figure
from nish_jax import get_activation
from nish_jax.analysis import chi1_grid

ACTIVATIONS = ("relu", "silu", "gelu", "elu", "mish", "nish")


def make_figure(
    activations: Sequence[str] = ACTIVATIONS,
    *,
    sigma_w2: tuple[float, float] = (0.5, 4.0),
    sigma_b2: tuple[float, float] = (0.0, 1.0),
    resolution: int = 161,
) -> Figure:
    """One panel per activation: ``chi_1`` over the ``(sigma_w^2, sigma_b^2)`` plane (colour,
    log scale, white at 1) and its boundary ``chi_1 = 1`` (black); ReLU's line dashed in each.

    Args:
      activations: names of :func:`nish_jax.get_activation` ("gelu" is the exact erf form).
      sigma_w2: the range of the weight variance (times fan-in) on the x axes.
      sigma_b2: the range of the bias variance on the y axes.
      resolution: grid points along each axis.

    Returns:
      The figure.
    """
    w2 = np.linspace(*sigma_w2, resolution)
    b2 = np.linspace(*sigma_b2, resolution)
    columns = min(3, len(activations))
    rows = -(-len(activations) // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(3.3 * columns + 1.0, 2.9 * rows + 0.6),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, name in zip(axes.flat, activations, strict=False):
        chi = np.asarray(chi1_grid(get_activation(name), jnp.sqrt(w2), jnp.sqrt(b2))).T
        mesh = ax.pcolormesh(
            w2, b2, np.log2(chi), cmap="RdBu_r", vmin=-1.0, vmax=1.0, shading="auto"
        )
        ax.contour(w2, b2, chi, levels=[1.0], colors="k", linewidths=1.8)
        ax.axvline(2.0, color="0.3", ls="--", lw=0.9)
        ax.set_title(name)
    for ax in axes.flat[len(activations) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("$\\sigma_w^2$")
    for ax in axes[:, 0]:
        ax.set_ylabel("$\\sigma_b^2$")
    bar = fig.colorbar(mesh, ax=axes, shrink=0.8, ticks=[-1, 0, 1])
    bar.ax.set_yticklabels(["0.5 (order)", "1", "2 (chaos)"])
    bar.set_label("$\\chi_1$ (log scale)")
    fig.suptitle(
        "Order-to-chaos boundary $\\chi_1 = 1$ (black) of wide random networks; "
        "dashed: ReLU's $\\sigma_w^2 = 2$"
    )
    return fig


def main() -> None:
    """Writes the figure of :data:`ACTIVATIONS` to ``docs/images/order_to_chaos.png``."""
    write_figure(make_figure(), "order_to_chaos.png")


if __name__ == "__main__":
    main()
