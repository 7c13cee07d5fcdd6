"""Gradient flow through the depth-sweep MLPs: per-example, per-layer gradient norms and dead units,
as training sees the network (train mode) and as it is tested (eval mode), side by side.

    python -m experiments gradient_flow --config=quick

The quantitative form of the paper's claims about vanishing gradients and "dying" units. For
every activation and depth the network is measured at initialisation and after training (with the
training engine through :mod:`experiments.core.grid`, sharing the depth sweep's runs), on a fixed,
class-balanced batch of real MNIST test images, in two modes (``mode``):

- ``train``: BatchNorm with the batch's statistics and dropout on (a fixed key), as a training
  step computes the gradient; example i's gradient is that of its loss term inside the
  full-batch forward pass (:func:`nish_jax.analysis.model_grad_norms`), on the first
  ``config.train_mode_examples`` probe images (the cost grows with the square of the batch);
- ``eval``: BatchNorm with its running statistics, dropout off, each example on its own. At
  initialisation the running statistics are (0, 1), so BatchNorm does nothing: this measures an
  unnormalised Glorot MLP, not what training sees.

Per hidden layer: the mean and median norm of the loss gradient with respect to the layer's
kernel (vanishing gradients show as norms falling by orders of magnitude towards the input), the
mean norm of the gradient with respect to the activation's output, and the fraction of units whose
activation derivative is exactly 0 there (a gradient cannot pass them: ReLU units below zero;
Nish's derivative is nonzero almost everywhere). Results measured before version 2 of this
measurement (2026-12-03) hold eval-mode rows only (``mode`` = eval; their zero-gradient units were
counted as dL/dz = 0, the same units for these networks).

Publishes (:func:`experiments.core.report.publish`) ``runs.csv`` (one row per point, stage, mode,
seed and layer), ``comparisons.csv`` (exploratory), ``table.md``, ``figure.png`` and
``summary.md`` into ``<output_root>/gradient_flow/<config.name>/``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.core import grid, records, report, stats
from nish_jax.analysis import model_grad_norms
from nish_jax.analysis.sites import apply_model
from nish_jax.data import Dataset, load
from nish_jax.data.augment import normalize, to_unit_range
from nish_jax.train import TrainResult, sharding
from nish_jax.train.components import build_setup

EXPERIMENT = "gradient_flow"
TITLE = "Gradient flow in the MNIST depth-sweep MLP (per example)"
STAGES = ("init", "trained")
MODES = ("train", "eval")  # BatchNorm with batch statistics and dropout on / running, off


def hidden_layers(params: Mapping[str, Any]) -> list[str]:
    """The names of the hidden layers with a kernel, in depth order (the head excluded)."""
    names = [name for name, leaves in params.items() if "kernel" in leaves and name != "head"]
    return sorted(
        names, key=lambda name: (not name.startswith("stem"), int(re.sub(r"\D", "", name) or 0))
    )


def layer_statistics(
    model: nn.Module,
    variables: Mapping[str, Any],
    inputs: jax.Array,
    labels: jax.Array,
    *,
    mode: str,
    dropout_key: jax.Array,
    chunk_size: int = 16,
) -> dict[str, np.ndarray]:
    """Per hidden layer, in depth order, in ``mode`` ("train" or "eval", module doc): the mean
    and median per-example kernel gradient norm, the mean per-example gradient norm at the
    activation's output, and the fraction of units whose activation derivative is 0."""
    train = mode == "train"
    key = dropout_key if train else None
    norms = model_grad_norms(
        model, variables, inputs, labels, train=train, dropout_key=key, chunk_size=chunk_size
    )
    kernels = np.stack(
        [np.asarray(norms.params[name]["kernel"]) for name in hidden_layers(norms.params)], 1
    )
    _, records = apply_model(model, variables, inputs, train=train, dropout_key=key)
    derivative = jax.vmap(jax.grad(model.act))
    return {
        "kernel_grad_norm": kernels.mean(0),
        "kernel_grad_norm_median": np.median(kernels, 0),
        "site_grad_norm": np.array([float(np.mean(v)) for v in norms.sites.values()]),
        "dead_fraction": np.array(
            [float(jnp.mean(derivative(r.pre.ravel()) == 0)) for r in records]
        ),
    }


def probe_batch(dataset: Dataset, num_examples: int) -> tuple[jax.Array, jax.Array]:
    """A fixed, class-balanced batch of ``num_examples`` real images, normalised like training."""
    batch = dataset.subset(num_examples)
    inputs = normalize(to_unit_range(jnp.asarray(batch.images)), batch.mean, batch.std)
    return inputs, jnp.asarray(batch.labels)


