"""The paper's Table 1 on CIFAR-10: each network with Mish and with Nish, several epoch budgets.

    python -m experiments cifar10_table --config=quick

Every (network, activation) trains ``config.train.num_runs`` paired seeds with the training
engine (:mod:`experiments.core.grid`); with a constant learning rate one run per seed trains for the
longest budget and its test metrics after each listed epoch fill the columns. Outputs through
:func:`experiments.core.report.publish`: ``runs.csv`` (one row per run and epoch column),
``comparisons.csv`` (Nish against Mish per network and column, paired by seed), ``table.md`` (the
paper's layout: mean accuracy, mean loss, standard deviation, and the paper's numbers beside
ours), ``figure.png`` and ``summary.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections
import numpy as np

from experiments.core import grid, report, stats
from experiments.paper import results as paper_results

EXPERIMENT = "cifar10_table"
TITLE = "Table 1: CIFAR-10, Mish vs Nish"
STEMS = ("cifar", "imagenet")


def check_config(config: ml_collections.ConfigDict) -> None:
    report.check_spread(config.spread)
    checks = {
        "reading": (config.reading, tuple(paper_results.READINGS)),
        "stem": (config.stem, STEMS),
    }
    for key, (value, valid) in checks.items():
        if value not in valid:
            raise ValueError(f"config.{key}={value!r} is not valid; valid: {', '.join(valid)}")
    unknown = [n for n in config.networks if n not in paper_results.TABLE1_NETWORKS]
    if unknown:
        raise ValueError(
            f"config.networks has {unknown}; valid: {', '.join(paper_results.TABLE1_NETWORKS)}"
        )
    if config.train.schedule != "constant":
        raise ValueError(
            f"config.train.schedule={config.train.schedule!r}: the epoch columns are read from "
            "one run, which equals separate shorter runs only with the 'constant' schedule"
        )
    if not config.epochs or min(config.epochs) < 1:
        raise ValueError(f"config.epochs must be positive epoch counts, got {config.epochs!r}")


def points(config: ml_collections.ConfigDict) -> list[grid.Point]:
    found = []
    for network in config.networks:
        model = paper_results.READINGS[config.reading][network]
        for act in config.activations:
            train = ml_collections.ConfigDict(config.train.to_dict())
            train.model, train.act = model, act
            train.model_options = ml_collections.ConfigDict({"stem": config.stem})
            train.num_epochs = max(config.epochs)
            found.append(grid.Point({"network": network, "model": model}, act, train))
    return found


def comparisons(config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]]):
    last = max(config.epochs)
    compared = []
    for metric, higher in (("test_top1_percent", True), ("test_loss", False)):
        compared += stats.compare_activations(
            runs,
            cell_keys=("network", "epochs"),
            metric=metric,
            higher_is_better=higher,
            is_primary=lambda cell, _, m=metric: (
                m == "test_top1_percent" and cell["epochs"] == last
            ),
        )
    return stats.holm_by_family(compared)


def make_table(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]], compared
) -> report.Table:
    """One row per network and epoch column: per activation our mean accuracy, mean loss and
    standard deviation (the paper's layout) and the paper's; then Nish - Mish, paired."""
    acts = list(config.activations)
    columns = report.beside_paper_columns(["Network", "Epochs"], acts, "acc / loss / std")
    cells, numeric = [], []
    for network in config.networks:
        for epochs in sorted(config.epochs):
            where = {"network": network, "epochs": epochs}
            line: list[Any] = [network, epochs]
            for act in acts:
                accuracy = stats.summarize(
                    grid.values_of(runs, "test_top1_percent", activation=act, **where)
                )
                loss = float(np.nanmean(grid.values_of(runs, "test_loss", activation=act, **where)))
                diverged, total = grid.diverged_count(runs, activation=act, **where)
                ours = f"{accuracy.mean:.2f} / {loss:.4f} / {accuracy.std:.2f}"
                line += [
                    ours + (f" ({diverged} of {total} diverged)" if diverged else ""),
                    paper_results.table1_cell(network, act, epochs),
                ]
                numeric.append(
                    {
                        **where,
                        "activation": act,
                        "runs": total,
                        "diverged": diverged,
                        "accuracy_mean": accuracy.mean,
                        "accuracy_std": accuracy.std,
                        "loss_mean": loss,
                    }
                )
            line += report.versus(
                compared, cell=stats.cell_name(where), metric="test_top1_percent", baseline="mish"
            )
            cells.append(line)
    return report.Table(columns, cells, numeric, protocol_notes(config, runs))


def data_note(runs: Sequence[Mapping[str, Any]]) -> str:
    """Which CIFAR-10 copy the runs read: the official binaries or an image-folder (JPEG) copy."""
    sources = sorted({str(row["data_source"]) for row in runs})
    if all("cifar-10-batches-py" in source for source in sources):
        return f"Data: the official CIFAR-10 binaries ({', '.join(sources)})."
    return (
        f"Data: an image-folder copy of CIFAR-10 ({', '.join(sources)}); the project's shared "
        "copy is JPEG (quality about 75), so results are close to, not identical with, results "
        "on the official binaries."
    )


def scale(config: ml_collections.ConfigDict) -> str:
    """The protocol and scale of a table run, in one line (its notes and the README say it)."""
    train = config.train
    subset = f"{train.train_subset or 'all'} training and {train.test_subset or 'all'} test images"
    models = ", ".join(
        f"{n} = {paper_results.READINGS[config.reading][n]}" for n in config.networks
    )
    return (
        f"{train.num_runs} paired seeds per cell, {subset}, {train.optimizer} lr "
        f"{train.learning_rate} ({train.schedule}), batch {train.batch_size}, crop padding "
        f"{train.augmentation.crop_padding}, hflip {train.augmentation.hflip}; networks "
        f"({config.reading} reading, {config.stem} stems): {models}; every epoch column read from "
        f"one {max(config.epochs)}-epoch run per seed"
    )


def protocol_notes(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]]
) -> list[str]:
    return [
        f"- Scale: {scale(config)}.",
        "- Ours: mean test accuracy (%) / mean test loss / standard deviation of the accuracy over "
        "seeds (% points), as the paper reports. Nish - Mish: paired mean difference over seeds "
        "with its 95% CI; p: paired t-test, Holm-adjusted within its family (primary: the last "
        "epoch column; exploratory: the others).",
        f"- Paper: {paper_results.SOURCE}, accuracy / loss / std (10 runs per cell).",
        f"- {data_note(runs)}",
    ]


def make_figure(config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]], compared):
    """Test accuracy against the epoch budget, one panel per network, the paper's means dotted."""
    import matplotlib.pyplot as plt

    networks = list(config.networks)
    figure, axes = plt.subplots(1, len(networks), figsize=(4.5 * len(networks), 3.6), squeeze=False)
    epochs = sorted(config.epochs)
    for ax, network in zip(axes[0], networks, strict=True):
        for act in config.activations:
            samples = [
                grid.values_of(runs, "test_top1_percent", activation=act, network=network, epochs=e)
                for e in epochs
            ]
            report.plot_with_spread(
                ax, epochs, samples, label=f"{act} (ours)", spread=config.spread
            )
            paper = [(e, paper_results.TABLE1.get((network, act, e))) for e in epochs]
            paper = [(e, cell.accuracy) for e, cell in paper if cell is not None]
            if paper:
                ax.plot(*zip(*paper, strict=True), ":", marker="x", label=f"{act} (paper)")
        ax.set_title(network)
        ax.set_xlabel("epochs")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7)
    figure.suptitle(
        report.label(f"{TITLE}; band: {report.SPREADS[config.spread]}", config.name), fontsize=9
    )
    return figure


def summary_lines(config, runs, compared, table) -> list[str]:
    lines = [
        f"- Primary endpoint: test accuracy after {max(config.epochs)} epochs, Nish - Mish, "
        "paired, Holm-adjusted over the networks:"
    ]
    for c in compared:
        if c["primary"]:
            lines.append(
                f"  - {c['cell']}: {report.format_interval(c)} points [95% CI], "
                f"p_holm {c['p_holm']:.3g} (n = {c['n_pairs']})"
            )
    return lines + protocol_notes(config, runs)


def measurement(config: ml_collections.ConfigDict) -> grid.Measurement:
    """Each run's test metrics at every epoch budget of the config."""
    return grid.at_epochs(sorted(config.epochs))
