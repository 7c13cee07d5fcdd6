"""The paper's Table 2 on ImageNet-100: top-1 with Mish and with Nish, from scratch or fine-tuned.

    python -m experiments imagenet100_table --config=paper

Before training, the user's image folder is checked against the 100 classes of
experiments/imagenet100/classes.txt (a clear error names the missing and unexpected ones). The
fine-tuned networks start from timm ImageNet-1k weights: the checkpoint file is converted with
:func:`nish_jax.models.from_timm`, its 1000-class classifier dropped, and the rest saved as
``<output_root>/imagenet100_table/<config>/pretrained/<tag>.npz``, which the engine loads through
``config.init_from`` (each run then draws its own new 100-class classifier).

Outputs through :func:`experiments.core.report.publish` in
``<output_root>/imagenet100_table/<config>/``:
``runs.csv``, ``comparisons.csv`` (Nish against Mish per network, paired by seed), ``table.md``
(top-1 per network and activation beside the paper's), ``figure.png`` and ``summary.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections

from experiments.core import grid, report, stats
from experiments.paper import results as paper_results
from nish_jax.data import Dataset, load
from nish_jax.models import get_spec, load_timm_checkpoint
from nish_jax.train.pretrained import save_variables

EXPERIMENT = "imagenet100_table"
TITLE = "Table 2: ImageNet-100 top-1, Mish vs Nish"
CLASS_LIST = Path(__file__).with_name("classes.txt")
SPLITS = ("train", "val")
ACTIVATION_COLUMNS = ("mish", "nish")  # the paper's Table 2 columns, in this order


def class_list(path: str | os.PathLike = CLASS_LIST) -> list[str]:
    """The WordNet ids of ImageNet-100, in the list's order ('#' lines are comments)."""
    lines = [line.strip() for line in Path(path).read_text().splitlines()]
    wnids = [line for line in lines if line and not line.startswith("#")]
    if len(set(wnids)) != len(wnids):
        raise ValueError(f"{path}: repeated class ids")
    return wnids


def check_classes(dataset: Dataset, expected: Sequence[str]) -> None:
    """ValueError naming every missing and unexpected class folder of ``dataset``'s split."""
    found = set(dataset.class_names)
    missing = [wnid for wnid in expected if wnid not in found]
    extra = sorted(found - set(expected))
    if not missing and not extra:
        return
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} of the {len(expected)} ImageNet-100 classes are missing: "
            + ", ".join(missing)
        )
    if extra:
        problems.append(f"unexpected class folders: {', '.join(extra)}")
    raise ValueError(
        f"the ImageNet-100 {dataset.split} split at {dataset.source} does not match "
        f"{CLASS_LIST.name}: " + "; ".join(problems) + ". Its class folders must be exactly the "
        "100 WordNet ids listed there (the CMC ImageNet-100 subset)."
    )


def check_config(config: ml_collections.ConfigDict) -> None:
    """ValueError naming any network that is not one of the paper's Table 2 names."""
    report.check_spread(config.spread)
    unknown = [name for name in config.networks if name not in paper_results.TABLE2_MODELS]
    if unknown:
        raise ValueError(
            f"config.networks has {unknown}; valid: {', '.join(paper_results.TABLE2_MODELS)}"
        )


def check_data(config: ml_collections.ConfigDict) -> None:
    """Load both splits' file lists (no decoding) and check their classes against the list."""
    expected = class_list()
    for split in SPLITS:
        check_classes(load("imagenet100", split, data_dir=config.train.data_dir or None), expected)