def run_variables(state: Any, run: int) -> dict[str, Any]:
    """One run's ``params`` and ``batch_stats`` out of a state stacked on the runs axis."""
    take = lambda tree: jax.tree_util.tree_map(lambda x: x[run], tree)  # noqa: E731
    return {"params": take(state.params), "batch_stats": take(state.batch_stats)}


def measure_flow(config: ml_collections.ConfigDict) -> grid.Measurement:
    """Per run, stage, mode and hidden layer: :func:`layer_statistics` on the probe batch."""
    train0 = config.train
    inputs, labels = probe_batch(
        load(train0.dataset, "test", data_dir=train0.data_dir or None), config.num_examples
    )
    examples = {"train": config.train_mode_examples, "eval": config.num_examples}
    key = jax.random.key(config.dropout_seed)

    def measure(train: ml_collections.ConfigDict, result: TrainResult) -> list[dict[str, Any]]:
        setup = build_setup(train, sharding.make_mesh())
        states = {"init": setup.initial_state(), "trained": result.state}
        rows = []
        for stage, state in states.items():
            for run in range(train.num_runs):
                for mode in MODES:
                    found = layer_statistics(
                        setup.model,
                        run_variables(state, run),
                        inputs[: examples[mode]],
                        labels[: examples[mode]],
                        mode=mode,
                        dropout_key=key,
                    )
                    for layer in range(found["kernel_grad_norm"].size):
                        rows.append(
                            {"run": run, "stage": stage, "mode": mode, "layer": layer + 1}
                            | {name: float(values[layer]) for name, values in found.items()}
                        )
        return rows

    settings = {
        "num_examples": config.num_examples,
        "train_mode_examples": config.train_mode_examples,
        "dropout_seed": config.dropout_seed,
    }
    return grid.Measurement(records.measurement_key(EXPERIMENT, 2, **settings), measure)


