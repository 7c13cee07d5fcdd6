"""Fig. 2b and 2c: test loss (and accuracy) of MNIST CNNs against Gaussian input noise.

    python -m experiments noise_robustness --config=quick

Protocols (``config.protocol``, see the config): ``noisy_training`` trains and tests one network
per noise level; ``clean_training`` trains on clean images and tests the same weights at every
level (one evaluator, no retraining). Each network trains paired seeds with the engine
(:mod:`experiments.core.grid`): ``config.train.num_runs`` of them, or as many as
``config.runs_per_cell`` names for a depth and activation. The endpoint (``config.endpoint``):
``level_average``, the test loss averaged over the levels, or ``robustness``, the rise in test
loss from clean inputs to the noisy levels (mean over the levels above 0 of the loss there minus
the clean loss, per seed; the fall in accuracy beside it). ``config.primary`` names the
comparisons of the primary family (Nish against which activations, at which depth); every other
comparison is exploratory. Outputs through :func:`experiments.core.report.publish`: ``runs.csv``
(one row per run and noise level), ``comparisons.csv``, ``table.md``, ``figure.png`` and
``summary.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ml_collections
import numpy as np

from experiments.core import grid, records, report, stats
from experiments.paper.claims import is_significant
from nish_jax.train import TrainResult, make_evaluator
from nish_jax.train.components import load_split

EXPERIMENT = "noise_robustness"
TITLE = "Fig. 2b/2c: MNIST CNN test loss against Gaussian input noise"
METRICS = {"test_loss": "test loss", "test_top1_percent": "test accuracy (%)"}
# noisy_training: a network per level, trained and tested at it; clean_training: one network
# trained on clean images, tested at every level (see the config).
PROTOCOLS = ("noisy_training", "clean_training")
# The confirmatory run's convergence target: mean clean test accuracy (%) of every activation.
TARGET_CLEAN_ACCURACY = 98.0
# Each endpoint's row label (the noise_std of its cells) and metric.
ENDPOINTS = {"level_average": ("mean", "test_loss"), "robustness": ("rise", "test_loss_rise")}
ENDPOINT_NAMES = {
    "level_average": "test loss averaged over the noise levels",
    "robustness": "the rise in test loss from clean inputs to the noisy levels",
}
# What each endpoint's rows (ENDPOINTS' row label) hold.
ENDPOINT_ROWS = {
    "level_average": "the loss averaged over the levels",
    "robustness": "the mean over the noisy levels of the loss there minus the clean loss",
}


def endpoint_note(config: ml_collections.ConfigDict) -> str:
    """The table's note on which rows hold the endpoint and which comparisons are primary."""
    row = f"Rows '{ENDPOINTS[config.endpoint][0]}' ({ENDPOINT_ROWS[config.endpoint]})"
    if not config.primary:
        return f"{row} hold the endpoint; this run has no primary comparison: all are exploratory."
    return (
        f"{row} hold the endpoint: the comparisons config.primary names are the primary family, "
        "the rest and every per-level row are exploratory."
    )


def check_config(config: ml_collections.ConfigDict) -> None:
    report.check_spread(config.spread)
    if config.protocol not in PROTOCOLS:
        raise ValueError(
            f"config.protocol={config.protocol!r} is not valid; valid: {', '.join(PROTOCOLS)}"
        )
    levels = list(config.noise_levels)
    if not levels or any(not isinstance(n, int | float) or n < 0 for n in levels):
        raise ValueError(f"config.noise_levels must be numbers >= 0, got {config.noise_levels}")
    if config.endpoint not in ENDPOINTS:
        raise ValueError(
            f"config.endpoint={config.endpoint!r} is not valid; valid: {', '.join(ENDPOINTS)}"
        )
    if config.endpoint == "robustness" and (0 not in levels or len(levels) < 2):
        raise ValueError(f"the robustness endpoint needs level 0 and a noisy level: {levels}")
    valid = {f"depth{depth}" for depth in config.depths}
    for name, cells in (("runs_per_cell", config.runs_per_cell), ("primary", config.primary)):
        if set(cells) - valid:
            raise ValueError(f"config.{name} names {sorted(set(cells) - valid)}; valid: {valid}")
    for depth, runs in config.runs_per_cell.items():
        if set(runs) - set(config.activations):
            raise ValueError(f"config.runs_per_cell.{depth} names an activation not run: {runs}")


