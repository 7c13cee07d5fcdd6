"""Fig. 2b and 2c: test loss (and accuracy) of clean-trained CNNs against Gaussian input noise.

    python -m experiments.noise_robustness --config experiments/configs/noise_robustness.py:quick

Every (activation, depth) point trains ``config.train.num_runs`` seeds at once with the training
engine (run directory ``<results>/runs/<act>-depth<d>/``, resumable), then one evaluator measures
the trained weights at every noise level without retraining or recompiling. Writes ``runs.csv``
(one row per point, seed and noise level), ``table.{md,csv}`` (test loss mean ± 95% CI),
``figure.png`` (loss and accuracy against the noise level, one column per depth) and
``summary.md`` into ``results/noise_robustness/<config.name>/``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import ml_collections
from tqdm import tqdm

from experiments import report
from experiments.depth_sweep import point_config, train_point
from nish_jax.train import make_evaluator
from nish_jax.train.components import load_split

EXPERIMENT = "noise_robustness"
DEFAULT_CONFIG = (
    os.path.join(os.path.dirname(__file__), "configs", "noise_robustness.py") + ":quick"
)
TITLE = "Fig. 2b/2c: MNIST CNN test loss against Gaussian input noise"
METRICS = {"test_loss": "test loss", "test_top1": "test accuracy (%)"}


def noise_rows(
    train: ml_collections.ConfigDict, result: dict[str, Any], noise_levels: Sequence[float]
) -> list[dict[str, Any]]:
    """Every run's test loss and accuracy at every noise level (NaN for a diverged point)."""
    if result["state"] is None:
        return [
            {"run": run, "noise_std": noise, "test_loss": math.nan, "test_top1": math.nan}
            for noise in noise_levels
            for run in range(train.num_runs)
        ]
    evaluator = make_evaluator(train, load_split(train, "test"))
    rows = []
    for noise in noise_levels:
        for run, metrics in enumerate(evaluator(result["state"], noise)):
            rows.append(
                {
                    "run": run,
                    "noise_std": noise,
                    "test_loss": metrics["loss"],
                    "test_top1": 100 * metrics["top1"],
                }
            )
    return rows


def seed_groups(
    config: ml_collections.ConfigDict, act: str, depth: int
) -> list[tuple[str, ml_collections.ConfigDict]]:
    """(run directory name, engine config) of one point: all seeds vmapped in one program, or,
    with ``config.sequential_seeds``, one single-run program per seed (on CPUs a vmapped
    convolution runs as a grouped one, about three times slower per run)."""
    train = point_config(config, act, depth=depth)
    name = f"{act}-depth{depth}"
    if not config.sequential_seeds:
        return [(name, train)]
    groups = []
    for run in range(train.num_runs):
        single = train.copy_and_resolve_references()
        single.num_runs, single.seed = 1, train.seed + run
        groups.append((f"{name}-seed{single.seed}", single))
    return groups


def run_experiment(config: ml_collections.ConfigDict, directory: str) -> list[dict[str, Any]]:
    """Train every (activation, depth) point on clean data and test it at every noise level."""
    points = [(act, depth) for depth in config.depths for act in config.activations]
    rows = []
    for act, depth in tqdm(points, desc=f"noise robustness [{config.name}]", unit="point"):
        for name, train in seed_groups(config, act, depth):
            result = train_point(train, os.path.join(directory, "runs", name))
            for row in noise_rows(train, result, config.noise_levels):
                rows.append(
                    {
                        "config": config.name,
                        "act": act,
                        "depth": depth,
                        "seed": train.seed + row.pop("run"),
                        "status": result["status"],
                        **row,
                    }
                )
    return rows


def values(
    rows: Sequence[dict[str, Any]], metric: str, act: str, depth: int, noise: float
) -> list[float]:
    """The finite values of ``metric`` over the runs of one (activation, depth, noise) cell."""
    return [
        row[metric]
        for row in rows
        if row["act"] == act
        and row["depth"] == depth
        and row["noise_std"] == noise
        and math.isfinite(row[metric])
    ]


