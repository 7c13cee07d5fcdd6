"""Benchmark of the CIFAR-10 study's recipe: JAX against PyTorch on a CPU, the whole study on an
accelerator.

    python -m benchmarks.study                # CPU: JAX vs PyTorch, side by side
    python -m benchmarks.study --gpu          # accelerator: the gpu variant, timed

On a CPU (the default there): the training step of the recipe (the batch's crop and flip,
forward, backward, Nesterov SGD with its two parameter groups, the lookahead every 5 steps) on
real CIFAR-10 batches, in JAX (:class:`experiments.cifar10.airbench_recipe.Programs`,
compiled) and in
PyTorch (the same network and step in eager ``torch.nn``; its Nish is the textbook formula), timed
in alternation: each repeat times ``--steps`` steps of one, then of the other, per activation.
Prints the medians as images/s and the JAX/PyTorch ratio.

With ``--gpu`` (the default on an accelerator): first the same steps (with the variant's first
activation) for one seed and for a group of seeds trained side by side (vmapped), then the whole
study variant through ``run(config)``, with its wall time including data loading and compilation
(target for the ``gpu`` variant: 8 minutes on one H200).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.cifar10 import study as cifar10_study
from experiments.cifar10.airbench import BN_EPSILON, BN_MOMENTUM, LOGIT_SCALE, WHITENING_SIZE
from experiments.cifar10.airbench_recipe import DeviceData, Programs, Recipe
from experiments.cifar10.configs.cifar10_study import get_config
from experiments.core import experiment, provenance
from nish_jax.activations import get_activation

VMAPPED_SEEDS = 4  # the group size measured against one seed at a time
WARM_UP_STEPS = 3  # untimed: JAX compiles, PyTorch's first steps are slow too


def jax_stepper(act: str, recipe: Recipe, data: DeviceData, dtype, seeds: int):
    """``steps -> None``: that many training steps of ``seeds`` runs side by side (compiled)."""
    programs = Programs(get_activation(act), recipe, data, dtype)
    seed_array = jnp.arange(seeds, dtype=jnp.int32)
    states = programs.init(seed_array)
    plans = programs.plan(seed_array, jnp.int32(0), data)

    def steps(count: int) -> None:
        nonlocal states
        for index in range(count):
            index = jnp.int32(index % programs.steps_per_epoch)
            states, loss = programs.step(states, plans, index, jnp.int32(0), data)
        jax.block_until_ready(loss)

    return steps


def torch_stepper(act: str, recipe: Recipe, data: DeviceData):
    """``steps -> None``: the same training steps in PyTorch (CPU, eager)."""
    import torch
    from torch import nn
    from torch.nn import functional

    activations = {
        "relu": functional.relu,
        "silu": functional.silu,
        "gelu": functional.gelu,
        "mish": functional.mish,
        "nish": lambda x: torch.where(x >= 0, x, torch.sigmoid(x) * (x + torch.sin(x))),
    }
    if act not in activations:
        raise ValueError(f"no PyTorch peer for {act!r}; valid: {', '.join(activations)}")
    fn = activations[act]

    def conv(channels_in: int, channels_out: int) -> nn.Conv2d:
        layer = nn.Conv2d(channels_in, channels_out, 3, padding="same", bias=False)
        nn.init.dirac_(layer.weight.data[:channels_in])
        return layer

    def norm(channels: int) -> nn.BatchNorm2d:
        layer = nn.BatchNorm2d(channels, eps=BN_EPSILON, momentum=1 - BN_MOMENTUM)
        layer.weight.requires_grad = False
        return layer

    class Group(nn.Module):
        def __init__(self, channels_in: int, channels_out: int):
            super().__init__()
            self.conv1, self.norm1 = conv(channels_in, channels_out), norm(channels_out)
            self.conv2, self.norm2 = conv(channels_out, channels_out), norm(channels_out)

        def forward(self, x):
            x = fn(self.norm1(functional.max_pool2d(self.conv1(x), 2)))
            return fn(self.norm2(self.conv2(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            width = data.whitening.shape[-1]
            self.whiten = nn.Conv2d(3, width, WHITENING_SIZE, bias=True)
            kernel = np.asarray(data.whitening).transpose(3, 2, 0, 1)  # HWIO -> OIHW
            self.whiten.weight.data[:] = torch.from_numpy(kernel.copy())
            self.whiten.weight.requires_grad = False
            widths = (width, *recipe.widths)
            pairs = zip(widths[:-1], widths[1:], strict=True)
            self.groups = nn.Sequential(*(Group(i, o) for i, o in pairs))
            self.head = nn.Linear(widths[-1], 10, bias=False)

        def forward(self, x):
            x = self.groups(fn(self.whiten(x)))
            x = functional.max_pool2d(x, 3).flatten(1)
            return self.head(x) * LOGIT_SCALE

    net = Net().to(memory_format=torch.channels_last)
    kilostep = 1024 * (1 + 1 / (1 - recipe.momentum))
    lr, decay = recipe.lr / kilostep, recipe.weight_decay * recipe.batch_size / kilostep
    trained = [(name, p) for name, p in net.named_parameters() if p.requires_grad]
    biases = [p for name, p in trained if name.split(".")[-2].startswith("norm")]
    others = [p for name, p in trained if not name.split(".")[-2].startswith("norm")]
    bias_lr = lr * recipe.bias_scaler
    optimizer = torch.optim.SGD(
        [
            {"params": biases, "lr": bias_lr, "weight_decay": decay / bias_lr},
            {"params": others, "lr": lr, "weight_decay": decay / lr},
        ],
        momentum=recipe.momentum,
        nesterov=True,
    )
    average = [p.detach().clone() for p in net.state_dict().values() if p.is_floating_point()]
    padded = torch.from_numpy(np.array(data.train_padded))
    labels = torch.from_numpy(np.array(data.train_labels)).long()
    mean = torch.tensor(np.asarray(data.mean)).view(1, 3, 1, 1)
    std = torch.tensor(np.asarray(data.std)).view(1, 3, 1, 1)
    count, batch, pad = len(labels), recipe.batch_size, recipe.translate
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(count, generator=generator)
    shifts = torch.randint(0, 2 * pad + 1, (count, 2), generator=generator)
    flips = torch.rand(count, generator=generator) < 0.5
    side = padded.shape[1] - 2 * pad
    offsets = torch.arange(side)
    step_count = 0

    def step(indices) -> None:
        nonlocal step_count
        rows = (shifts[indices, 0, None] + offsets)[:, :, None]
        cols = (shifts[indices, 1, None] + offsets)[:, None, :]
        cols = torch.where(flips[indices, None, None], cols.flip(-1), cols)
        images = padded[indices[:, None, None], rows, cols].permute(0, 3, 1, 2).float() / 255
        images = ((images - mean) / std).contiguous(memory_format=torch.channels_last)
        loss = functional.cross_entropy(
            net(images), labels[indices], label_smoothing=recipe.label_smoothing, reduction="sum"
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step_count += 1
        if step_count % recipe.lookahead_every == 0:
            with torch.no_grad():
                current = [p for p in net.state_dict().values() if p.is_floating_point()]
                for avg, p in zip(average, current, strict=True):
                    avg.lerp_(p, 0.5)
                    p.copy_(avg)

    def steps(count_: int) -> None:
        for index in range(count_):
            start = (index * batch) % (count - batch + 1)
            step(order[start : start + batch])

    return steps


def median_seconds(steppers: dict, steps: int, repeats: int) -> dict[str, float]:
    """Median seconds of ``steps`` steps of each stepper, timed in alternation."""
    for stepper in steppers.values():
        stepper(WARM_UP_STEPS)
    samples = {name: [] for name in steppers}
    for _ in range(repeats):
        for name, stepper in steppers.items():
            started = time.perf_counter()
            stepper(steps)
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def bench_against_torch(args: argparse.Namespace) -> None:
    import torch

    config = get_config(args.variant)
    recipe = cifar10_study.recipe_of(config)
    config.train_subset = recipe.batch_size * 5
    config.test_subset = 100
    data, _ = cifar10_study.load_data(config, recipe)
    images = args.steps * recipe.batch_size
    print(
        f"JAX vs PyTorch, {args.variant} recipe: widths {recipe.widths}, batch "
        f"{recipe.batch_size}, {args.steps} steps per timing, median of {args.repeats}; "
        f"PyTorch {torch.__version__} with {torch.get_num_threads()} threads"
    )
    print("| activation | JAX images/s | PyTorch images/s | JAX / PyTorch |")
    print("|---|---|---|---|")
    for act in args.acts:
        seconds = median_seconds(
            {
                "jax": jax_stepper(act, recipe, data, jnp.float32, seeds=1),
                "torch": torch_stepper(act, recipe, data),
            },
            args.steps,
            args.repeats,
        )
        jax_rate, torch_rate = images / seconds["jax"], images / seconds["torch"]
        print(f"| {act} | {jax_rate:.0f} | {torch_rate:.0f} | {jax_rate / torch_rate:.2f} |")


def bench_study(args: argparse.Namespace) -> None:
    config = get_config(args.variant)
    config.output_root = args.output_root
    recipe = cifar10_study.recipe_of(config)
    dtype = cifar10_study.COMPUTE_DTYPES[config.compute_dtype]
    started = time.perf_counter()
    data, _ = cifar10_study.load_data(config, recipe)
    group = min(VMAPPED_SEEDS, config.num_seeds)
    act = config.activations[0]  # under a compilation cache (the tests') the study reuses these
    seconds = median_seconds(
        {
            "one seed": jax_stepper(act, recipe, data, dtype, seeds=1),
            f"{group} seeds vmapped": jax_stepper(act, recipe, data, dtype, seeds=group),
        },
        args.steps,
        args.repeats,
    )
    one, vmapped = seconds["one seed"], seconds[f"{group} seeds vmapped"]
    rate = args.steps * recipe.batch_size
    print(
        f"Seeds side by side ({config.compute_dtype}, {act}, {args.steps} steps, median of "
        f"{args.repeats}): one seed {rate / one:.0f} images/s, {group} vmapped "
        f"{group * rate / vmapped:.0f} images/s ({group * one / vmapped:.2f}x)"
    )
    print(f"Setup and the seeds measurement: {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    results = experiment.run(cifar10_study, config)
    wall = time.perf_counter() - started
    print(
        f"The {config.name} variant: {len(results.runs)} runs in {wall:.0f} s "
        f"({wall / 60:.1f} min) including data loading and compilation; outputs in "
        f"{results.directory}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="time the study variant (default when JAX sees an accelerator)",
    )
    parser.add_argument(
        "--variant", help="study config variant (default: cpu against PyTorch, gpu with --gpu)"
    )
    parser.add_argument("--acts", nargs="+", default=["relu", "nish"], help="CPU mode")
    parser.add_argument("--steps", type=int, default=3, help="training steps per timing")
    parser.add_argument("--repeats", type=int, default=5, help="alternating repeats (median)")
    parser.add_argument("--output-root", default="results", help="the study's outputs (--gpu)")
    args = parser.parse_args(argv)
    study = args.gpu or jax.default_backend() != "cpu"
    args.variant = args.variant or ("gpu" if study else "cpu")
    if min(args.steps, args.repeats) < 1:
        parser.error(f"--steps and --repeats must be positive, got {args.steps}, {args.repeats}")
    print(provenance.machine_description())
    print(f"{len(os.sched_getaffinity(0))} CPU threads available")
    if study:
        bench_study(args)
    else:
        bench_against_torch(args)


if __name__ == "__main__":
    main()