def num_runs(config: ml_collections.ConfigDict, depth: int, act: str) -> int:
    """How many paired seeds (from ``config.train.seed``) the design gives ``act`` at ``depth``."""
    return config.runs_per_cell.get(f"depth{depth}", {}).get(act, config.train.num_runs)


def design_seeds(config: ml_collections.ConfigDict, cell: Mapping[str, Any], act: str) -> list:
    return [config.train.seed + r for r in range(num_runs(config, cell["depth"], act))]


def points(config: ml_collections.ConfigDict) -> list[grid.Point]:
    """One point per (depth, activation), and per noise level when training on noisy inputs."""
    found = []
    for depth in config.depths:
        levels = config.noise_levels if config.protocol == "noisy_training" else (None,)
        for noise in levels:
            for act in config.activations:
                train = grid.engine_config(config.train, act, depth=depth)
                train.num_runs = num_runs(config, depth, act)
                keys = {"depth": depth}
                if noise is not None:
                    train.train_noise_std = train.eval_noise_std = float(noise)
                    keys["noise_std"] = float(noise)
                found.append(grid.Point(keys, act, train))
    return found


def measure_every_level(config: ml_collections.ConfigDict) -> grid.Measurement:
    """Test the trained weights of a program at every noise level (clean training)."""

    def measure(train: ml_collections.ConfigDict, result: TrainResult) -> list[dict[str, Any]]:
        evaluate = make_evaluator(train, load_split(train, "test"))
        rows = []
        for noise in config.noise_levels:
            for run, metrics in enumerate(evaluate(result.state, float(noise))):
                diverged = result.runs[run]["diverged"]  # NaN weights still "predict" class 0
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
    return grid.Measurement(records.measurement_key("noise_levels", 1, levels=levels), measure)


