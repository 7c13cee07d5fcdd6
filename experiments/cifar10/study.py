"""CIFAR-10 with statistical power: every activation on a fast recipe, many paired seeds each.

    python -m experiments cifar10_study --config=gpu
    python -m experiments cifar10_study --config=cpu

The paper's Table 1 claims Nish is slightly better than Mish on CIFAR-10 (gaps of -1.29 to +0.42
points, 10 unpaired runs per cell). Here each activation trains ``config.num_seeds`` runs of the
airbench94 recipe (:mod:`experiments.cifar10.airbench_recipe`; every nonlinearity is the
activation under
test), seed s giving every activation the same initial weights, data order and augmentation, and
Nish is compared with each other activation pair by pair, with the smallest difference the
comparison could detect at 80% power, so that a null result says how small an effect it excludes.

The data stays on the device; each activation's programs compile once. Outputs through
:func:`experiments.core.report.publish` in ``<output_root>/cifar10_study/<config.name>/``:
``runs.csv``
(one row per activation and seed: accuracies with and without test-time augmentation, test loss,
final training loss, epoch times), ``comparisons.csv`` (Nish against each activation, primary
endpoint: test accuracy with TTA), ``table.md``/``table.csv`` (with the minimum detectable
differences), ``figure.png`` and ``summary.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.cifar10.airbench_recipe import (
    DeviceData,
    Programs,
    Recipe,
    put_on_device,
    train_seeds,
)
from experiments.cifar10.configs.cifar10_study import AIRBENCH94
from experiments.core import provenance, report, stats
from experiments.core.records import RecordKey, RecordStore
from experiments.paper import results as paper_results
from nish_jax.activations import get_activation
from nish_jax.data import load
from nish_jax.train import machine

EXPERIMENT = "cifar10_study"
TITLE = "CIFAR-10 study: activations on the airbench94 recipe, paired seeds"
REFERENCE = "nish"
METRIC = "test_top1_percent"
# The numbers of Nish's comparison with an activation that its table.csv row repeats.
COMPARISON_NUMBERS = (
    "n_pairs", "mean_diff", "ci_low", "ci_high", "p_paired_t", "p_holm", "p_wilcoxon", "d_z",
)  # fmt: skip
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# airbench94 on the official CIFAR-10 binaries (GELU, PyTorch fp16, one A100): mean TTA accuracy
# over 1000 runs, as its source states.
ANCHOR_ACCURACY = 94.01


def check_config(config: ml_collections.ConfigDict) -> None:
    """Check the keys a typo would make meaningless."""
    report.check_spread(config.spread)
    if config.compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(
            f"config.compute_dtype={config.compute_dtype!r}; valid: {', '.join(COMPUTE_DTYPES)}"
        )
    if not config.activations:
        raise ValueError("config.activations is empty; name at least one, e.g. ('mish', 'nish')")
    for act in config.activations:
        get_activation(act)
    if config.num_seeds < 1 or config.seeds_per_program < 1:
        raise ValueError(
            f"config.num_seeds={config.num_seeds} and config.seeds_per_program="
            f"{config.seeds_per_program} must be positive"
        )
    if config.num_seeds % config.seeds_per_program:
        raise ValueError(
            f"config.seeds_per_program={config.seeds_per_program} must divide "
            f"config.num_seeds={config.num_seeds} (every program has the same shape)"
        )
    recipe_of(config)


def recipe_of(config: ml_collections.ConfigDict) -> Recipe:
    """The config's recipe (a TypeError names an unknown recipe key)."""
    return Recipe(**{**config.recipe.to_dict(), "widths": tuple(config.recipe.widths)})


def load_data(
    config: ml_collections.ConfigDict, recipe: Recipe
) -> tuple[DeviceData, tuple[str, ...]]:
    """Both splits of CIFAR-10 (or class-balanced subsets) on the device, in a fixed shuffled
    order (the shared copy is stored class by class; the whitening kernel comes from the first
    training images), and where they came from (the splits' Dataset sources)."""
    splits, sources = [], []
    for name, count in (("train", config.train_subset), ("test", config.test_subset)):
        split = load("cifar10", name)
        sources.append(split.source)
        split = split.subset(count) if count else split
        order = np.random.default_rng(0).permutation(split.num_examples)
        splits.append((split.images[order], split.labels[order]))
    device_data = put_on_device(splits[0], splits[1], split.mean, split.std, recipe)
    return device_data, tuple(sources)