def cached_timm_weights(tag: str, cache_dir: str | None = None) -> str | None:
    """The weight file of timm model ``tag`` in the Hugging Face cache, if it is there."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(f"timm/{tag}", filename, cache_dir=cache_dir)
        if isinstance(found, str):
            return found
    return None


def pretrained_file(config: ml_collections.ConfigDict, model: str, cache_dir: str | None = None):
    """The weight file for ``model``: ``config.pretrained.<model>`` or the Hugging Face cache."""
    tag = config.pretrained_tags[model]
    path = config.pretrained.get(model, "")
    if path:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"config.pretrained.{model}={path!r} does not exist")
        return path
    found = cached_timm_weights(tag, cache_dir)
    if found is None:
        raise FileNotFoundError(
            f"{model} starts from timm's ImageNet-1k weights {tag!r}, which are not available "
            f"offline. Provide them in one of two ways:\n"
            f"  - download https://huggingface.co/timm/{tag}/resolve/main/model.safetensors and "
            f"pass --config.pretrained.{model}=/path/to/model.safetensors (or a .pth state dict);\n"
            f'  - on a machine with network, run `python -c "import timm; '
            f"timm.create_model('{tag}', pretrained=True)\"` to fill the Hugging Face cache "
            "(HF_HOME / HF_HUB_CACHE) this machine reads."
        )
    return found


def convert_pretrained(model: str, weights: str, output: str) -> str:
    """Convert a timm checkpoint of ``model`` (:func:`nish_jax.models.load_timm_checkpoint`) and
    save it, classifier dropped, as ``output``."""
    _, variables = load_timm_checkpoint(model, weights)
    head = get_spec(model).classifier.replace(".", "_")
    backbone = {
        collection: {name: tree for name, tree in trees.items() if name != head}
        for collection, trees in variables.items()
    }
    os.makedirs(os.path.dirname(output), exist_ok=True)
    return save_variables(backbone, output)


def points(config: ml_collections.ConfigDict) -> list[grid.Point]:
    """Check the data's classes (``config.check_classes``), convert the pretrained weights once
    (into the result's ``pretrained/`` folder), then one point per network and activation."""
    if config.check_classes:
        check_data(config)
    results = report.results_dir(config.output_root, EXPERIMENT, config.name)
    pretrained_dir = os.path.join(results, "pretrained")
    found = []
    for name in config.networks:
        model = paper_results.TABLE2_MODELS[name]
        init_from = ""
        if model in config.pretrained_tags:
            init_from = os.path.join(pretrained_dir, f"{config.pretrained_tags[model]}.npz")
            if not os.path.exists(init_from):
                convert_pretrained(model, pretrained_file(config, model), init_from)
        for act in config.activations:
            train = ml_collections.ConfigDict(config.train.to_dict())
            train.model, train.act = model, act
            train.augmentation.image_size = config.image_size or get_spec(model).input_shape[0]
            if init_from:
                train.init_from = init_from
                train.learning_rate = config.finetune_learning_rate
            keys = {
                "network": name,
                "init": config.pretrained_tags[model] if init_from else "scratch",
            }
            found.append(grid.Point(keys, act, train))
    return found


def comparisons(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Nish against Mish per network, paired by seed; every network is primary."""
    return stats.compare_activations(
        runs,
        cell_keys=("network",),
        metric="test_top1_percent",
        higher_is_better=True,
        is_primary=lambda cell, baseline: True,
    )


def summary_lines(config, runs, compared, table: report.Table) -> list[str]:
    """The table's rows as lines, then its notes."""
    lines = [f"- {line[0]} ({line[1]}): " + ", ".join(map(str, line[2:])) for line in table.cells]
    return [*lines, *table.notes]


def make_table(
    config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]], compared
) -> report.Table:
    """One row per network: its initialisation, each activation's mean top-1 ± sd and the
    paper's, then Nish - Mish paired over seeds."""
    acts = list(config.activations)
    columns = report.beside_paper_columns(["Network", "Init"], acts, "top-1 (%)")
    cells, numeric = [], []
    for name in config.networks:
        mine = [r for r in runs if r["network"] == name]
        if not mine:
            continue
        line: list[Any] = [name, mine[0]["init"]]
        paper = [value for (model, _), value in paper_results.TABLE2.items() if model == name]
        for act in acts:
            summary = stats.summarize(
                grid.values_of(runs, "test_top1_percent", network=name, activation=act)
            )
            diverged, total = grid.diverged_count(runs, network=name, activation=act)
            text = report.format_mean_spread(summary, config.spread)
            line.append(text + (f" ({diverged} of {total} diverged)" if diverged else ""))
            known = paper and act in ACTIVATION_COLUMNS
            line.append(f"{paper[0][ACTIVATION_COLUMNS.index(act)]:.2f}" if known else "-")
            numeric.append(
                {
                    "network": name,
                    "activation": act,
                    "runs": total,
                    "diverged": diverged,
                    "mean": summary.mean,
                    "std": summary.std,
                }
            )
        line += report.versus(compared, cell=stats.cell_name({"network": name}), baseline="mish")
        cells.append(line)
    return report.Table(columns, cells, numeric, protocol_notes(config))


def protocol_notes(config: ml_collections.ConfigDict) -> list[str]:
    train = config.train
    subset = (
        f"train subset {train.train_subset}, val subset {train.test_subset}"
        if train.train_subset or train.test_subset
        else "full train and val splits"
    )
    size = f"{config.image_size}x{config.image_size}" if config.image_size else "native"
    return [
        f"- Scale: {train.num_runs} paired seeds per cell, {train.num_epochs} epochs, {subset}, "
        f"image size {size}, {train.optimizer} lr {train.learning_rate} from scratch and "
        f"{config.finetune_learning_rate} fine-tuning ({train.schedule}), batch "
        f"{train.batch_size}, flips h={train.augmentation.hflip} v={train.augmentation.vflip}.",
        f"- top-1: mean {report.SPREADS[config.spread]} of the last epoch's top-1 on the val "
        "split; Nish - Mish: paired mean difference with its 95% CI; p: paired t-test, "
        "Holm-adjusted over the networks (the primary endpoint).",
        "- Class list check: "
        + (
            "exactly the 100 classes of imagenet100_classes.txt."
            if config.check_classes
            else "OFF (smoke/test data, not ImageNet-100)."
        ),
        f"- Paper: {paper_results.SOURCE}, top-1 (%) (runs per cell not stated).",
    ]


def measurement(config: ml_collections.ConfigDict) -> grid.Measurement:
    """Each run's test metrics after the last epoch."""
    return grid.at_epochs([config.train.num_epochs])


def make_figure(config: ml_collections.ConfigDict, runs: Sequence[Mapping[str, Any]], compared):
    """Top-1 per network and activation: each seed as a dot, paired seeds joined."""
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(1.8 * max(2, len(config.networks)) + 2, 3.6))
    for index, name in enumerate(config.networks):
        for offset, act in enumerate(config.activations):
            values = grid.values_of(runs, "test_top1_percent", network=name, activation=act)
            x = index + 0.3 * (offset - (len(config.activations) - 1) / 2)
            ax.scatter(
                [x] * len(values),
                values,
                s=12,
                label=act if index == 0 else None,
                color=f"C{offset}",
            )
    ax.set_xticks(range(len(config.networks)), config.networks)
    ax.set_ylabel("top-1 (%)")
    ax.legend(fontsize=8)
    ax.set_title(report.label(TITLE, config.name), fontsize=9)
    return figure