def endpoint_rows(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per (depth, activation, seed): the endpoint's value (module doc); diverged if the run
    diverged at any level. The robustness rows also carry the fall in accuracy (points)."""
    label, metric = ENDPOINTS[config.endpoint]
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in runs:
        groups.setdefault((row["depth"], row["activation"], row["seed"]), []).append(row)
    derived = []
    for (depth, act, seed), rows in groups.items():
        diverged = any(row["diverged"] for row in rows)
        values = {}
        if config.endpoint == "level_average":
            values[metric] = float(np.mean([r["test_loss"] for r in rows]))
        else:
            (clean,) = [r for r in rows if float(r["noise_std"]) == 0]
            noisy = [r for r in rows if float(r["noise_std"]) > 0]
            values[metric] = float(np.mean([r["test_loss"] - clean["test_loss"] for r in noisy]))
            values["test_top1_fall_points"] = float(
                np.mean([clean["test_top1_percent"] - r["test_top1_percent"] for r in noisy])
            )
        derived.append(
            {
                "depth": depth,
                "noise_std": label,
                "activation": act,
                "seed": seed,
                "diverged": diverged,
                **{key: math.nan if diverged else value for key, value in values.items()},
            }
        )
    return derived


def comparisons(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Primary: the endpoint at the cells ``config.primary`` names; exploratory: the endpoint
    elsewhere, the fall in accuracy (robustness) and the loss and accuracy per level."""
    cells = ("depth", "noise_std")
    _, metric = ENDPOINTS[config.endpoint]
    derived = endpoint_rows(config, runs)
    primary = {key: tuple(value) for key, value in config.primary.items()}

    def compare(rows, name, primary_cells=lambda cell, baseline: False):
        return stats.compare_activations(
            rows,
            cell_keys=cells,
            metric=name,
            higher_is_better=name == "test_top1_percent",
            is_primary=primary_cells,
            seeds_of=lambda cell, act: design_seeds(config, cell, act),
        )

    compared = compare(
        derived, metric, lambda cell, baseline: baseline in primary.get(f"depth{cell['depth']}", ())
    )
    if config.endpoint == "robustness":
        compared += compare(derived, "test_top1_fall_points")
    for name in METRICS:
        compared += compare(runs, name)
    return stats.holm_by_family(compared)


def make_table(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]], compared
) -> report.Table:
    """Test loss per (depth, noise level) and activation, the endpoint's row last."""
    columns = ["layers", "noise std", *config.activations, "Nish - best other [95% CI]", "p (Holm)"]
    cells, numeric = [], []
    label, endpoint_metric = ENDPOINTS[config.endpoint]
    derived = endpoint_rows(config, runs)
    for depth in config.depths:
        for noise in [*config.noise_levels, label]:
            source, metric = (derived, endpoint_metric) if noise == label else (runs, "test_loss")
            where = {"depth": depth, "noise_std": noise if noise == label else float(noise)}
            line = [str(depth), str(noise)]
            for act in config.activations:
                values = grid.values_of(source, metric, activation=act, **where)
                summary = stats.summarize(values)
                diverged, total = grid.diverged_count(source, activation=act, **where)
                text = report.format_mean_spread(summary, config.spread, digits=3)
                line.append(f"{text} ({diverged} of {total} diverged)" if diverged else text)
                numeric.append(
                    {
                        **where,
                        "activation": act,
                        "metric": metric,
                        "runs": total,
                        "diverged": diverged,
                        "mean": summary.mean,
                        "std": summary.std,
                    }
                )
            mine = [
                c for c in compared if c["cell"] == stats.cell_name(where) and c["metric"] == metric
            ]
            line += report.versus_best_other(mine, higher_is_better=False, digits=3)
            cells.append(line)
    notes = [
        f"- Cells: test cross-entropy, mean {report.SPREADS[config.spread]} over "
        f"{seeds_text(config)}; protocol {config.protocol}. Lower is better.",
        "- Nish - best other: paired mean difference in test loss to the other activation with "
        "the lowest loss (negative: Nish lower), 95% CI; p: paired t, Holm within its family (the "
        "primary comparisons, or all others of this run). "
        f"{endpoint_note(config)}",
    ]
    return report.Table(columns, cells, numeric, notes)


def make_figure(config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]], compared):
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
            f"{TITLE}\n{config.protocol}, mean of {seeds_text(config)}, band: "
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
    schedule = f", {train.schedule} schedule" if train.schedule != "constant" else ""
    return (
        f"{train.train_subset or 'all 60,000'} training and "
        f"{train.test_subset or 'all 10,000'} test images, CNNs of "
        f"{', '.join(map(str, config.depths))} layers, width "
        f"{train.model_options.width}, {train.num_epochs} epoch(s), SGD lr {train.learning_rate} "
        f"momentum {train.momentum}{schedule}, batch {train.batch_size}, {seeds_text(config)}, "
        f"protocol {config.protocol}, noise std {', '.join(map(str, config.noise_levels))}"
    )


def seeds_text(config: ml_collections.ConfigDict) -> str:
    """``"5 paired seeds"``, or the seeds of each depth and activation where they differ."""
    if not config.runs_per_cell:
        return f"{config.train.num_runs} paired seeds"
    cells = "; ".join(
        f"{depth} layers: "
        + ", ".join(f"{act} {num_runs(config, depth, act)}" for act in config.activations)
        for depth in config.depths
    )
    return f"paired seeds from {config.train.seed} ({cells})"