def is_official(source: str) -> bool:
    """Whether ``source`` (a Dataset's) is the official CIFAR-10, not an image-folder copy."""
    return "cifar-10-batches-py" in source or source.startswith("tfds:")


def data_note(runs: Sequence[Mapping[str, Any]]) -> str:
    """Which CIFAR-10 the runs used: the official binaries or the shared JPEG copy."""
    if all(row["dataset"] == "cifar10" for row in runs):
        return "Data: the official CIFAR-10."
    return (
        "Data: an image-folder copy of CIFAR-10, the project's shared JPEG copy (quality about "
        "75), so accuracies are close to, not identical with, accuracies on the official "
        "binaries."
    )


def train_study(
    config: ml_collections.ConfigDict,
    recipe: Recipe,
    data: DeviceData,
    dataset: str,
    data_identity: str,
) -> list[dict[str, Any]]:
    """Every run of the study, one row each: seed groups (``config.seeds_per_program`` seeds
    trained side by side) in order, every activation within a group, so that a study stopped
    part way leaves complete pairs of seeds to compare.

    Each finished run's row is kept in the records store (:mod:`experiments.core.records`),
    keyed by everything that changes its computation, the content of its data (``data_identity``)
    and the device kind, so a stopped study continues where it stopped and a changed one never
    reuses a run of other settings. Each activation's programs compile once, and only if one of
    its runs is missing. It first says how many runs are recorded."""
    store = RecordStore(config.output_root)
    seeds = list(range(config.seed, config.seed + config.num_seeds))
    keys = {
        (act, seed): record_key(config, act, dataset, seed, data_identity)
        for seed in seeds
        for act in config.activations
    }
    done = sum(map(store.has, keys.values()))
    print(
        f"cifar10 study [{config.name}]: {done} of {len(keys)} runs recorded in "
        f"{store.directory}; {len(keys) - done} to run",
        flush=True,
    )
    programs: dict[str, Programs] = {}
    rows = []
    for start in range(0, len(seeds), config.seeds_per_program):
        group = seeds[start : start + config.seeds_per_program]
        for act in config.activations:
            recorded = [store.get(keys[act, seed]) for seed in group]
            if all(recorded):
                rows += [record["row"] for record in recorded]
                continue
            if act not in programs:
                dtype = COMPUTE_DTYPES[config.compute_dtype]
                programs[act] = Programs(get_activation(act), recipe, data, dtype)
            for result in train_seeds(programs[act], group, data):
                rows.append(run_row(act, dataset, len(group), result))
                store.put(keys[act, result["seed"]], {"row": rows[-1]})
                print(
                    f"{act} seed {result['seed']}: {rows[-1][METRIC]:.2f}% "
                    f"({sum(result['epoch_seconds']):.0f} s)",
                    flush=True,
                )
    order = {act: i for i, act in enumerate(config.activations)}
    return sorted(rows, key=lambda row: (order[row["activation"]], row["seed"]))


def record_key(
    config: ml_collections.ConfigDict, act: str, dataset: str, seed: int, data_identity: str
) -> RecordKey:
    """One run's key in the records store: its program is named by a hash of its computation."""
    computation = {
        "recipe": config.recipe.to_dict(),
        "train_subset": config.train_subset,
        "test_subset": config.test_subset,
        "compute_dtype": config.compute_dtype,
        "seeds_per_program": config.seeds_per_program,
        "dataset": dataset,
    }
    digest = hashlib.sha256(json.dumps(computation, sort_keys=True, default=list).encode())
    return RecordKey(
        program=f"{EXPERIMENT}-{act}-seed{seed}-{digest.hexdigest()[:10]}",
        data=data_identity,
        init="",
        device=provenance.device_kind(),
    )


