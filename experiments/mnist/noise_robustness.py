"""Fig. 2b and 2c: test loss (and accuracy) of MNIST CNNs against Gaussian input noise.

    python -m experiments noise_robustness --config=quick

Protocols (``config.protocol``, see the config): ``noisy_training`` trains and tests one network
per noise level; ``clean_training`` trains on clean images and tests the same weights at every
level (one evaluator, no retraining). Each network trains ``config.train.num_runs`` paired seeds
with the engine (:mod:`experiments.core.grid`). Outputs through :func:`experiments.core.report.publish`:
``runs.csv`` (one row per run and noise level), ``comparisons.csv`` (Nish against each other
activation: the primary cells average the test loss over the noise levels, per depth; the
per-level cells are exploratory), ``table.md``, ``figure.png`` and ``summary.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections
import numpy as np

from experiments.core import experiment, grid, report, stats
from nish_jax.train import make_evaluator
from nish_jax.train.components import load_split

EXPERIMENT = "noise_robustness"
TITLE = "Fig. 2b/2c: MNIST CNN test loss against Gaussian input noise"
METRICS = {"test_loss": "test loss", "test_top1_percent": "test accuracy (%)"}
# noisy_training: a network per level, trained and tested at it; clean_training: one network
# trained on clean images, tested at every level (see the config).
PROTOCOLS = ("noisy_training", "clean_training")
ALL_LEVELS = "mean"  # the noise_std of the primary cells: the average over the levels


def check_config(config: ml_collections.ConfigDict) -> None:
    report.check_spread(config.spread)
    if config.protocol not in PROTOCOLS:
        raise ValueError(
            f"config.protocol={config.protocol!r} is not valid; valid: {', '.join(PROTOCOLS)}"
        )
    levels = list(config.noise_levels)
    if not levels or any(not isinstance(n, int | float) or n < 0 for n in levels):
        raise ValueError(f"config.noise_levels must be numbers >= 0, got {config.noise_levels}")


def points(config: ml_collections.ConfigDict) -> list[grid.Point]:
    """One point per (depth, activation), and per noise level when training on noisy inputs."""
    found = []
    for depth in config.depths:
        levels = config.noise_levels if config.protocol == "noisy_training" else (None,)
        for noise in levels:
            for act in config.activations:
                train = grid.engine_config(config.train, act, depth=depth)
                keys = {"depth": depth}
                if noise is not None:
                    train.train_noise_std = train.eval_noise_std = float(noise)
                    keys["noise_std"] = float(noise)
                found.append(grid.Point(keys, act, train))
    return found


def measure_every_level(config: ml_collections.ConfigDict) -> grid.Measurement:
    """Test the trained weights of a program at every noise level (clean training)."""

    def measure(train: ml_collections.ConfigDict, result: dict[str, Any]) -> list[dict[str, Any]]:
        evaluate = make_evaluator(train, load_split(train, "test"))
        rows = []
        for noise in config.noise_levels:
            for run, metrics in enumerate(evaluate(result["state"], float(noise))):
                diverged = result["runs"][run]["diverged"]  # NaN weights still "predict" class 0
                rows.append(
                    {
                        "run": run,
                        "noise_std": float(noise),
                        "test_loss": math.nan if diverged else metrics["loss"],
                        "test_top1_percent": math.nan if diverged else 100 * metrics["top1"],
                    }
                )
        return rows

    levels = [float(noise) for noise in config.noise_levels]
    return grid.Measurement(grid.measurement_key("noise_levels", 1, levels=levels), measure)


def level_averages(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (depth, activation, seed): the test loss averaged over the noise levels (the primary
    endpoint); diverged if the run diverged at any level."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in runs:
        groups.setdefault((row["depth"], row["activation"], row["seed"]), []).append(row)
    averages = []
    for (depth, act, seed), rows in groups.items():
        diverged = any(row["diverged"] for row in rows)
        averages.append(
            {
                "depth": depth,
                "noise_std": ALL_LEVELS,
                "activation": act,
                "seed": seed,
                "diverged": diverged,
                "test_loss": math.nan
                if diverged
                else float(np.mean([r["test_loss"] for r in rows])),
            }
        )
    return averages


def comparisons(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Primary: the level-averaged test loss per depth; exploratory: loss and accuracy per level."""
    cells = ("depth", "noise_std")
    compared = stats.compare_activations(
        level_averages(runs),
        cell_keys=cells,
        metric="test_loss",
        higher_is_better=False,
        is_primary=lambda cell, baseline: True,
    )
    for metric in METRICS:
        compared += stats.compare_activations(
            runs, cell_keys=cells, metric=metric, higher_is_better=metric != "test_loss"
        )
    return compared


