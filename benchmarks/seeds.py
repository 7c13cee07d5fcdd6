"""How much faster R seeds train vmapped in one program than one after another.

    python -m benchmarks.seeds --runs 4 --steps 5

For each benchmark (the MNIST MLP of the depth sweep; ResNet-18 with the CIFAR stem on CIFAR-10)
it times ``steps`` training steps of R runs vmapped in one program against R times the time of
``steps`` steps of one run (what R runs one after another take), on real training batches, after
one untimed compiling step each, and prints images/s and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import ml_collections
import numpy as np

from experiments.cifar10.configs import cifar10_resnet18
from experiments.mnist.configs import mnist_mlp
from nish_jax.train import sharding
from nish_jax.train.components import build_setup
from nish_jax.train.state import run_seeds
from nish_jax.train.steps import make_train_step

BENCHMARKS = {
    "mnist_mlp": mnist_mlp.get_config,
    "cifar10_resnet18": cifar10_resnet18.get_config,
}


def _timed_steps(
    config: ml_collections.ConfigDict, batches: list[tuple], steps: int, repeats: int
) -> float:
    """Seconds for ``steps`` training steps of ``config.num_runs`` vmapped runs: the best of
    ``repeats`` timings after a compiling warm-up step (the best is the least disturbed by
    other work on the machine)."""
    mesh = sharding.make_mesh()
    setup = build_setup(config, mesh)
    state = setup.initial_state()
    step = make_train_step(
        setup.model,
        setup.preprocess,
        setup.schedule,
        label_smoothing=0.0,
        mesh=mesh,
    )
    batch = sharding.batch_sharding(mesh, runs_axis=True)
    inputs = [
        (sharding.to_global(images, batch, 1), sharding.to_global(labels, batch, 1))
        for images, labels in batches
    ]
    state, metrics = step(state, *inputs[0])  # compiles
    jax.block_until_ready(metrics)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for index in range(steps):
            state, metrics = step(state, *inputs[index % len(inputs)])
        jax.block_until_ready((state, metrics))
        timings.append(time.perf_counter() - started)
    return min(timings)


def bench(name: str, runs: int, steps: int, batch_size: int, repeats: int) -> dict[str, float]:
    config = BENCHMARKS[name]()
    config.update(dict(batch_size=batch_size, train_subset=batch_size * 4, test_subset=0))
    data = build_setup(config, sharding.make_mesh()).train_data
    seeds = run_seeds(config.seed, runs)
    # Real batches, one per run (each run its own order), a few distinct steps' worth.
    per_step = [
        [next(iter(data.batches(batch_size, seed=s, epoch=e, start=0))) for s in seeds]
        for e in range(2)
    ]
    stacked = [
        (np.stack([b[0] for b in step]), np.stack([b[1] for b in step])) for step in per_step
    ]
    config.num_runs = runs
    vmapped = _timed_steps(config, stacked, steps, repeats)
    config.num_runs = 1
    single = [(images[:1], labels[:1]) for images, labels in stacked]
    sequential = runs * _timed_steps(config, single, steps, repeats)
    images = runs * steps * batch_size
    return {
        "runs": runs,
        "steps": steps,
        "repeats": repeats,
        "batch_size": batch_size,
        "vmapped_images_per_s": images / vmapped,
        "sequential_images_per_s": images / sequential,
        "speedup_vmapped": sequential / vmapped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--benchmarks", nargs="+", choices=sorted(BENCHMARKS), default=BENCHMARKS)
    args = parser.parse_args()
    print(f"devices: {jax.devices()}")
    for name in args.benchmarks:
        result = bench(name, args.runs, args.steps, args.batch_size, args.repeats)
        print(json.dumps({"benchmark": name, **result}))


if __name__ == "__main__":
    main()