def per_run(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (depth, stage, mode, activation, seed): log10 of the first over the last hidden
    layer's kernel gradient norm (vanishing gradients) and the mean fraction of zero-gradient
    units."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        key = (row["depth"], row["stage"], row["mode"], row["activation"], row["seed"])
        groups.setdefault(key, []).append(row)
    found = []
    for (depth, stage, mode, act, seed), layers in groups.items():
        layers = sorted(layers, key=lambda row: row["layer"])
        first, last = layers[0]["kernel_grad_norm"], layers[-1]["kernel_grad_norm"]
        diverged = stage == "trained" and bool(layers[0]["diverged"])
        found.append(
            {
                "depth": depth,
                "stage": stage,
                "mode": mode,
                "activation": act,
                "seed": seed,
                "diverged": diverged,
                # math.log10 (the C library's), not np.log10, whose SIMD paths differ by CPU in
                # the last bits: republishing on another machine gives the same files
                "log10_first_over_last": (
                    math.log10(first / last) if first > 0 and last > 0 else math.nan
                ),
                "dead_percent": 100 * float(np.mean([row["dead_fraction"] for row in layers])),
            }
        )
    return found


def comparisons(
    config: ml_collections.ConfigDict, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Exploratory: Nish against each other activation per (depth, stage, mode), paired by
    seed."""
    compared = []
    for metric in ("log10_first_over_last", "dead_percent"):
        compared += stats.compare_activations(
            per_run(rows),
            cell_keys=("depth", "stage", "mode"),
            metric=metric,
            higher_is_better=False,
        )
    return stats.holm_by_family(compared)


def layer_means(rows: Sequence[dict[str, Any]], metric: str, **where: Any) -> np.ndarray:
    """``metric`` per layer (1..depth), averaged over the runs of the selected point and stage."""
    selected = grid.select(rows, **where)
    layers = sorted({row["layer"] for row in selected})
    return np.array(
        [np.mean([row[metric] for row in selected if row["layer"] == layer]) for layer in layers]
    )


def make_table(
    config: ml_collections.ConfigDict, rows: Sequence[Mapping[str, Any]], compared
) -> report.Table:
    """Per depth, stage, mode and activation: first- and last-layer kernel gradient norms, their
    ratio, and the fraction of dead units (mean over layers, runs and examples)."""
    columns = [
        "layers",
        "stage",
        "mode",
        "act",
        "grad norm, layer 1",
        "grad norm, last layer",
        "first / last",
        "zero-gradient units (%)",
    ]
    cells, numeric = [], []
    modes = [mode for mode in MODES if any(row["mode"] == mode for row in rows)]
    for depth, stage, mode, act in itertools.product(
        config.depths, STAGES, modes, config.activations
    ):
        where = {"activation": act, "depth": depth, "stage": stage, "mode": mode}
        norms = layer_means(rows, "kernel_grad_norm", **where)
        if norms.size == 0:
            cells.append([str(depth), stage, mode, act, "diverged", "", "", ""])
            continue
        dead = 100 * layer_means(rows, "dead_fraction", **where)
        values = {
            "grad_norm_first": float(norms[0]),
            "grad_norm_last": float(norms[-1]),
            "first_over_last": float(norms[0] / norms[-1]),
            "dead_percent": float(dead.mean()),
        }
        numeric.append({"layers": depth, "stage": stage, "mode": mode, "activation": act, **values})
        cells.append(
            [str(depth), stage, mode, act]
            + [f"{values[key]:.3g}" for key in values if key != "dead_percent"]
            + [f"{values['dead_percent']:.2f}"]
        )
    notes = [
        f"- Means over {config.train.num_runs} seeds and the probe images; exploratory (no "
        "primary endpoint): comparisons.csv pairs Nish with each activation on log10(first/last) "
        "and the zero-gradient percentage.",
        "- Mode train: BatchNorm with the batch's statistics and dropout on, as training computes "
        "the gradient (each example's loss term inside the batch). Mode eval: running statistics, "
        "dropout off; at init those are (0, 1), so it measures an unnormalised network.",
    ]
    return report.Table(columns, cells, numeric, notes)


def make_figure(config: ml_collections.ConfigDict, rows: Sequence[dict[str, Any]], compared):
    """Kernel gradient norm (log scale) and dead-unit fraction against the layer index; one
    column per (depth, stage)."""
    import matplotlib.pyplot as plt

    modes = [mode for mode in MODES if any(row["mode"] == mode for row in rows)]
    panels = [(d, s, m) for d in config.depths for s in STAGES for m in modes]
    figure, axes = plt.subplots(
        2, len(panels), figsize=(4 * len(panels), 7), squeeze=False, layout="constrained"
    )
    for column, (depth, stage, mode) in enumerate(panels):
        for act in config.activations:
            where = {"activation": act, "depth": depth, "stage": stage, "mode": mode}
            norms = layer_means(rows, "kernel_grad_norm", **where)
            if norms.size:
                layers = np.arange(1, norms.size + 1)
                axes[0][column].plot(layers, norms, marker="o", markersize=3, label=act)
                dead = layer_means(rows, "dead_fraction", **where)
                axes[1][column].plot(layers, 100 * dead, marker="o", markersize=3, label=act)
        axes[0][column].set_yscale("log")
        axes[0][column].set_title(f"{depth} layers, {stage}, {mode} mode", fontsize=9)
        axes[1][column].set_xlabel("hidden layer (1 = input side)")
        for ax in axes[:, column]:
            ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean per-example ||dL/dW|| (log)")
    axes[1][0].set_ylabel("units with dL/dz = 0 (%)")
    axes[0][0].legend(fontsize=8)
    figure.suptitle(
        report.label(
            f"{TITLE}\n{config.num_examples} MNIST test images, mean of "
            f"{config.train.num_runs} seeds",
            config.name,
            "\n",
        ),
        fontsize=9,
    )
    return figure


def summary_lines(
    config: ml_collections.ConfigDict, rows, compared, table: report.Table
) -> list[str]:
    train = config.train
    lines = [
        f"- Scale: depths {', '.join(map(str, config.depths))}, width "
        f"{train.model_options.width}, trained {train.num_epochs} epoch(s) on "
        f"{train.train_subset or 'all 60,000'} images (the depth sweep's '{config.name}' "
        f"training, shared with it), {train.num_runs} seeds, {config.num_examples} probe images"
        + (
            f" ({config.train_mode_examples} in train mode)."
            if any(row["mode"] == "train" for row in rows)
            else " (eval mode only: measured before version 2 of the measurement)."
        )
    ]
    for row in table.numeric:
        lines.append(
            f"- {row['layers']} layers, {row['stage']}, {row['mode']} mode, {row['activation']}: "
            "zero-gradient units "
            f"{row['dead_percent']:.2f}%, grad norm layer 1 / last {row['first_over_last']:.3g}"
        )
    return lines


def check_config(config: ml_collections.ConfigDict) -> None:
    if not 1 <= config.train_mode_examples <= config.num_examples:
        raise ValueError(
            f"config.num_examples={config.num_examples} and config.train_mode_examples="
            f"{config.train_mode_examples}: need 1 <= train_mode_examples <= num_examples"
        )


def points(config: ml_collections.ConfigDict) -> list[grid.Point]:
    """One point per (depth, activation): the depth sweep's programs."""
    return [
        grid.Point({"depth": depth}, act, grid.engine_config(config.train, act, depth=depth))
        for depth in config.depths
        for act in config.activations
    ]


def measurement(config: ml_collections.ConfigDict) -> grid.Measurement:
    return measure_flow(config)