def make_table(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]], compared
) -> report.Table:
    """Test loss per (depth, noise level) and activation, the level average last."""
    columns = ["layers", "noise std", *config.activations, "Nish - best other [95% CI]", "p (Holm)"]
    cells, numeric = [], []
    averages = level_averages(runs)
    for depth in config.depths:
        for noise in [*config.noise_levels, ALL_LEVELS]:
            source = averages if noise == ALL_LEVELS else runs
            where = {"depth": depth, "noise_std": noise if noise == ALL_LEVELS else float(noise)}
            line = [str(depth), str(noise)]
            for act in config.activations:
                values = grid.values_of(source, "test_loss", activation=act, **where)
                summary = stats.summarize(values)
                diverged, total = grid.diverged_count(source, activation=act, **where)
                text = report.format_mean_spread(summary, config.spread, digits=3)
                line.append(f"{text} ({diverged} of {total} diverged)" if diverged else text)
                numeric.append(
                    {
                        **where,
                        "activation": act,
                        "metric": "test_loss",
                        "runs": total,
                        "diverged": diverged,
                        "mean": summary.mean,
                        "std": summary.std,
                    }
                )
            mine = [
                c
                for c in compared
                if c["cell"] == stats.cell_name(where) and c["metric"] == "test_loss"
            ]
            line += report.versus_best_other(mine, higher_is_better=False, digits=3)
            cells.append(line)
    notes = [
        f"- Cells: test cross-entropy, mean {report.SPREADS[config.spread]} over "
        f"{config.train.num_runs} paired seeds; protocol {config.protocol}. Lower is better.",
        "- Nish - best other: paired mean difference in test loss to the other activation with "
        "the lowest loss (negative: Nish lower), 95% CI; p: paired t, Holm within its family. "
        "Rows 'mean' (the loss averaged over the levels) are the primary endpoint; "
        "per-level rows are exploratory.",
    ]
    return report.Table(columns, cells, numeric, notes)


def make_figure(config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]]):
    """Loss (top) and accuracy (bottom) against the noise level, one column per depth."""
    import matplotlib.pyplot as plt

    depths = list(config.depths)
    figure, axes = plt.subplots(
        2,
        len(depths),
        figsize=(5 * len(depths), 7),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    levels = [float(n) for n in config.noise_levels]
    for column, depth in enumerate(depths):
        for line, (metric, name) in enumerate(METRICS.items()):
            ax = axes[line][column]
            for act in config.activations:
                samples = [
                    grid.values_of(runs, metric, activation=act, depth=depth, noise_std=n)
                    for n in levels
                ]
                report.plot_with_spread(ax, levels, samples, label=act, spread=config.spread)
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            if line == 0:
                ax.set_title(f"{depth}-layer CNN")
                ax.legend()
            else:
                ax.set_xlabel("noise standard deviation (pixel scale [0, 1])")
    figure.suptitle(
        report.label(
            f"{TITLE}\n{config.protocol}, mean of {config.train.num_runs} paired seeds, band: "
            f"{report.SPREADS[config.spread]}",
            config.name,
            "\n",
        ),
        fontsize=9,
    )
    return figure


def scale(config: ml_collections.ConfigDict) -> str:
    """The protocol and scale of a noise run, in one line (its summary and the README say it)."""
    train = config.train
    return (
        f"{train.train_subset or 'all 60,000'} training and "
        f"{train.test_subset or 'all 10,000'} test images, CNNs of "
        f"{', '.join(map(str, config.depths))} layers, width "
        f"{train.model_options.width}, {train.num_epochs} epoch(s), SGD lr {train.learning_rate} "
        f"momentum {train.momentum}, batch {train.batch_size}, {train.num_runs} paired seeds, "
        f"protocol {config.protocol}, noise std {', '.join(map(str, config.noise_levels))}"
    )


def summary_lines(config, compared) -> list[str]:
    lines = [
        f"- Scale: {scale(config)}.",
        "- Primary endpoint: test loss averaged over the noise levels; Nish minus each other "
        "activation (negative: Nish lower), paired, Holm-adjusted:",
    ]
    for row in compared:
        if row["primary"]:
            lines.append(
                f"  - {row['cell']}: vs {row['baseline']} {report.format_interval(row, 3)} "
                "[95% CI], "
                f"p_holm {row['p_holm']:.3g} "
                f"(n = {row['n_pairs']})"
            )
    return lines


def train(config: ml_collections.ConfigDict) -> list[dict[str, Any]]:
    """Every network trained and tested in the config's protocol."""
    clean = config.protocol == "clean_training"
    return grid.train_grid(
        points(config),
        output_root=config.output_root,
        vmap_seeds=config.vmap_seeds,
        measurement=measure_every_level(config) if clean else None,
        description=f"noise robustness [{config.name}]",
    )


def analyse(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]]
) -> experiment.Analysis:
    """The comparisons, table, figure and summary of finished runs."""
    compared = comparisons(runs)
    return experiment.Analysis(
        compared,
        make_table(config, runs, compared),
        make_figure(config, runs),
        summary_lines(config, compared),
    )