def run_row(act: str, dataset: str, group_size: int, result: Mapping[str, Any]) -> dict:
    """One runs.csv row; a run with a non-finite loss or output is diverged, its metrics NaN."""
    metrics = {
        "test_top1_percent": 100 * result["test_top1"],
        "test_top1_no_tta_percent": 100 * result["test_top1_no_tta"],
        "test_loss": result["test_loss"],
        "final_train_loss": result["train_losses"][-1],
    }
    diverged = not all(math.isfinite(v) for v in [*metrics.values(), *result["train_losses"]])
    if diverged:
        metrics = dict.fromkeys(metrics, math.nan)
    epochs = result["epoch_seconds"]
    return {
        "dataset": dataset,
        "device": jax.devices()[0].device_kind,
        "trained_on": machine.computed_on(jax.devices()),
        "activation": act,
        "seed": result["seed"],
        "diverged": diverged,
        **metrics,
        "seeds_in_program": group_size,
        "first_epoch_seconds": epochs[0],  # includes compiling for an activation's first group
        "later_epoch_seconds": float(np.median(epochs[1:])) if len(epochs) > 1 else math.nan,
        "train_seconds": sum(epochs),
        "evaluate_seconds": result["evaluate_seconds"],
    }


def detectable_differences(
    runs: Sequence[Mapping[str, Any]], compared: Sequence[Mapping[str, Any]]
) -> dict[str, tuple[float, float]]:
    """Per baseline: the standard deviation of the paired differences (Nish - baseline) and the
    smallest true difference a paired t-test would detect with 80% power at that spread."""
    by_run = {(row["activation"], row["seed"]): row[METRIC] for row in runs}
    found = {}
    for row in compared:
        baseline = row["baseline"]
        seeds = sorted(seed for act, seed in by_run if act == REFERENCE)
        diffs = np.array([by_run[REFERENCE, s] - by_run[baseline, s] for s in seeds])
        diffs = diffs[np.isfinite(diffs)]
        sd = float(diffs.std(ddof=1)) if diffs.size > 1 else math.nan
        found[baseline] = (sd, stats.minimum_detectable_difference(sd, int(diffs.size)))
    return found


def _values(runs: Sequence[Mapping[str, Any]], act: str, key: str) -> list[float]:
    return [row[key] for row in runs if row["activation"] == act]


