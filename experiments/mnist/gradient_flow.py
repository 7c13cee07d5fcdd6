"""Gradient flow through the depth-sweep MLPs: per-example, per-layer gradient norms and dead units.

    python -m experiments gradient_flow --config=quick

The quantitative form of the paper's claims about vanishing gradients and "dying" units. For
every activation and depth the network is measured at initialisation and after training (with the
training engine through :mod:`experiments.core.grid`, sharing the depth sweep's runs), on a fixed,
class-balanced batch of real MNIST test images, one example at a time (``jax.vmap(jax.grad(...))``):

- the norm of the loss gradient with respect to each hidden layer's kernel (vanishing gradients
  show as norms falling by orders of magnitude towards the input);
- the fraction of each layer's units whose gradient with respect to the pre-activation (the input
  of the activation function) is exactly zero for that example (ReLU units below zero; Nish's
  derivative is nonzero almost everywhere).

BatchNorm uses its running statistics and dropout is off, so each example's gradient is its own.
Publishes (:func:`experiments.core.report.publish`) ``runs.csv`` (one row per point, stage, seed and
layer), ``comparisons.csv`` (exploratory), ``table.md``, ``figure.png`` and ``summary.md`` into
``<output_root>/gradient_flow/<config.name>/``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments.core import grid, records, report, stats
from nish_jax.data import Dataset, load
from nish_jax.data.augment import normalize, to_unit_range
from nish_jax.train import sharding
from nish_jax.train.components import build_setup

EXPERIMENT = "gradient_flow"
TITLE = "Gradient flow in the MNIST depth-sweep MLP (per example)"
STAGES = ("init", "trained")


@dataclass(frozen=True)
class GradientFlow:
    """Per-example gradient statistics of the hidden layers, shape (examples, layers) each."""

    kernel_norms: np.ndarray  # ||dL/dW|| of each hidden layer's kernel
    preactivation_norms: np.ndarray  # ||dL/dz|| of each hidden layer's pre-activation z
    dead_fraction: np.ndarray  # fraction of the layer's units with dL/dz exactly 0


class _ActivationProbe:
    """Stands in for a model's activation: adds the next of ``perturbations`` (zeros) to each
    pre-activation before activating it, so that the gradient with respect to a perturbation is
    the gradient with respect to that pre-activation. Records the pre-activation shapes."""

    def __init__(self, act: Callable[[jax.Array], jax.Array], perturbations=None) -> None:
        self.act = act
        self.perturbations = perturbations
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.perturbations is not None:
            x = x + self.perturbations[len(self.shapes)]
        self.shapes.append(x.shape)
        return self.act(x)


def _hidden_kernels(params: Mapping[str, Any]) -> list[str]:
    """The names of the hidden layers with a kernel, in depth order (the head excluded)."""
    names = [name for name, leaves in params.items() if "kernel" in leaves and name != "head"]
    return sorted(
        names, key=lambda name: (not name.startswith("stem"), int(re.sub(r"\D", "", name) or 0))
    )


def make_gradient_flow(model: nn.Module, chunk_size: int = 16) -> Callable[..., GradientFlow]:
    """``flow(variables, inputs, labels) -> GradientFlow`` for one run of ``model``.

    ``model`` must call its ``act`` once per hidden layer (mlp, cnn); ``variables`` holds
    ``params`` and ``batch_stats`` (no runs axis); ``inputs`` are preprocessed (normalised)
    images. Examples are processed ``chunk_size`` at a time to bound the memory of the
    per-example kernel gradients.
    """

    def per_example(variables, perturbations, image, label):
        def loss(params, perturbations):
            probe = _ActivationProbe(model.act, perturbations)
            logits = model.clone(act=probe).apply(
                {**variables, "params": params}, image[None], train=False
            )
            return optax.softmax_cross_entropy_with_integer_labels(logits, label[None]).sum()

        kernel_grads, preactivation_grads = jax.grad(loss, argnums=(0, 1))(
            variables["params"], perturbations
        )
        layers = _hidden_kernels(variables["params"])
        return (
            jnp.stack([jnp.linalg.norm(kernel_grads[name]["kernel"]) for name in layers]),
            jnp.stack([jnp.linalg.norm(g) for g in preactivation_grads]),
            jnp.stack([jnp.mean(g == 0) for g in preactivation_grads]),
        )

    @jax.jit
    def flow(variables, inputs, labels):
        recorder = _ActivationProbe(model.act)
        jax.eval_shape(
            lambda x: model.clone(act=recorder).apply(variables, x, train=False), inputs[:1]
        )
        zeros = [jnp.zeros(shape, inputs.dtype) for shape in recorder.shapes]
        return jax.lax.map(
            lambda example: per_example(variables, zeros, *example),
            (inputs, labels),
            batch_size=chunk_size,
        )

    def run(variables, inputs, labels) -> GradientFlow:
        variables = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
        kernels, preactivations, dead = jax.device_get(flow(variables, inputs, labels))
        return GradientFlow(np.asarray(kernels), np.asarray(preactivations), np.asarray(dead))

    return run


def probe_batch(dataset: Dataset, num_examples: int) -> tuple[jax.Array, jax.Array]:
    """A fixed, class-balanced batch of ``num_examples`` real images, normalised like training."""
    batch = dataset.subset(num_examples)
    inputs = normalize(to_unit_range(jnp.asarray(batch.images)), batch.mean, batch.std)
    return inputs, jnp.asarray(batch.labels)


def _run_variables(state: Any, run: int) -> dict[str, Any]:
    """One run's ``params`` and ``batch_stats`` out of a state stacked on the runs axis."""
    take = lambda tree: jax.tree_util.tree_map(lambda x: x[run], tree)  # noqa: E731
    return {"params": take(state.params), "batch_stats": take(state.batch_stats)}


