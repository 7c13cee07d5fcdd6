"""The paper's Table 1 on CIFAR-10: each network with Mish and with Nish, several epoch budgets.

    python -m experiments.cifar10_table --config experiments/configs/cifar10_table.py:quick

For every network and activation, ``config.train.num_runs`` seeds train at once (vmapped) with the
engine of :mod:`nish_jax.train`, resumable in ``results/cifar10_table/<config>/runs/<net>-<act>/``.
With a constant learning rate one run per cell group trains for the longest budget and its test
metrics after epochs 50, 100 and 150 fill the three columns (its first E epochs are exactly an
E-epoch run of the same seed); with any other schedule each budget is a separate run.

Outputs in ``results/cifar10_table/<config>/`` (see :mod:`experiments.report`): ``runs.csv``
(one row per run and budget), ``table.md``/``table.csv`` (the paper's numbers per cell, mean
accuracy, mean loss and standard deviation of the accuracy, plus what the paper lacks: the 95%
confidence interval and Welch's t-test p-value of Nish against Mish, and the paper's values
beside ours), ``figure.png`` (test accuracy per epoch) and ``summary.md``, printed at the end.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import ml_collections
import numpy as np

from experiments import paper_results, report
from nish_jax.data import load
from nish_jax.train import read_rows, train_and_evaluate

EXPERIMENT = "cifar10_table"
TITLE = "Table 1: CIFAR-10, Mish vs Nish"


def training_plan(config: ml_collections.ConfigDict) -> list[tuple[str, str, int]]:
    """(network, activation, epochs to train) of every training job the config asks for."""
    epochs = sorted(set(config.epochs))
    if not epochs or epochs[0] < 1:
        raise ValueError(f"config.epochs must be positive epoch counts, got {config.epochs!r}")
    budgets = [epochs[-1]] if config.train.schedule == "constant" else epochs
    return [(m, a, e) for m in config.models for a in config.activations for e in budgets]


def job_config(
    config: ml_collections.ConfigDict, model: str, act: str, num_epochs: int
) -> ml_collections.ConfigDict:
    """The engine config of one training job."""
    train = ml_collections.ConfigDict(config.train.to_dict())
    train.model = model
    train.act = act
    train.num_epochs = num_epochs
    options = config.model_options.get(model)
    train.model_options = ml_collections.ConfigDict(options.to_dict() if options else {})
    return train


def job_dir(directory: str, model: str, act: str, num_epochs: int, separate: bool) -> str:
    name = f"{model}-{act}" + (f"-{num_epochs}ep" if separate else "")
    return os.path.join(directory, "runs", name)


def run_jobs(config: ml_collections.ConfigDict, directory: str) -> list[dict[str, Any]]:
    """Train (or resume) every job; one row per run and epoch column, plus full histories."""
    plan = training_plan(config)
    separate = config.train.schedule != "constant"
    columns = sorted(set(config.epochs))
    rows = []
    for model, act, num_epochs in plan:
        workdir = job_dir(directory, model, act, num_epochs, separate)
        print(
            f"== {model} with {act}: {num_epochs} epochs, {config.train.num_runs} runs", flush=True
        )
        train_and_evaluate(job_config(config, model, act, num_epochs), workdir)
        history = read_rows(workdir, "epochs")
        wanted = [num_epochs] if separate else columns
        for row in history:
            rows.append(
                {
                    "config": config.name,
                    "model": model,
                    "activation": act,
                    "job_epochs": num_epochs,
                    "epoch": row["epoch"],
                    "run": row["run"],
                    "seed": config.train.seed + row["run"],
                    "in_table": row["epoch"] in wanted,
                    "test_top1_percent": 100.0 * row["test_top1"],
                    "test_loss": row["test_loss"],
                    "train_top1_percent": 100.0 * row["train_top1"],
                    "train_loss": row["train_loss"],
                    "workdir": workdir,
                }
            )
    return rows


def _values(rows: Sequence[dict[str, Any]], model: str, act: str, epoch: int, key: str):
    return [
        r[key]
        for r in rows
        if r["in_table"] and (r["model"], r["activation"], r["epoch"]) == (model, act, epoch)
    ]


def _rounded(value: float, digits: int) -> float | str:
    return "n/a" if math.isnan(value) else round(value, digits)


def _p_value_cell(p: float) -> str:
    return "n/a (needs 2+ runs each)" if math.isnan(p) else f"{p:.3g}"


def table(
    rows: Sequence[dict[str, Any]], config: ml_collections.ConfigDict
) -> tuple[list[str], list[list[Any]]]:
    """The table's columns and rows: one row per network and epoch budget, activations side by
    side (mean accuracy %, mean test loss, std of accuracy), then each activation's 95% CI, the
    Welch p-value of Nish against Mish, and the paper's "accuracy / loss / std" per activation."""
    acts = list(config.activations)
    columns = ["Network", "Epochs"]
    for act in acts:
        name = act.capitalize()
        columns += [f"{name} acc (%)", f"{name} loss", f"{name} std"]
    columns += [f"{act.capitalize()} acc 95% CI" for act in acts]
    columns.append("Welch p (Nish vs Mish)")
    columns += [f"Paper {act.capitalize()} acc / loss / std" for act in acts]
    lines = []
    for model in config.models:
        for epoch in sorted(set(config.epochs)):
            cells: list[Any] = [model, epoch]
            accuracy = {act: _values(rows, model, act, epoch, "test_top1_percent") for act in acts}
            stats = {act: report.summarize(accuracy[act]) for act in acts}
            for act in acts:
                loss = float(np.mean(_values(rows, model, act, epoch, "test_loss")))
                cells += [
                    _rounded(stats[act].mean, 2),
                    _rounded(loss, 4),
                    _rounded(stats[act].std, 2),
                ]
            for act in acts:
                s = stats[act]
                ci = "n/a" if math.isnan(s.ci_half_width) else f"[{s.ci_low:.2f}, {s.ci_high:.2f}]"
                cells.append(ci)
            if {"mish", "nish"} <= set(acts):
                cells.append(
                    _p_value_cell(report.welch_p_value(accuracy["nish"], accuracy["mish"]))
                )
            else:
                cells.append("n/a (needs mish and nish)")
            cells += [paper_results.cifar10_cell(model, act, epoch) for act in acts]
            lines.append(cells)
    return columns, lines


