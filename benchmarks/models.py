"""Benchmark: the training step of each network with relu, silu, mish and nish, side by side.

    python -m benchmarks.models              # every image model, CIFAR + ImageNet-100
    python -m benchmarks.models --models resnet18 --sizes cifar
    python -m benchmarks.models --quick      # resnet18, CIFAR size, small batch

For each model and input size (CIFAR: 32x32, batch 128, the CIFAR stem; ImageNet-100: 224x224,
batch 32, the ImageNet stem) it compiles the engine's own training step
(:func:`nish_jax.train.steps.make_train_step`, one run, as the experiments train a seed: on-device
preprocessing with the augmentation of the table that trains at that size, forward, backward, SGD
update, BatchNorm statistics, divergence check) per activation, reports the compiled temporary
memory, and times the steps with the activations interleaved in every repeat (medians), as
images/s and as ratios to relu. Inputs are real CIFAR-10 test images (resized once, before the
step, to the ImageNet-100 size, which Table 2 reads its images at). Where torch and timm are
installed it also times timm's resnet18 (CIFAR stem, same batch, normalised images, no
augmentation, same threads) in eager mode and under torch.compile, and prints our throughput as a
ratio to it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import ml_collections
import numpy as np

from experiments.cifar10.configs import cifar10_table
from experiments.core import provenance
from experiments.imagenet100.configs import imagenet100_table
from nish_jax import get_activation
from nish_jax.data import Dataset
from nish_jax.models import get_spec, list_models
from nish_jax.train import get_config_defaults, sharding, validate_config
from nish_jax.train.components import (
    TrainingSetup,
    build_model,
    build_preprocess,
    build_setup,
    load_split,
)
from nish_jax.train.steps import make_train_step

ACTIVATIONS = ("relu", "silu", "mish", "nish")


@dataclass(frozen=True)
class InputSize:
    """One benchmark setting: image side, batch size, number of classes, the models' stem and
    the table config whose augmentation the step applies."""

    name: str
    side: int
    batch: int
    num_classes: int
    stem: str
    table_config: Callable[[str], ml_collections.ConfigDict]


SIZES = {
    "cifar": InputSize("cifar", 32, 128, 10, "cifar", cifar10_table.get_config),
    "imagenet100": InputSize("imagenet100", 224, 32, 100, "imagenet", imagenet100_table.get_config),
}


def image_models() -> list[str]:
    """Every registered model that takes RGB images."""
    return [name for name in list_models() if get_spec(name).input_shape[-1] == 3]


def bench_config(name: str, size: InputSize, act: str) -> ml_collections.ConfigDict:
    """The engine config of one benchmark step: one run of ``name`` with ``act`` on ``size.batch``
    CIFAR-10 images at ``size``, SGD (momentum 0.9), the table's augmentation."""
    config = get_config_defaults()
    config.dataset = "cifar10"
    config.train_subset = config.test_subset = size.batch
    config.model, config.act = name, act
    config.model_options = ml_collections.ConfigDict({"stem": size.stem})
    config.batch_size = size.batch
    config.optimizer, config.learning_rate, config.momentum = "sgd", 0.01, 0.9
    config.augmentation = size.table_config("paper").train.augmentation
    config.augmentation.image_size = size.side
    config.num_runs = 1
    validate_config(config, jax.device_count())
    return config


def _at_side(data: Dataset, side: int) -> Dataset:
    """``data`` with its images resized (bilinear, uint8) to ``side`` x ``side``."""
    if side == data.image_shape[0]:
        return data
    shape = (data.num_examples, side, side, data.image_shape[-1])
    images = jax.image.resize(np.asarray(data.images, np.float32), shape, "bilinear")
    images = np.asarray(np.clip(np.round(images), 0, 255), np.uint8)
    return dataclasses.replace(data, images=images, image_shape=shape[1:])


def bench_setup(config: ml_collections.ConfigDict, size: InputSize) -> TrainingSetup:
    """The engine's setup for ``config``, its test images at ``size`` and its model with
    ``size.num_classes`` outputs (the CIFAR-10 images stand in for ImageNet-100's)."""
    setup = build_setup(config, sharding.make_mesh())
    test_data = _at_side(setup.test_data, size.side)
    return dataclasses.replace(
        setup,
        test_data=test_data,
        model=build_model(config, size.num_classes),
        preprocess=build_preprocess(config, test_data),
    )


