"""Fig. 2a: MNIST test accuracy of the depth-sweep MLP against its depth, for each activation.

    python -m experiments.depth_sweep --config experiments/configs/depth_sweep.py:quick

Every (activation, depth) point trains ``config.train.num_runs`` seeds at once with the training
engine, in its own run directory ``<results>/runs/<act>-depth<d>/`` (so an interrupted sweep
resumes where it stopped). Writes ``runs.csv`` (one row per point and seed), ``table.{md,csv}``
(mean ± 95% CI per depth and activation, and Welch's p-value of Nish against the best other
activation), ``figure.png`` and ``summary.md`` into ``results/depth_sweep/<config.name>/``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import ml_collections
from absl import logging
from tqdm import tqdm

from experiments import report
from nish_jax.train import NonFiniteLossError, train_and_evaluate

EXPERIMENT = "depth_sweep"
DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "depth_sweep.py") + ":quick"
TITLE = "Fig. 2a: MNIST test accuracy (%) against MLP depth"
REFERENCE_ACT = "nish"


def train_point(train_config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Train (or resume, or just re-evaluate) one engine config's runs in ``workdir``.

    Returns train_and_evaluate's result with ``"status": "ok"``, or ``{"status": "diverged",
    "runs": [NaN metrics per run], "state": None}`` when the loss became non-finite.
    """
    try:
        return {**train_and_evaluate(train_config, workdir), "status": "ok"}
    except NonFiniteLossError as error:
        logging.warning("%s: %s", workdir, error)
        nan = dict.fromkeys(("train_loss", "train_top1", "test_loss", "test_top1"), math.nan)
        return {"status": "diverged", "runs": [nan] * train_config.num_runs, "state": None}


def point_config(
    config: ml_collections.ConfigDict, act: str, **model_options: Any
) -> ml_collections.ConfigDict:
    """The engine config of one point: ``config.train`` with ``act`` and ``model_options`` set."""
    train = config.train.copy_and_resolve_references()
    train.act = act
    for key, value in model_options.items():
        train.model_options[key] = value
    return train


def run_sweep(config: ml_collections.ConfigDict, directory: str) -> list[dict[str, Any]]:
    """Train every (activation, depth) point; one row per point and run."""
    points = [(act, depth) for act in config.activations for depth in config.depths]
    rows = []
    for act, depth in tqdm(points, desc=f"depth sweep [{config.name}]", unit="point"):
        train = point_config(config, act, depth=depth)
        result = train_point(train, os.path.join(directory, "runs", f"{act}-depth{depth}"))
        for run, metrics in enumerate(result["runs"]):
            rows.append(
                {
                    "config": config.name,
                    "act": act,
                    "depth": depth,
                    "run": run,
                    "seed": train.seed + run,
                    "status": result["status"],
                    **{key: metrics[key] for key in ("train_loss", "train_top1", "test_loss")},
                    "test_top1": metrics["test_top1"],
                }
            )
    return rows


def accuracies(rows: Sequence[dict[str, Any]], act: str, depth: int) -> list[float]:
    """The finite test accuracies (in %) of one point's runs."""
    return [
        100 * row["test_top1"]
        for row in rows
        if row["act"] == act and row["depth"] == depth and math.isfinite(row["test_top1"])
    ]


def make_table(
    rows: Sequence[dict[str, Any]], config: ml_collections.ConfigDict
) -> tuple[list[str], list[list[str]], list[dict[str, Any]]]:
    """Columns and cells (depth, mean ± 95% CI per activation, Welch p of Nish against the best
    other activation), and the same statistics as numeric rows for the CSV."""
    others = [act for act in config.activations if act != REFERENCE_ACT]
    compare = REFERENCE_ACT in config.activations and bool(others)
    columns = ["depth", *config.activations]
    if compare:
        columns.append(f"p ({REFERENCE_ACT} vs best other)")
    cells, numeric = [], []
    for depth in config.depths:
        line = [str(depth)]
        for act in config.activations:
            values = accuracies(rows, act, depth)
            summary = report.summarize(values) if values else None
            line.append(report.format_mean_spread(summary) if summary else "diverged")
            stats = report.stats_columns(summary) if summary else {"n": 0}
            numeric.append({"depth": depth, "act": act, "metric": "test_top1_percent", **stats})
            if act == REFERENCE_ACT:
                reference_row = numeric[-1]
        if compare:
            best = max(others, key=lambda act: _mean_or_minus_inf(accuracies(rows, act, depth)))
            nish = accuracies(rows, REFERENCE_ACT, depth)
            p = report.welch_p_value(nish, accuracies(rows, best, depth))
            line.append(f"{p:.3g} ({best})")
            reference_row.update(welch_p_vs_best_other=p, best_other=best)
        cells.append(line)
    return columns, cells, numeric


def _mean_or_minus_inf(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else -math.inf


def make_figure(rows: Sequence[dict[str, Any]], config: ml_collections.ConfigDict):
    """Accuracy against depth, one line per activation, mean over seeds with its spread band."""
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4.5))
    for act in config.activations:
        depths = [d for d in config.depths if accuracies(rows, act, d)]
        if depths:
            samples = [accuracies(rows, act, d) for d in depths]
            report.plot_with_spread(ax, depths, samples, label=act, spread=config.spread)
    band = "95% CI" if config.spread == "ci" else "± 1 std"
    ax.set_xlabel("number of hidden layers")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xticks(list(config.depths) if len(config.depths) <= 15 else ax.get_xticks())
    ax.set_ylim(0, 100)
    ax.set_title(report.label(TITLE, config.name, "\n"), fontsize=9)
    ax.text(
        0.99,
        0.01,
        f"mean of {config.train.num_runs} seeds, band: {band}",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return figure


def summary_lines(rows: Sequence[dict[str, Any]], config: ml_collections.ConfigDict) -> list[str]:
    """Which activation is best at each depth, and every activation at the deepest depth."""
    train = config.train
    lines = [
        f"- protocol: depths {tuple(config.depths)}, width {train.model_options.width}, "
        f"{train.num_epochs} epoch(s), {train.num_runs} seeds, "
        f"train images {train.train_subset or 'all'}, test images {train.test_subset or 'all'}",
    ]
    for depth in config.depths:
        means = {
            act: _mean_or_minus_inf(accuracies(rows, act, depth)) for act in config.activations
        }
        best = max(means, key=means.get)
        lines.append(f"- depth {depth}: best {best} ({means[best]:.2f}%)")
    deepest = max(config.depths)
    at_deepest = ", ".join(
        f"{act} {_format(accuracies(rows, act, deepest))}" for act in config.activations
    )
    lines.append(f"- at depth {deepest}: {at_deepest}")
    return lines


def _format(values: Sequence[float]) -> str:
    return f"{report.format_mean_spread(report.summarize(values))}%" if values else "diverged"


def main(argv: Sequence[str] | None = None) -> str:
    """Run the sweep the command line describes; return the results directory."""
    config = report.parse_config(argv or ["depth_sweep"], DEFAULT_CONFIG)
    if config.spread not in report.SPREADS:
        raise ValueError(f"config.spread={config.spread!r}; valid: {', '.join(report.SPREADS)}")
    directory = report.results_dir(EXPERIMENT, config.name, config.output_root)
    report.enable_compilation_cache(config.output_root)
    rows = run_sweep(config, directory)
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
