"""The test-time variance shift of dropout before BatchNorm through a deep MLP, per activation.

    python -m experiments.theory.dropout_shift      # writes docs/images/dropout_variance_shift.png

The protocol of Fig. 2a (``Dense -> BatchNorm -> act -> Dropout(0.25)`` blocks, tested with the
running statistics gathered in training) in mean field
(:func:`nish_jax.analysis.dropout_variance_shift`): left, the input-dependent variance (the
signal) of each block's BatchNorm output at test time, in units of its training value; right,
the variance of the units' constant offsets. Every activation loses signal at about the same
rate in the first blocks; as the offsets grow, the activation's slope around 0 decides how fast
it goes on losing it.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from experiments.theory import write_figure
from nish_jax import get_activation
from nish_jax.analysis import dropout_variance_shift

ACTIVATIONS = ("relu", "silu", "gelu", "mish", "nish", "elu")


def make_figure(
    activations: Sequence[str] = ACTIVATIONS, *, rate: float = 0.25, depth: int = 25
) -> Figure:
    """Signal (log scale) and offsets against the block, one line per activation.

    Args:
      activations: names of :func:`nish_jax.get_activation`.
      rate: the dropout rate after every block.
      depth: the number of blocks.

    Returns:
      The figure.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    blocks = np.arange(1, depth + 1)
    for name in activations:
        shift = dropout_variance_shift(get_activation(name), rate, depth)
        left.plot(blocks, np.asarray(shift.signal), label=name)
        right.plot(blocks, np.asarray(shift.offset), label=name)
    left.set_yscale("log")
    left.set_ylabel("signal: test over training variance")
    right.set_ylabel("offsets: variance of the units' means")
    for ax in (left, right):
        ax.set_xlabel("block (BatchNorm)")
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    fig.suptitle(
        f"Dropout {rate:g} before each BatchNorm, tested with running statistics: mean field, "
        "random weights, BatchNorm scale 1 and bias 0",
        fontsize=9,
    )
    return fig


def main() -> None:
    """Writes the figure of :data:`ACTIVATIONS` to ``docs/images/dropout_variance_shift.png``."""
    write_figure(make_figure(), "dropout_variance_shift.png")


if __name__ == "__main__":
    main()