def _interleaved_medians(steps: dict[str, Callable[[], Any]], repeats: int, count: int) -> dict:
    """Median seconds per call of each step, the steps taking turns within every repeat."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, run in steps.items():
            start = time.perf_counter()
            for _ in range(count):
                run()
            samples[name].append((time.perf_counter() - start) / count)
    return {name: statistics.median(values) for name, values in samples.items()}


def bench_jax(
    name: str, size: InputSize, acts: tuple[str, ...], repeats: int, count: int
) -> dict[str, tuple[float, int]]:
    """(seconds per training step, compiled temporary bytes) of model ``name`` per activation."""
    runners, memory = {}, {}
    for act in acts:
        setup = bench_setup(bench_config(name, size, act), size)
        batch = sharding.batch_sharding(setup.mesh, runs_axis=True)
        images = sharding.to_global(setup.test_data.images[None], batch, 1)
        labels = sharding.to_global(setup.test_data.labels[None].astype(np.int32), batch, 1)
        step = make_train_step(
            setup.model, setup.preprocess, setup.schedule, label_smoothing=0.0, mesh=setup.mesh
        )
        state = {"now": setup.initial_state()}
        compiled = step.lower(state["now"], images, labels).compile()
        memory[act] = int(compiled.memory_analysis().temp_size_in_bytes)

        def run(compiled=compiled, state=state, images=images, labels=labels):
            state["now"], metrics = compiled(state["now"], images, labels)
            jax.block_until_ready((state["now"], metrics))

        run()  # warm-up
        runners[act] = run
    times = _interleaved_medians(runners, repeats, count)
    return {act: (times[act], memory[act]) for act in acts}


def _torch_nish_module():
    import torch

    class TorchNish(torch.nn.Module):
        """Nish in plain torch ops (autograd derives its backward)."""

        def __init__(self, inplace: bool = False) -> None:
            super().__init__()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.where(x >= 0, x, torch.sigmoid(x) * (x + torch.sin(x)))

    return TorchNish


def bench_torch(
    size: InputSize, acts: tuple[str, ...], repeats: int, count: int, compile_too: bool
) -> dict[str, dict[str, float]]:
    """Seconds per training step of timm's resnet18 (CIFAR stem), per mode and activation."""
    import timm
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    layers = {
        "relu": torch.nn.ReLU,
        "silu": torch.nn.SiLU,
        "mish": torch.nn.Mish,
        "nish": _torch_nish_module(),
    }
    data = _at_side(load_split(bench_config("resnet18", size, "relu"), "test"), size.side)
    images = (data.images / np.float32(255) - np.float32(data.mean)) / np.float32(data.std)
    inputs = torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    targets = torch.from_numpy(data.labels).long()
    modes = {"torch eager": lambda m: m}
    if compile_too:
        modes["torch.compile"] = torch.compile
    results: dict[str, dict[str, float]] = {}
    for mode, wrap in modes.items():
        runners = {}
        for act in acts:
            torch.manual_seed(0)
            model = timm.create_model(
                "resnet18", pretrained=False, num_classes=size.num_classes, act_layer=layers[act]
            )
            model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            model.maxpool = torch.nn.Identity()
            model.train()
            forward = wrap(model)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

            def run(forward=forward, optimizer=optimizer):
                optimizer.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(forward(inputs), targets).backward()
                optimizer.step()

            try:
                run()  # warm-up (and compilation)
            except Exception as error:  # torch.compile needs a working toolchain
                print(f"{mode} skipped: {type(error).__name__}: {str(error)[:200]}")
                break
            runners[act] = run
        else:
            results[mode] = _interleaved_medians(runners, repeats, count)
            measured = ", ".join(f"{a} {t * 1e3:.0f} ms/step" for a, t in results[mode].items())
            print(f"timm resnet18, {mode}: {measured}", flush=True)
    return results