def measure_flow(config: ml_collections.ConfigDict) -> grid.Measurement:
    """Per run, stage and hidden layer: gradient norms and zero-gradient units (probe batch)."""
    train0 = config.train
    inputs, labels = probe_batch(
        load(train0.dataset, "test", data_dir=train0.data_dir or None), config.num_examples
    )

    def measure(train: ml_collections.ConfigDict, result: dict[str, Any]) -> list[dict[str, Any]]:
        setup = build_setup(train, sharding.make_mesh())
        flow = make_gradient_flow(setup.model)
        states = {"init": setup.initial_state(), "trained": result.state}
        rows = []
        for stage, state in states.items():
            for run in range(train.num_runs):
                found = flow(_run_variables(state, run), inputs, labels)
                for layer in range(found.kernel_norms.shape[1]):
                    rows.append(
                        {
                            "run": run,
                            "stage": stage,
                            "layer": layer + 1,
                            "kernel_grad_norm": float(found.kernel_norms[:, layer].mean()),
                            "kernel_grad_norm_median": float(
                                np.median(found.kernel_norms[:, layer])
                            ),
                            "preactivation_grad_norm": float(
                                found.preactivation_norms[:, layer].mean()
                            ),
                            "dead_fraction": float(found.dead_fraction[:, layer].mean()),
                        }
                    )
        return rows

    return grid.Measurement(
        records.measurement_key("gradient_flow", 1, num_examples=config.num_examples), measure
    )


def per_run(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (depth, stage, activation, seed): log10 of the first over the last hidden layer's
    kernel gradient norm (vanishing gradients) and the mean fraction of zero-gradient units."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["depth"], row["stage"], row["activation"], row["seed"]), []).append(
            row
        )
    found = []
    for (depth, stage, act, seed), layers in groups.items():
        layers = sorted(layers, key=lambda row: row["layer"])
        first, last = layers[0]["kernel_grad_norm"], layers[-1]["kernel_grad_norm"]
        diverged = stage == "trained" and bool(layers[0]["diverged"])
        found.append(
            {
                "depth": depth,
                "stage": stage,
                "activation": act,
                "seed": seed,
                "diverged": diverged,
                # math.log10 (the C library's), not np.log10, whose SIMD paths differ by CPU in
                # the last bits: republishing on another machine gives the same files
                "log10_first_over_last": math.log10(first / last) if last > 0 else math.nan,
                "dead_percent": 100 * float(np.mean([row["dead_fraction"] for row in layers])),
            }
        )
    return found