def summary_lines(config, runs, compared, table) -> list[str]:
    """The summary: the scale, then the primary comparisons (with, for the robustness endpoint,
    their power and reading) or, for an exploratory run, that it has none; then the clean
    accuracy against the convergence target (robustness endpoint)."""
    lines = [f"- Scale: {scale(config)}."]
    primary = report.primary_lines(compared, digits=3)
    if primary:
        lines += [
            f"- Primary endpoint: {ENDPOINT_NAMES[config.endpoint]}; Nish minus each other "
            "activation (negative: Nish lower), paired, Holm-adjusted:",
            *primary,
        ]
        if config.endpoint == "robustness":
            lines += power_lines(compared)
    else:  # an exploratory run (``config.primary`` empty)
        lines.append(
            f"- Exploratory: no primary comparison. Endpoint {ENDPOINT_NAMES[config.endpoint]}; "
            "every comparison (comparisons.csv, the table) is in one Holm family."
        )
    if config.endpoint == "robustness":
        lines += clean_accuracy_lines(config, runs)
    return lines


def power_lines(
    compared: Sequence[Mapping[str, Any]],
    shown: Callable[[Mapping[str, Any]], bool] = lambda row: True,
) -> list[str]:
    """For each primary comparison, the smallest true difference it could detect with 80%
    power at Holm's strictest level (0.05 over the family's size), and its pre-registered
    reading: significant (which way), *alike at this power* (not significant, the 95% CI
    inside +-that difference: a null that rules out effects of that size) or *inconclusive*
    (not significant, the CI reaching beyond it). The pre-registration reads H1a (Nish against
    Mish) and H2 this way; the other primary comparisons are described by the same test.
    ``shown``: which of the family to give (e.g. one claim's)."""
    family = [row for row in compared if row["primary"]]
    alpha = 0.05 / max(1, len(family))
    lines = [
        f"- Smallest detectable difference (80% power, alpha {alpha:.4g}, its own spread) and "
        "the reading:"
    ]
    for row in filter(shown, family):
        detectable = stats.detectable_difference(row, alpha=alpha)
        if math.isnan(detectable):
            found = "untestable (under two finished pairs, or no spread)"
        elif is_significant(row):
            found = f"significant, Nish's rise {'smaller' if row['mean_diff'] < 0 else 'larger'}"
        elif -detectable <= row["ci_low"] and row["ci_high"] <= detectable:
            found = f"alike at this power (95% CI inside +-{detectable:.3f})"
        else:
            found = f"inconclusive (95% CI beyond +-{detectable:.3f})"
        lines.append(f"  - {row['cell']}: vs {row['baseline']} {detectable:.3f}: {found}")
    return lines


def clean_accuracy_lines(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Mean clean test accuracy per depth and activation over its finished runs (diverged ones
    counted beside it), against the 98% convergence target."""
    lines = [
        f"- Clean test accuracy (noise 0; the target was at least {TARGET_CLEAN_ACCURACY:g}%):"
    ]
    for depth in config.depths:
        cells = []
        for act in config.activations:
            summary = stats.summarize(
                grid.values_of(
                    runs, "test_top1_percent", activation=act, depth=depth, noise_std=0.0
                )
            )
            diverged, _ = grid.diverged_count(runs, activation=act, depth=depth, noise_std=0.0)
            short = TARGET_CLEAN_ACCURACY - summary.mean
            notes = [f"{short:.2g} points short"] if short > 0 else []
            notes += [f"{diverged} diverged"] if diverged else []
            cells.append(f"{act} {summary.mean:.2f}%" + (f" ({', '.join(notes)})" if notes else ""))
        lines.append(f"  - {depth} layers: {', '.join(cells)}")
    return lines


def measurement(config: ml_collections.ConfigDict) -> grid.Measurement | None:
    """Clean training: every trained program tested at every level; noisy training: none."""
    return measure_every_level(config) if config.protocol == "clean_training" else None