def format_report(
    jax_results: dict[tuple[str, InputSize], dict[str, tuple[float, int]]],
    torch_results: dict[str, dict[str, float]],
    torch_size: InputSize,
    acts: tuple[str, ...],
) -> str:
    """Markdown tables: throughput and memory per model, size and activation (ratios to relu)."""
    base = "relu" if "relu" in acts else acts[0]
    lines = [
        "The engine's training step (preprocessing + forward + backward + SGD update): images/s "
        f"(step time / {base}'s), compiled temporary memory (/ {base}'s)",
        "",
        "| model | input | batch | " + " | ".join(acts) + " |",
        "|---|---|---|" + "---|" * len(acts),
    ]
    for (name, size), by_act in jax_results.items():
        time_cells = [
            f"{size.batch / by_act[a][0]:.1f} img/s ({by_act[a][0] / by_act[base][0]:.2f}x)"
            for a in acts
        ]
        memory_cells = [
            f"{by_act[a][1] / 2**20:.1f} MiB ({by_act[a][1] / max(by_act[base][1], 1):.2f}x)"
            for a in acts
        ]
        label = f"| {name} | {size.side}x{size.side} | {size.batch} | "
        lines.append(label + " | ".join(time_cells) + " |")
        lines.append(f"| {name} temp memory | | | " + " | ".join(memory_cells) + " |")
    ours = jax_results.get(("resnet18", torch_size))
    for mode, by_act in torch_results.items():
        batch = torch_size.batch
        cells = [f"{batch / by_act[a]:.1f} img/s ({by_act[a] / by_act[base]:.2f}x)" for a in acts]
        lines.append(
            f"| timm resnet18, {mode} | {torch_size.side}x{torch_size.side} | {batch} | "
            + " | ".join(cells)
            + " |"
        )
        if ours:
            ratios = [f"{by_act[a] / ours[a][0]:.2f}x" for a in acts]
            lines.append(f"| ours / {mode} throughput | | | " + " | ".join(ratios) + " |")
    lines += ["", *_targets(jax_results, torch_size, acts)]
    return "\n".join(lines)


def _targets(jax_results, cifar: InputSize, acts: tuple[str, ...]) -> list[str]:
    """The two targets, reported (not asserted): nish vs relu time, nish vs silu memory."""
    lines = []
    resnet = jax_results.get(("resnet18", cifar))
    if resnet and {"nish", "relu"} <= set(acts):
        ratio = resnet["nish"][0] / resnet["relu"][0]
        verdict = "met" if ratio <= 1.10 else "NOT met"
        lines.append(
            f"- nish/relu step time, resnet18 at CIFAR size: {ratio:.3f} (<= 1.10: {verdict})"
        )
    if {"nish", "silu"} <= set(acts):
        over = [
            f"{name} {size.name}"
            for (name, size), r in jax_results.items()
            if r["nish"][1] > r["silu"][1]
        ]
        verdict = "met on every model" if not over else "NOT met on " + ", ".join(over)
        lines.append(f"- nish temporary memory <= silu's: {verdict}")
    return lines


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", help="default: every image model")
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=sorted(SIZES))
    parser.add_argument("--acts", nargs="+", default=list(ACTIVATIONS), help="activations")
    parser.add_argument("--batch", type=int, help="override the batch size of every size")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats (median)")
    parser.add_argument("--steps", type=int, default=2, help="training steps per timing")
    parser.add_argument(
        "--no-torch", action="store_true", help="skip the timm comparison (made with resnet18)"
    )
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: resnet18 (unless --models), CIFAR size, batch 16, 2 repeats, 1 step, "
        "no torch.compile",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.models = args.models or ["resnet18"]
        args.sizes, args.repeats, args.steps, args.no_compile = ["cifar"], 2, 1, True
        args.batch = args.batch or 16
    valid = image_models()
    for name in args.models or []:
        if name not in valid:
            parser.error(f"unknown model {name!r}; valid models: {', '.join(valid)}")
    for act in args.acts:
        get_activation(act)
    if min(args.repeats, args.steps, args.batch or 1) < 1:
        parser.error("--repeats, --steps and --batch must be positive")
    sizes = {
        name: dataclasses.replace(size, batch=args.batch or size.batch)
        for name, size in SIZES.items()
    }
    acts = tuple(args.acts)

    print(provenance.machine_description())
    print(f"{len(os.sched_getaffinity(0))} CPU threads available")
    jax_results = {}
    for size_name in args.sizes:
        for name in args.models or valid:
            jax_results[name, sizes[size_name]] = bench_jax(
                name, sizes[size_name], acts, args.repeats, args.steps
            )
            measured = ", ".join(
                f"{act} {seconds * 1e3:.0f} ms/step {temp / 2**20:.1f} MiB"
                for act, (seconds, temp) in jax_results[name, sizes[size_name]].items()
            )
            print(f"{name} at {size_name} size: {measured}", flush=True)
    torch_results = {}
    if (
        not args.no_torch
        and ("resnet18", sizes["cifar"]) in jax_results
        and set(acts) <= set(ACTIVATIONS)
    ):
        try:
            torch_results = bench_torch(
                sizes["cifar"], acts, args.repeats, args.steps, not args.no_compile
            )
        except ImportError as error:
            print(f"torch comparison skipped: {error}")
    report = format_report(jax_results, torch_results, sizes["cifar"], acts)
    print(report)
    return report


if __name__ == "__main__":
    main()
