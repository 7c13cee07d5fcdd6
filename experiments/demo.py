"""The demo (``make demo``): Fig. 1, the activation benchmark and the paper's MNIST experiments,
all in their quick versions, in about ten minutes on two CPU cores.

    python -m experiments.demo [--output-root results]

Steps: Fig. 1 (the activations and their derivatives) and the activation benchmark, which need no
data; then MNIST: found through NISH_DATA_DIR, or downloaded (the official files, checksums
verified) when the network is reachable; without it the demo says how to provide MNIST and exits
with status 2. Then the Fig. 2a depth sweep and the Fig. 2b/2c noise experiment in their
``quick`` configs (a subset of the real MNIST, few epochs, seeds and depths, every output
labelled QUICK), each through the registry (:mod:`experiments.registry`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from benchmarks import activation as bench_activation
from experiments import registry
from experiments.paper import fig1_activations
from nish_jax.data import DataError, DataNotFoundError, download, load


def find_or_download_mnist() -> str | None:
    """Where MNIST was found or downloaded to; None (after saying how to provide it) if neither."""
    try:
        return load("mnist", "test").source
    except DataNotFoundError as missing:
        print(f"MNIST is not on this machine ({missing.__class__.__name__}); downloading it.")
        try:
            return download("mnist")
        except DataError as error:  # offline, or a download that failed its checksum
            print(f"The demo needs the real MNIST data set.\n{error}", file=sys.stderr)
            return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return the exit status (0, or 2 when MNIST is missing and unreachable)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-root", default="results", help="results directory root")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    print("== 1/4  Fig. 1: the activations and their derivatives", flush=True)
    fig1 = fig1_activations.main(
        ["--out", os.path.join(args.output_root, "fig1", "activations.png")]
    )
    print("\n== 2/4  Activation benchmark (quick)", flush=True)
    bench_activation.main(["--quick"])
    if find_or_download_mnist() is None:
        return 2
    results = {}
    for step, name in enumerate(("depth_sweep", "noise_robustness"), start=3):
        spec = registry.get(name)
        title = spec.title
        print(f"\n== {step}/4  {title} on MNIST (QUICK config)", flush=True)
        config = spec.get_config("quick")
        config.output_root = args.output_root
        results[title] = spec.run(config)

    minutes = (time.perf_counter() - started) / 60
    print(f"\n== Demo done in {minutes:.1f} min (MNIST runs: QUICK, not the paper's protocol).")
    print(f"Fig. 1:  {fig1}")
    for title, result in results.items():
        print(f"{title}:  {result.files['figure']}")
        print(f"    {result.files['table']}, summary.md, runs.csv, comparisons.csv")
    print("Full scale: python -m experiments <experiment> --config=full (see docs/experiments.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
