"""The paper's Fig. 1: (a) Nish, Mish, SiLU and ReLU; (b) their first derivatives.

    python -m experiments.paper.fig1_activations   # writes results/fig1/activations.png

Derivatives come from ``vmap(grad(f))``, i.e. from the code users run, not from formulas; each
curve's minimum is marked, which shows the paper's two errors: Nish's minimum is about -0.4974 at
x = -1.0829 (not -0.31, which is Mish's), and its derivative is not the paper's eq. (4).
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nish_jax import get_activation  # noqa: E402

CURVES = {"Nish": "nish", "Mish": "mish", "SiLU (Swish)": "silu", "ReLU": "relu"}
COLORS = {"Nish": "C3", "Mish": "C0", "SiLU (Swish)": "C2", "ReLU": "C7"}


def curves(x: jax.Array) -> dict[str, tuple[jax.Array, jax.Array]]:
    """Value and first derivative of each activation on ``x``."""
    out = {}
    for label, name in CURVES.items():
        f = get_activation(name)
        out[label] = (f(x), jax.vmap(jax.grad(f))(x))
    return out


def minima(x: jax.Array, values: dict[str, tuple[jax.Array, jax.Array]]) -> dict[str, tuple]:
    """(argmin, min) of each activation's value on the grid."""
    return {label: (float(x[jnp.argmin(v)]), float(jnp.min(v))) for label, (v, _) in values.items()}


def plot(x: jax.Array, values: dict, path: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, (value, grad) in values.items():
        style = dict(color=COLORS[label], label=label, lw=2 if label == "Nish" else 1.3)
        axes[0].plot(x, value, **style)
        axes[1].plot(x, grad, **style)
    notes = []
    for label, (x_min, y_min) in minima(x, values).items():
        if y_min < 0:  # ReLU has no negative minimum to mark
            axes[0].plot([x_min], [y_min], "o", color=COLORS[label], mec="k", ms=5)
            notes.append(f"{label}: min {y_min:.4f} at x = {x_min:.4f}")
    axes[0].text(
        0.03,
        0.45,
        "\n".join(notes),
        transform=axes[0].transAxes,
        ha="left",
        va="bottom",
        fontsize=8,
        bbox=dict(boxstyle="round", fc="white", ec="0.7"),
    )
    axes[0].set_title("(a) activations")
    axes[1].set_title("(b) first derivatives, vmap(grad(f))")
    for ax in axes:
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.set_xlabel("x")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(-1, 3)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description="Draw the paper's Fig. 1.")
    parser.add_argument("--out", default=os.path.join("results", "fig1", "activations.png"))
    args = parser.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    x = jnp.linspace(-6.0, 3.0, 90_001, dtype=jnp.float32)
    values = curves(x)
    plot(x, values, args.out)
    for label, (x_min, y_min) in minima(x, values).items():
        print(f"{label:>13}: minimum {y_min:+.4f} at x = {x_min:+.4f}")
    print(f"Fig. 1 written to {args.out}")
    return args.out


if __name__ == "__main__":
    main()
