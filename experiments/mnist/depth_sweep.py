"""Fig. 2a: MNIST test accuracy of the depth-sweep MLP against its depth, for each activation.

    python -m experiments depth_sweep --config=quick

Every (depth, activation) point and every control (more activations and learning rates at the
primary depths; see the config) trains ``config.train.num_runs`` paired seeds with the training
engine (:mod:`experiments.core.grid`: resumable, one run directory per computation). Outputs,
through
:func:`experiments.core.report.publish`: ``runs.csv``, ``comparisons.csv`` (Nish against each other
activation per cell, paired by seed, Holm-adjusted), ``table.md``, ``figure.png`` and
``summary.md`` in ``<output_root>/depth_sweep/<config.name>/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

from experiments.core import grid, report, stats

EXPERIMENT = "depth_sweep"
TITLE = "Fig. 2a: MNIST test accuracy (%) against MLP depth"
METRIC = "test_top1_percent"
REFERENCE = "nish"


def points(config: ml_collections.ConfigDict) -> list[grid.Point]:
    """The sweep's points: every depth x activation, then the controls (module doc)."""
    found = []

    def add(depth: int, act: str, factor: float) -> None:
        train = grid.engine_config(config.train, act, depth=depth)
        train.learning_rate = config.train.learning_rate * factor
        found.append(grid.Point({"depth": depth, "lr_factor": factor}, act, train))

    # The primary cells and their controls first: a run done in parts answers them first.
    for depth in config.primary_depths:
        for act in (*config.activations, *config.control_activations):
            add(depth, act, 1.0)
    for factor in config.learning_rate_factors:
        for act in config.learning_rate_activations:
            add(max(config.primary_depths), act, factor)
    for depth in config.depths:
        if depth not in config.primary_depths:
            for act in config.activations:
                add(depth, act, 1.0)
    return found


def is_primary(config: ml_collections.ConfigDict, cell: Mapping[str, Any], baseline: str) -> bool:
    """Nish against the paper's activations at the primary depths and the base learning rate;
    the controls (other activations, other learning rates) are exploratory."""
    return (
        cell["depth"] in config.primary_depths
        and cell["lr_factor"] == 1.0
        and baseline in config.activations
    )


def comparisons(config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]]):
    return stats.compare_activations(
        runs,
        cell_keys=("depth", "lr_factor"),
        metric=METRIC,
        higher_is_better=True,
        reference=REFERENCE,
        is_primary=lambda cell, baseline: is_primary(config, cell, baseline),
    )


def cell_summary(runs, **where: Any) -> dict[str, Any]:
    """One cell's numbers: its runs, diverged runs and the summary of the finished ones."""
    diverged, total = grid.diverged_count(runs, **where)
    summary = stats.summarize(grid.values_of(runs, METRIC, **where))
    return {"runs": total, "diverged": diverged, "summary": summary}


def format_cell(cell: Mapping[str, Any], spread: str) -> str:
    """``"mean ± spread"``, with the diverged runs where there are any; "-" for no runs."""
    if not cell["runs"]:
        return "-"
    text = report.format_mean_spread(cell["summary"], spread)
    diverged = cell["diverged"]
    return f"{text} ({diverged} of {cell['runs']} diverged)" if diverged else text


def make_table(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]], compared
) -> report.Table:
    """One row per (depth, learning-rate factor): each activation's accuracy, then Nish's paired
    difference to the best other activation of that row with its 95% CI and Holm p."""
    acts = list(dict.fromkeys([*config.activations, *config.control_activations]))
    cells_of = sorted({(row["depth"], row["lr_factor"]) for row in runs})
    columns = ["depth", "lr x", *acts, "Nish - best other [95% CI]", "p (Holm)"]
    cells, numeric = [], []
    for depth, factor in cells_of:
        where = {"depth": depth, "lr_factor": factor}
        found = {act: cell_summary(runs, activation=act, **where) for act in acts}
        line = [str(depth), f"{factor:g}"]
        line += [format_cell(found[act], config.spread) for act in acts]
        for act, cell in found.items():
            if cell["runs"]:
                summary = cell["summary"]
                numeric.append(
                    {
                        **where,
                        "activation": act,
                        "runs": cell["runs"],
                        "diverged": cell["diverged"],
                        "mean": summary.mean,
                        "std": summary.std,
                        "ci95_low": summary.ci_low,
                        "ci95_high": summary.ci_high,
                    }
                )
        name = stats.cell_name(where)
        mine = [c for c in compared if c["cell"] == name]
        line += report.versus_best_other(mine, higher_is_better=True)
        cells.append(line)
    rivals = [act for act in config.activations if act != REFERENCE]
    notes = [
        f"- Cells: test accuracy (%) after the last epoch, mean {report.SPREADS[config.spread]} "
        f"over {config.train.num_runs} paired seeds; a diverged run is counted, not averaged.",
        "- Nish - best other: the paired mean difference (percentage points) to the other "
        "activation with the highest accuracy in that row, with its 95% CI; p: paired t-test, "
        "Holm-adjusted over all comparisons of its family (the primary comparisons, or all "
        "others; comparisons.csv has every pair, the Wilcoxon test and d_z).",
        f"- Primary endpoint: Nish against {', '.join(rivals)} at depths "
        f"{', '.join(map(str, config.primary_depths))} and the base learning rate; the controls "
        "and every other row are exploratory.",
    ]
    return report.Table(columns, cells, numeric, notes)


