"""The paper's Table 2 on ImageNet-100: top-1 with Mish and with Nish, from scratch or fine-tuned.

    python -m experiments.imagenet100_table --config experiments/configs/imagenet100_table.py:paper

Before training, the user's image folder is checked against the 100 classes of
experiments/imagenet100_classes.txt (a clear error names the missing and unexpected ones). The
fine-tuned networks start from timm ImageNet-1k weights: the checkpoint file is converted with
:func:`nish_jax.models.from_timm`, its 1000-class classifier dropped, and the rest saved as
``results/imagenet100_table/<config>/pretrained/<tag>.npz``, which the engine loads through
``config.init_from`` (each run then draws its own new 100-class classifier).

Outputs in ``results/imagenet100_table/<config>/``: ``runs.csv``, ``table.md``/``table.csv``
(top-1 per network and activation, 95% CI, Welch p-value of Nish against Mish, the paper's value
beside ours), ``summary.md`` (printed at the end); each job's history in ``runs/<net>-<act>/``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from experiments import paper_results, report
from nish_jax.data import Dataset, load
from nish_jax.models import from_timm, get_spec
from nish_jax.train import read_rows, train_and_evaluate
from nish_jax.train.pretrained import save_variables

EXPERIMENT = "imagenet100_table"
TITLE = "Table 2: ImageNet-100 top-1, Mish vs Nish"
CLASS_LIST = Path(__file__).with_name("imagenet100_classes.txt")
SPLITS = ("train", "val")


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


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """A PyTorch state dict from a .safetensors file (no torch needed) or a .pth/.pt/.bin file."""
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file

        return load_file(path)
    if path.endswith((".pth", ".pt", ".bin")):
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        return {key: value.numpy() for key, value in state.items()}
    raise ValueError(f"unknown weight file type {path!r}; valid: .safetensors, .pth, .pt, .bin")


def convert_pretrained(model: str, weights: str, output: str) -> str:
    """Convert a timm checkpoint of ``model`` and save it, classifier dropped, as ``output``."""
    variables = from_timm(model, read_state_dict(weights))
    head = get_spec(model).classifier.replace(".", "_")
    backbone = {
        collection: {name: tree for name, tree in trees.items() if name != head}
        for collection, trees in variables.items()
    }
    os.makedirs(os.path.dirname(output), exist_ok=True)
    return save_variables(backbone, output)


def job_config(
    config: ml_collections.ConfigDict, model: str, act: str, init_from: str
) -> ml_collections.ConfigDict:
    """The engine config of one network and activation."""
    train = ml_collections.ConfigDict(config.train.to_dict())
    train.model = model
    train.act = act
    train.augmentation.image_size = config.image_size or get_spec(model).input_shape[0]
    if init_from:
        train.init_from = init_from
        train.learning_rate = config.finetune_learning_rate
    return train


def run_jobs(config: ml_collections.ConfigDict, directory: str) -> list[dict[str, Any]]:
    """Convert the pretrained weights, then train (or resume) every network and activation."""
    rows = []
    for model in config.models:
        init_from = ""
        if model in config.pretrained_tags:
            tag = config.pretrained_tags[model]
            init_from = os.path.join(directory, "pretrained", f"{tag}.npz")
            if not os.path.exists(init_from):
                convert_pretrained(model, pretrained_file(config, model), init_from)
        for act in config.activations:
            workdir = os.path.join(directory, "runs", f"{model}-{act}")
            train = job_config(config, model, act, init_from)
            print(f"== {model} with {act} ({'fine-tuned' if init_from else 'scratch'})", flush=True)
            train_and_evaluate(train, workdir)
            for row in read_rows(workdir, "epochs"):
                rows.append(
                    {
                        "config": config.name,
                        "model": model,
                        "activation": act,
                        "init": config.pretrained_tags[model] if init_from else "scratch",
                        "image_size": train.augmentation.image_size,
                        "epoch": row["epoch"],
                        "run": row["run"],
                        "seed": train.seed + row["run"],
                        "in_table": row["epoch"] == train.num_epochs,
                        "top1_percent": 100.0 * row["test_top1"],
                        "top5_percent": 100.0 * row["test_top5"],
                        "test_loss": row["test_loss"],
                        "train_top1_percent": 100.0 * row["train_top1"],
                        "train_loss": row["train_loss"],
                    }
                )
    return rows


def _top1(rows: Sequence[Mapping[str, Any]], model: str, act: str) -> list[float]:
    return [
        r["top1_percent"]
        for r in rows
        if r["in_table"] and (r["model"], r["activation"]) == (model, act)
    ]


def table(
    rows: Sequence[Mapping[str, Any]], config: ml_collections.ConfigDict
) -> tuple[list[str], list[list[Any]]]:
    """One row per network: its initialisation, each activation's mean top-1 (and its 95% CI
    over runs), the Welch p-value of Nish against Mish, and the paper's top-1 per activation."""
    acts = list(config.activations)
    names = [act.capitalize() for act in acts]
    columns = ["Network", "Init", *[f"{n} top-1 (%)" for n in names]]
    columns += [f"{n} 95% CI" for n in names]
    columns += ["Welch p (Nish vs Mish)", *[f"Paper {n} top-1 (%)" for n in names]]
    lines = []
    for model in config.models:
        init = next(r["init"] for r in rows if r["model"] == model)
        top1 = {act: _top1(rows, model, act) for act in acts}
        stats = {act: report.summarize(top1[act]) for act in acts}
        cells: list[Any] = [model, init]
        cells += [round(stats[act].mean, 2) for act in acts]
        for act in acts:
            s = stats[act]
            ci = math.isnan(s.ci_half_width)
            cells.append("n/a" if ci else f"[{s.ci_low:.2f}, {s.ci_high:.2f}]")
        if {"mish", "nish"} <= set(acts):
            p = report.welch_p_value(top1["nish"], top1["mish"])
            cells.append("n/a (needs 2+ runs each)" if math.isnan(p) else f"{p:.3g}")
        else:
            cells.append("n/a (needs mish and nish)")
        cells += [paper_results.imagenet100_cell(model, act) for act in acts]
        lines.append(cells)
    return columns, lines