def _format(value: float, template: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else template.format(value)


def comparisons(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Nish against every other activation, paired by seed; all primary."""
    return stats.compare_activations(
        runs,
        cell_keys=("dataset",),
        metric=METRIC,
        higher_is_better=True,
        reference=REFERENCE,
        is_primary=lambda cell, baseline: True,
    )


def make_table(
    config: ml_collections.ConfigDict,
    runs: Sequence[Mapping[str, Any]],
    compared: Sequence[Mapping[str, Any]],
) -> report.Table:
    """One row per activation: accuracy with and without TTA, and Nish's paired comparison with
    it: mean difference, 95% CI, p-values, d_z and the minimum detectable difference."""
    detectable = detectable_differences(runs, compared)
    columns = [
        "Activation",
        "Runs finished",
        "TTA accuracy (%)",
        "No-TTA accuracy (%)",
        "Nish - act (points) [95% CI]",
        "p paired t / Holm",
        "p Wilcoxon",
        "d_z",
        "MDE at 80% power (points)",
        "Train s/run",
    ]
    by_baseline = {row["baseline"]: row for row in compared}
    cells, numeric = [], []
    for act in config.activations:
        accuracy = stats.summarize(_values(runs, act, METRIC))
        plain = stats.summarize(_values(runs, act, "test_top1_no_tta_percent"))
        seconds = float(np.mean(_values(runs, act, "train_seconds")))
        line = [
            act,
            f"{accuracy.n} of {len(_values(runs, act, METRIC))}",
            report.format_mean_spread(accuracy, config.spread),
            report.format_mean_spread(plain, config.spread),
        ]
        row = {
            "activation": act,
            "runs": len(_values(runs, act, METRIC)),
            "finished": accuracy.n,
            "tta_mean": accuracy.mean,
            "tta_std": accuracy.std,
            "tta_ci_half_width": accuracy.ci_half_width,
            "no_tta_mean": plain.mean,
            "train_seconds_mean": seconds,
        }
        comparison = by_baseline.get(act)
        if comparison:
            sd, mde = detectable[act]
            line += [
                report.format_interval(comparison),
                f"{_format(comparison['p_paired_t'], '{:.3g}')} / "
                f"{_format(comparison['p_holm'], '{:.3g}')}",
                _format(comparison["p_wilcoxon"], "{:.3g}"),
                _format(comparison["d_z"], "{:+.2f}"),
                _format(mde, "{:.2f}"),
            ]
            row.update(
                {key: comparison[key] for key in COMPARISON_NUMBERS},
                sd_of_differences=sd,
                mde_80_power=mde,
            )
        else:
            line += ["reference" if act == REFERENCE else "-"] + ["-"] * 4
        line.append(f"{seconds:.0f}")
        cells.append(line)
        numeric.append(row)
    notes = [
        f"- Accuracy: test top-1 (%), mean {report.SPREADS[config.spread]} over "
        f"{config.num_seeds} seeds; TTA: the recipe's 6-view test-time augmentation (the primary "
        "endpoint), No-TTA: the plain test image.",
        "- Nish - act: mean over seeds of Nish's TTA accuracy minus the activation's on the same "
        "seed, with its 95% t interval; p: paired t-test (Holm-adjusted over the comparisons) and "
        "Wilcoxon signed-rank; d_z: mean difference over the standard deviation of the "
        "differences.",
        "- MDE: the true mean difference a two-sided paired t-test at level 0.05 detects with 80% "
        "power, given the observed spread of the paired differences and the number of pairs. A "
        "difference below it is not ruled out by a non-significant result.",
        "- Train s/run: wall time of a run's training, the first run of each activation "
        "including compilation.",
        f"- {data_note(runs)}",
    ]
    return report.Table(columns, cells, numeric, notes)


def make_figure(
    config: ml_collections.ConfigDict,
    runs: Sequence[Mapping[str, Any]],
    compared: Sequence[Mapping[str, Any]],
):
    """Left: every run's TTA accuracy per activation (mean and spread); right: Nish minus each
    activation with its 95% CI, the band at +-MDE (differences a null result does not exclude)."""
    detectable = detectable_differences(runs, compared)
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    acts = list(config.activations)
    for x, act in enumerate(acts):
        values = np.array(_values(runs, act, METRIC), float)
        finished = values[np.isfinite(values)]
        jitter = np.linspace(-0.15, 0.15, len(finished)) if len(finished) > 1 else [0.0]
        left.scatter(x + np.asarray(jitter), finished, s=12, alpha=0.6)
        summary = stats.summarize(finished)
        width = report.spread_width(summary, config.spread)
        if summary.n:
            left.errorbar(x + 0.3, summary.mean, yerr=0 if math.isnan(width) else width, fmt="o",
                          color="black", capsize=3)  # fmt: skip
    left.set_xticks(range(len(acts)), acts)
    left.set_ylabel("test accuracy with TTA (%)")
    left.set_title(f"runs (black: mean, {report.SPREADS[config.spread]})", fontsize=9)
    left.grid(alpha=0.3)
    for y, row in enumerate(compared):
        low, high = row["ci_low"], row["ci_high"]
        mde = detectable[row["baseline"]][1]
        if math.isfinite(mde):
            right.fill_betweenx([y - 0.3, y + 0.3], -mde, mde, color="tab:gray", alpha=0.25)
        if math.isfinite(low):
            right.plot([low, high], [y, y], color="tab:blue")
        right.plot(row["mean_diff"], y, "o", color="tab:blue")
    right.axvline(0, color="black", linewidth=0.8)
    right.set_yticks(range(len(compared)), [f"nish - {row['baseline']}" for row in compared])
    right.set_xlabel("paired difference in TTA accuracy (points)")
    right.set_title("mean and 95% CI; grey: +-MDE at 80% power", fontsize=9)
    right.grid(alpha=0.3)
    figure.suptitle(report.label(TITLE, config.name, "\n"), fontsize=9)
    return figure


def paper_gap_range() -> tuple[float, float]:
    """The smallest and largest Nish - Mish gap in the paper's Table 1 (points)."""
    gaps = [
        paper_results.TABLE1[network, "nish", epochs].accuracy
        - paper_results.TABLE1[network, "mish", epochs].accuracy
        for network in paper_results.TABLE1_NETWORKS
        for epochs in paper_results.TABLE1_EPOCHS
    ]
    return min(gaps), max(gaps)


def scale(config: ml_collections.ConfigDict) -> str:
    """The protocol and scale of a study, in one line (its summary and the README say it)."""
    recipe = recipe_of(config)
    return (
        f"airbench94 recipe, widths {'/'.join(map(str, recipe.widths))}, "
        f"{recipe.train_epochs} epochs of batch {recipe.batch_size}, "
        f"{config.train_subset or 'all 50,000'} training and {config.test_subset or 'all 10,000'} "
        f"test images, {config.compute_dtype} compute, {config.num_seeds} paired seeds "
        f"({config.seed}..{config.seed + config.num_seeds - 1}) per activation, every "
        "nonlinearity the activation under test"
    )


def summary_lines(
    config: ml_collections.ConfigDict,
    runs: Sequence[Mapping[str, Any]],
    compared: Sequence[Mapping[str, Any]],
    table: report.Table,
) -> list[str]:
    recipe = recipe_of(config)
    detectable = detectable_differences(runs, compared)
    low, high = paper_gap_range()
    lines = [
        f"- Protocol: {scale(config)}.",
        f"- Primary endpoint: {config.primary}; Nish minus each activation, paired by seed, "
        "Holm-adjusted:",
    ]
    for row in compared:
        sd, mde = detectable[row["baseline"]]
        if row["p_holm"] < 0.05:
            verdict = "significant"
        elif math.isfinite(mde):
            verdict = (
                f"not significant; a true gap of {mde:.2f} points or more would have been "
                "detected with 80% power"
            )
        else:
            verdict = "not significant (too few pairs for a minimum detectable difference)"
        lines.append(
            f"  - vs {row['baseline']}: {report.format_interval(row)} points [95% CI], "
            f"p_holm {_format(row['p_holm'], '{:.3g}')} (n = {row['n_pairs']}): {verdict}."
        )
    lines.append(
        f"- The paper's Table 1 gaps (Nish - Mish) range from {low:+.2f} to {high:+.2f} points "
        f"({paper_results.RUNS_PER_CELL} unpaired runs per cell, {paper_results.SOURCE})."
    )
    train = [row["train_seconds"] for row in runs]
    later = [row["later_epoch_seconds"] for row in runs]
    lines += [
        f"- {data_note(runs)}",
        f"- {anchor_note(config, recipe, runs)}",
        f"- Time on {runs[0]['device']}: {sum(train):.0f} s of training for {len(runs)} runs "
        f"({np.mean(train):.1f} s per run, an epoch after the first {np.median(later):.2f} s; "
        "the first epoch of each activation includes compiling).",
    ]
    return lines


def anchor_note(
    config: ml_collections.ConfigDict, recipe: Recipe, runs: Sequence[Mapping[str, Any]]
) -> str:
    """GELU against airbench94's published accuracy, when this is the full recipe."""
    full = recipe == Recipe(**AIRBENCH94) and not config.train_subset and not config.test_subset
    if not full or "gelu" not in config.activations:
        return (
            f"Anchor: airbench94 reaches {ANCHOR_ACCURACY}% with GELU on the official binaries; "
            "this config is not the full recipe with GELU, so the cost of the JPEG copy is "
            "measured by the gpu variant."
        )
    gelu = stats.summarize(_values(runs, "gelu", METRIC))
    return (
        f"Anchor: GELU here {report.format_mean_spread(gelu, config.spread)}% against "
        f"airbench94's {ANCHOR_ACCURACY}% (1000 runs, official binaries, PyTorch fp16 on an "
        f"A100): the JPEG copy and this port together account for "
        f"{gelu.mean - ANCHOR_ACCURACY:+.2f} points."
    )


def train(config: ml_collections.ConfigDict) -> list[dict[str, Any]]:
    """Every activation's seeds, trained or read from the records store."""
    recipe = recipe_of(config)
    data, sources = load_data(config, recipe)
    dataset = "cifar10" if is_official(sources[-1]) else "cifar10 (JPEG copy)"
    return train_study(config, recipe, data, dataset, provenance.content_digest(sources))