def make_table(
    rows: Sequence[dict[str, Any]], config: ml_collections.ConfigDict
) -> tuple[list[str], list[list[str]], list[dict[str, Any]]]:
    """Test loss mean ± 95% CI per (depth, noise) row and activation column, and the loss and
    accuracy statistics as numeric rows for the CSV."""
    columns = ["layers", "noise std", *config.activations]
    cells, numeric = [], []
    for depth in config.depths:
        for noise in config.noise_levels:
            line = [str(depth), f"{noise:.2f}"]
            for act in config.activations:
                losses = values(rows, "test_loss", act, depth, noise)
                line.append(
                    report.format_mean_spread(report.summarize(losses), digits=3)
                    if losses
                    else "diverged"
                )
                for metric in METRICS:
                    found = values(rows, metric, act, depth, noise)
                    stats = report.stats_columns(report.summarize(found)) if found else {"n": 0}
                    numeric.append(
                        {"layers": depth, "noise_std": noise, "act": act, "metric": metric, **stats}
                    )
            cells.append(line)
    return columns, cells, numeric


def make_figure(rows: Sequence[dict[str, Any]], config: ml_collections.ConfigDict):
    """Loss (top row) and accuracy (bottom row) against the noise level, one column per depth."""
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
    for column, depth in enumerate(depths):
        for line, (metric, name) in enumerate(METRICS.items()):
            ax = axes[line][column]
            for act in config.activations:
                levels = [n for n in config.noise_levels if values(rows, metric, act, depth, n)]
                if levels:
                    samples = [values(rows, metric, act, depth, n) for n in levels]
                    report.plot_with_spread(ax, levels, samples, label=act, spread=config.spread)
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            if line == 0:
                ax.set_title(f"{depth}-layer CNN")
                ax.legend()
            else:
                ax.set_xlabel("noise standard deviation (pixel scale [0, 1])")
    band = "95% CI" if config.spread == "ci" else "± 1 std"
    figure.suptitle(
        report.label(
            f"{TITLE}\nmean of {config.train.num_runs} seeds, band: {band}", config.name, "\n"
        ),
        fontsize=9,
    )
    return figure


def summary_lines(rows: Sequence[dict[str, Any]], config: ml_collections.ConfigDict) -> list[str]:
    """The clean and the noisiest test loss and accuracy of every activation, per depth."""
    train = config.train
    lines = [
        f"- protocol: {tuple(config.depths)}-layer CNNs of width {train.model_options.width}, "
        f"{train.num_epochs} epoch(s), {train.num_runs} seeds, "
        f"train images {train.train_subset or 'all'}, test images {train.test_subset or 'all'}, "
        f"noise std {min(config.noise_levels)} to {max(config.noise_levels)} "
        f"in {len(config.noise_levels)} levels"
    ]
    clean, noisiest = min(config.noise_levels), max(config.noise_levels)
    for depth in config.depths:
        parts = []
        for act in config.activations:
            loss = values(rows, "test_loss", act, depth, noisiest)
            top1 = values(rows, "test_top1", act, depth, noisiest)
            clean_top1 = values(rows, "test_top1", act, depth, clean)
            parts.append(
                f"{act} loss {_mean(loss):.3f}, accuracy {_mean(top1):.1f}% "
                f"(clean {_mean(clean_top1):.1f}%)"
            )
        means = {
            act: _mean(values(rows, "test_loss", act, depth, noisiest))
            for act in config.activations
        }
        best = min(means, key=lambda act: means[act] if math.isfinite(means[act]) else math.inf)
        lines.append(
            f"- {depth} layers, noise std {noisiest}: lowest loss {best}; " + "; ".join(parts)
        )
    return lines


def _mean(found: Sequence[float]) -> float:
    return sum(found) / len(found) if found else math.nan


def main(argv: Sequence[str] | None = None) -> str:
    """Run the experiment the command line describes; return the results directory."""
    config = report.parse_config(argv or ["noise_robustness"], DEFAULT_CONFIG)
    if config.spread not in report.SPREADS:
        raise ValueError(f"config.spread={config.spread!r}; valid: {', '.join(report.SPREADS)}")
    bad = [noise for noise in config.noise_levels if noise < 0]
    if bad or not config.noise_levels:
        raise ValueError(
            f"config.noise_levels must be non-empty and >= 0, got {config.noise_levels}"
        )
    directory = report.results_dir(EXPERIMENT, config.name, config.output_root)
    report.enable_compilation_cache(config.output_root)
    rows = run_experiment(config, directory)
    report.publish(
        directory,
        rows,
        make_table(rows, config),
        make_figure(rows, config),
        summary_lines(rows, config),
        title=TITLE,
        config_name=config.name,
    )
    return directory


if __name__ == "__main__":
    report.run_main(main)