def protocol_notes(config: ml_collections.ConfigDict) -> list[str]:
    train = config.train
    subset = (
        f"train subset {train.train_subset}, val subset {train.test_subset}"
        if train.train_subset or train.test_subset
        else "full train and val splits"
    )
    size = f"{config.image_size}x{config.image_size}" if config.image_size else "native"
    return [
        f"- Config `{config.name}`: {train.num_runs} runs per cell (seeds {train.seed}.."
        f"{train.seed + train.num_runs - 1}), {train.num_epochs} epochs, {subset}, image size "
        f"{size}, {train.optimizer} lr {train.learning_rate} from scratch and "
        f"{config.finetune_learning_rate} fine-tuning ({train.schedule}), batch "
        f"{train.batch_size}, flips h={train.augmentation.hflip} v={train.augmentation.vflip}.",
        "- top-1: mean over runs of the last epoch's top-1 on the val split; 95% CI: Student-t "
        "interval of the mean; p: two-sided Welch t-test of Nish's against Mish's top-1.",
        "- Class list check: "
        + (
            "exactly the 100 classes of imagenet100_classes.txt."
            if config.check_classes
            else "OFF (smoke/test data, not ImageNet-100)."
        ),
        f"- Paper values: {paper_results.SOURCE}; '{paper_results.NOT_AVAILABLE}' where the "
        "paper's full text could not be read offline (none invented).",
    ]


def run(config: ml_collections.ConfigDict) -> dict[str, str]:
    """Check the data, train every job and write runs.csv, the table and the summary."""
    if config.check_classes:
        check_data(config)
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
    summary = []
    for line in lines:
        cells = dict(zip(columns, line, strict=True))
        parts = [f"{a} {cells[f'{a.capitalize()} top-1 (%)']}%" for a in config.activations]
        summary.append(
            f"- {line[0]} ({line[1]}): {', '.join(parts)}; p = {cells['Welch p (Nish vs Mish)']}"
        )
    summary += notes
    summary.append(f"- Files: {md_path}, {csv_path}, {runs_csv}")
    summary_path = report.write_summary(directory, summary, title=TITLE, config_name=config.name)
    return {
        "directory": directory,
        "runs": runs_csv,
        "table_md": md_path,
        "table_csv": csv_path,
        "summary": summary_path,
    }


if __name__ == "__main__":
    report.run_with_absl(run, "experiments/configs/imagenet100_table.py:<variant>")