def make_figure(config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]], compared):
    """Accuracy against depth, one line per activation (controls dashed), spread band; the
    learning-rate check as hollow markers in its activation's colour, either side of the
    deepest primary depth (below it for the smaller rates, above for the larger)."""
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.set_xticks(sorted({r["depth"] for r in runs}))
    colour = {}
    for act in dict.fromkeys([*config.activations, *config.control_activations]):
        depths = sorted(
            {r["depth"] for r in runs if r["activation"] == act and r["lr_factor"] == 1}
        )
        samples = [
            grid.values_of(runs, METRIC, activation=act, depth=d, lr_factor=1.0) for d in depths
        ]
        style = "--" if act in config.control_activations else "-"
        line = report.plot_with_spread(
            ax, depths, samples, label=act, spread=config.spread, linestyle=style
        )
        colour[act] = line.get_color()
    deepest = max(config.primary_depths)
    for act in config.learning_rate_activations:
        for factor in config.learning_rate_factors:
            summary = stats.summarize(
                grid.values_of(runs, METRIC, activation=act, depth=deepest, lr_factor=factor)
            )
            if not summary.n:
                continue
            width = report.spread_width(summary, config.spread)
            ax.errorbar(
                deepest + (0.3 if factor > 1 else -0.3),
                summary.mean,
                yerr=width,
                marker="^" if factor > 1 else "v",
                markerfacecolor="none",
                color=colour[act],
                capsize=3,
                label=f"{act}, lr x{factor:g}",
            )
    ax.set_xlabel("number of hidden Dense-BatchNorm-act-Dropout blocks")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(report.label(TITLE, config.name, "\n"), fontsize=9)
    ax.text(
        0.99,
        0.01,
        f"mean of {config.train.num_runs} paired seeds, "
        f"{'band and bars' if config.learning_rate_factors else 'band'}: "
        f"{report.SPREADS[config.spread]}",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=7,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))  # clear of every line
    figure.tight_layout()
    return figure


def scale(config: ml_collections.ConfigDict) -> str:
    """The protocol and scale of a sweep, in one line (its summary and the README say it)."""
    train = config.train
    return (
        f"{train.train_subset or 'all 60,000'} training and "
        f"{train.test_subset or 'all 10,000'} test images, {train.num_epochs} epoch(s), "
        f"batch {train.batch_size}, SGD lr "
        f"{train.learning_rate} momentum {train.momentum}, width {train.model_options.width}, "
        f"stem {train.model_options.get('stem', 'none')}, {train.num_runs} paired seeds per cell"
    )


def controls(
    config: ml_collections.ConfigDict, compared: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The comparisons of the controls: Nish against the control activations at the primary
    depths, and against each learning-rate activation at each other learning rate (each at the
    same factor as Nish)."""
    primary_cells = {
        stats.cell_name({"depth": depth, "lr_factor": 1.0}) for depth in config.primary_depths
    }
    factor_cells = {
        stats.cell_name({"depth": max(config.primary_depths), "lr_factor": factor})
        for factor in config.learning_rate_factors
    }
    return [
        c
        for c in compared
        if (c["cell"] in primary_cells and c["baseline"] in config.control_activations)
        or (c["cell"] in factor_cells and c["baseline"] in config.learning_rate_activations)
    ]


def summary_lines(config, runs, compared, table) -> list[str]:
    return [
        f"- Scale: {scale(config)}.",
        f"- Primary endpoint: test accuracy at depths {', '.join(map(str, config.primary_depths))};"
        " Nish minus each other activation (paired; p Holm-adjusted over the primary cells):",
        *report.primary_lines(compared, " points", diverged=True),
    ]


def check_config(config: ml_collections.ConfigDict) -> None:
    report.check_spread(config.spread)


def measurement(config: ml_collections.ConfigDict) -> None:
    """The sweep reads only each program's final metrics."""
    return None