def data_note(config: ml_collections.ConfigDict) -> str:
    """Which CIFAR-10 copy was used: the official binaries or an image-folder (JPEG) copy."""
    source = load("cifar10", "test", data_dir=config.train.data_dir or None).source
    if "cifar-10-batches-py" in source:
        return f"Data: the official CIFAR-10 binaries ({source})."
    return (
        f"Data: an image-folder copy of CIFAR-10 ({source}); the project's shared copy is JPEG "
        "(quality about 75), so results are close to, not identical with, results on the "
        "official binaries."
    )


def protocol_notes(config: ml_collections.ConfigDict) -> list[str]:
    train = config.train
    separate = train.schedule != "constant"
    subset = (
        f"train subset {train.train_subset}, test subset {train.test_subset}"
        if train.train_subset or train.test_subset
        else "full train and test sets"
    )
    how = (
        "each epoch column is a separate run (the schedule depends on the length)"
        if separate
        else f"all epoch columns come from one {max(config.epochs)}-epoch run per seed, evaluated "
        "after each listed epoch (constant learning rate: identical to separate runs)"
    )
    return [
        f"- Config `{config.name}`: {train.num_runs} runs per cell (seeds {train.seed}.."
        f"{train.seed + train.num_runs - 1}, the same for both activations), {subset}, "
        f"{train.optimizer} lr {train.learning_rate} ({train.schedule}), batch {train.batch_size}, "
        f"crop padding {train.augmentation.crop_padding}, hflip {train.augmentation.hflip}.",
        f"- {how}.",
        "- acc: mean test top-1 (%); loss: mean test cross-entropy; std: sample standard "
        "deviation of the accuracy over runs (% points); 95% CI: Student-t interval of the mean "
        "accuracy; p: two-sided Welch t-test of Nish's against Mish's accuracies.",
        f"- {data_note(config)}",
        f"- Paper values: {paper_results.SOURCE}; '{paper_results.NOT_AVAILABLE}' where the "
        "paper's full text could not be read offline (none invented).",
    ]


def figure(
    rows: Sequence[dict[str, Any]], config: ml_collections.ConfigDict, directory: str
) -> str:
    """Test accuracy against epochs, one panel per network, mean and 95% CI band per activation."""
    import matplotlib.pyplot as plt

    models = list(config.models)
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.6), squeeze=False)
    longest = max(config.epochs)
    for ax, model in zip(axes[0], models, strict=True):
        for act in config.activations:
            mine = [
                r
                for r in rows
                if (r["model"], r["activation"], r["job_epochs"]) == (model, act, longest)
            ]
            epochs = sorted({r["epoch"] for r in mine})
            samples = [[r["test_top1_percent"] for r in mine if r["epoch"] == e] for e in epochs]
            report.plot_with_spread(ax, epochs, samples, label=act)
        ax.set_title(model)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.legend()
    fig.suptitle(report.label(TITLE, config.name))
    return report.save_figure(fig, directory)


def run(config: ml_collections.ConfigDict) -> dict[str, str]:
    """Train every job the config asks for and write runs.csv, the table, figure and summary."""
    directory = report.results_dir(EXPERIMENT, config.name, root=config.results_root)
    rows = run_jobs(config, directory)
    runs_csv = report.write_csv(rows, os.path.join(directory, "runs.csv"))
    columns, lines = table(rows, config)
    notes = protocol_notes(config)
    md_path, csv_path = report.write_table(
        directory, columns, lines, title=TITLE, config_name=config.name
    )
    with open(md_path, "a") as file:
        file.write("\n" + "\n".join(notes) + "\n")
    figure_path = figure(rows, config, directory)
    summary = []
    for line in lines:
        model, epoch = line[0], line[1]
        cells = dict(zip(columns, line, strict=True))
        parts = [f"{act} {cells[f'{act.capitalize()} acc (%)']}%" for act in config.activations]
        summary.append(
            f"- {model}, {epoch} epochs: {', '.join(parts)}; p = {cells['Welch p (Nish vs Mish)']}"
        )
    summary += notes
    summary.append(f"- Files: {md_path}, {csv_path}, {runs_csv}, {figure_path}")
    summary_path = report.write_summary(directory, summary, title=TITLE, config_name=config.name)
    return {
        "directory": directory,
        "runs": runs_csv,
        "table_md": md_path,
        "table_csv": csv_path,
        "figure": figure_path,
        "summary": summary_path,
    }


if __name__ == "__main__":
    report.run_with_absl(run, "experiments/configs/cifar10_table.py:<variant>")
