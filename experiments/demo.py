"""The demo (``make demo``): Fig. 1, the activation benchmark and the paper's MNIST experiments,
all in their quick versions, in about ten minutes on two CPU cores.

    python -m experiments.demo [--output-root results]

Steps: Fig. 1 (the activations and their derivatives), the activation benchmark (``--quick``),
the Fig. 2a depth sweep and the Fig. 2b/2c noise-robustness experiment (their ``quick`` configs:
a subset of the real MNIST, few epochs, seeds and depths, every output labelled QUICK). It ends by
listing the figures, tables and summaries. Without MNIST it says how to provide it and exits with
status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from experiments import bench_activation, depth_sweep, fig1_activations, noise_robustness
from nish_jax.data import DataNotFoundError, load


def _experiment_argv(module, root: str) -> list[str]:
    config = module.DEFAULT_CONFIG  # the quick variant
    return [module.EXPERIMENT, "--config", config, f"--config.output_root={root}"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return the exit status (0, or 2 when MNIST is missing)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-root", default="results", help="results directory root")
    args = parser.parse_args(argv)
    try:
        load("mnist", "test")
    except DataNotFoundError as error:
        print(f"The demo needs the real MNIST data set.\n{error}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    print("== 1/4  Fig. 1: the activations and their derivatives", flush=True)
    fig1 = fig1_activations.main(
        ["--out", os.path.join(args.output_root, "fig1", "activations.png")]
    )
    print("\n== 2/4  Activation benchmark (quick)", flush=True)
    bench_activation.main(["--quick"])
    print("\n== 3/4  Fig. 2a: depth sweep on MNIST (QUICK config)", flush=True)
    sweep = depth_sweep.main(_experiment_argv(depth_sweep, args.output_root))
    print("\n== 4/4  Fig. 2b/2c: noise robustness on MNIST (QUICK config)", flush=True)
    noise = noise_robustness.main(_experiment_argv(noise_robustness, args.output_root))

    minutes = (time.perf_counter() - started) / 60
    print(f"\n== Demo done in {minutes:.1f} min (MNIST runs: QUICK, not the paper's protocol).")
    print(f"Fig. 1:              {fig1}")
    for name, directory in (("Fig. 2a (depth)", sweep), ("Fig. 2b/2c (noise)", noise)):
        print(f"{name + ':':<21}{os.path.join(directory, 'figure.png')}")
        print(f"{'':<21}{os.path.join(directory, 'table.md')}, summary.md, runs.csv")
    print("The paper's full protocol: --config experiments/configs/<experiment>.py:paper")
    return 0


if __name__ == "__main__":
    sys.exit(main())