def comparisons(
    config: ml_collections.ConfigDict, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Exploratory: Nish against each other activation per (depth, stage), paired by seed."""
    compared = []
    for metric in ("log10_first_over_last", "dead_percent"):
        compared += stats.compare_activations(
            per_run(rows), cell_keys=("depth", "stage"), metric=metric, higher_is_better=False
        )
    return compared


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
    """Per depth, stage and activation: first- and last-layer kernel gradient norms, their ratio,
    and the fraction of dead units (mean over layers, runs and examples)."""
    columns = [
        "layers",
        "stage",
        "act",
        "grad norm, layer 1",
        "grad norm, last layer",
        "first / last",
        "zero-gradient units (%)",
    ]
    cells, numeric = [], []
    for depth in config.depths:
        for stage in STAGES:
            for act in config.activations:
                norms = layer_means(
                    rows, "kernel_grad_norm", activation=act, depth=depth, stage=stage
                )
                if norms.size == 0:
                    cells.append([str(depth), stage, act, "diverged", "", "", ""])
                    continue
                dead = 100 * layer_means(
                    rows, "dead_fraction", activation=act, depth=depth, stage=stage
                )
                values = {
                    "grad_norm_first": float(norms[0]),
                    "grad_norm_last": float(norms[-1]),
                    "first_over_last": float(norms[0] / norms[-1]),
                    "dead_percent": float(dead.mean()),
                }
                numeric.append({"layers": depth, "stage": stage, "activation": act, **values})
                cells.append(
                    [str(depth), stage, act]
                    + [f"{values[key]:.3g}" for key in values if key != "dead_percent"]
                    + [f"{values['dead_percent']:.2f}"]
                )
    notes = [
        f"- Means over {config.train.num_runs} seeds and {config.num_examples} probe images; "
        "exploratory (no primary endpoint): comparisons.csv pairs Nish with each activation on "
        "log10(first/last) and the zero-gradient percentage."
    ]
    return report.Table(columns, cells, numeric, notes)


def make_figure(config: ml_collections.ConfigDict, rows: Sequence[dict[str, Any]], compared):
    """Kernel gradient norm (log scale) and dead-unit fraction against the layer index; one
    column per (depth, stage)."""
    import matplotlib.pyplot as plt

    panels = [(depth, stage) for depth in config.depths for stage in STAGES]
    figure, axes = plt.subplots(
        2, len(panels), figsize=(4 * len(panels), 7), squeeze=False, layout="constrained"
    )
    for column, (depth, stage) in enumerate(panels):
        for act in config.activations:
            norms = layer_means(rows, "kernel_grad_norm", activation=act, depth=depth, stage=stage)
            if norms.size:
                layers = np.arange(1, norms.size + 1)
                axes[0][column].plot(layers, norms, marker="o", markersize=3, label=act)
                dead = layer_means(rows, "dead_fraction", activation=act, depth=depth, stage=stage)
                axes[1][column].plot(layers, 100 * dead, marker="o", markersize=3, label=act)
        axes[0][column].set_yscale("log")
        axes[0][column].set_title(f"{depth} layers, {stage}")
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
        f"training, shared with it), {train.num_runs} seeds, {config.num_examples} probe images."
    ]
    for row in table.numeric:
        lines.append(
            f"- {row['layers']} layers, {row['stage']}, {row['activation']}: zero-gradient units "
            f"{row['dead_percent']:.2f}%, grad norm layer 1 / last {row['first_over_last']:.3g}"
        )
    return lines


def check_config(config: ml_collections.ConfigDict) -> None:
    if config.num_examples < 1:
        raise ValueError(f"config.num_examples must be >= 1, got {config.num_examples}")


def points(config: ml_collections.ConfigDict) -> list[grid.Point]:
    """One point per (depth, activation): the depth sweep's programs."""
    return [
        grid.Point({"depth": depth}, act, grid.engine_config(config.train, act, depth=depth))
        for depth in config.depths
        for act in config.activations
    ]


def measurement(config: ml_collections.ConfigDict) -> grid.Measurement:
    return measure_flow(config)
