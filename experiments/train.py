"""Train (or resume) the runs a config describes: the command-line face of nish_jax.train.

    python -m experiments.train --config experiments/mnist/configs/mnist_mlp.py \
        --workdir runs/mnist \
        --config.act=nish --config.num_epochs=3

Any config key can be overridden with ``--config.<key>=<value>`` (nested keys too:
``--config.model_options.depth=5``). Running the same command again on the same workdir resumes
from the latest checkpoint; a workdir holding a run of another configuration is refused unless
``--overwrite`` deletes that run. The final metrics of every run are printed as JSON.

Exit status (experiments/core/cli.py): 0 when every run trained, 1 when a run diverged (after
printing
the metrics), 2 when the workdir cannot be used or a value is bad, 130 after Ctrl-C (the state is
saved; the same command continues).
"""

from __future__ import annotations

import json
import os
import sys

import ml_collections
from absl import flags

from experiments.core import cli
from nish_jax.train import train_and_evaluate

DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "mnist", "configs", "mnist_mlp.py")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, metrics, config.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Delete the workdir's checkpoints and metrics first, and start fresh."
)
flags.mark_flags_as_required(["workdir"])


def run(config: ml_collections.ConfigDict) -> int:
    """Train (or resume) in ``--workdir``; print the final metrics; 1 if a run diverged."""
    result = train_and_evaluate(config, _WORKDIR.value, overwrite=_OVERWRITE.value)
    print(json.dumps({"steps": result.steps, "runs": result.runs}))
    diverged = [
        f"run {run} at step {metrics['diverged_step']}"
        for run, metrics in enumerate(result.runs)
        if metrics["diverged"]
    ]
    if diverged:
        print(f"diverged (non-finite loss or parameters): {', '.join(diverged)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    cli.run_program(run, os.path.relpath(DEFAULT_CONFIG), sys.argv)
