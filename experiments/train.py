"""Train (or resume) the runs a config describes: the command-line face of nish_jax.train.

    python -m experiments.train --config experiments/configs/mnist_mlp.py --workdir runs/mnist \
        --config.act=nish --config.num_epochs=3

Any config key can be overridden with ``--config.<key>=<value>`` (nested keys too:
``--config.model_options.depth=5``). Running the same command again on the same workdir resumes
from the latest checkpoint; a workdir holding a run of another configuration is refused unless
``--overwrite`` deletes that run. The final metrics of every run are printed as JSON.

Exit status: 0 when every run trained, 1 when a run diverged (after printing the metrics) or the
workdir cannot be used, 130 after Ctrl-C (the state is saved; the same command continues).
"""

from __future__ import annotations

import json
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from nish_jax.train import (
    NoIntactCheckpointError,
    WorkdirBusyError,
    WorkdirMismatchError,
    train_and_evaluate,
)

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (a get_config() module).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, metrics, config.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Delete the workdir's checkpoints and metrics first, and start fresh."
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    try:
        result = train_and_evaluate(_CONFIG.value, _WORKDIR.value, overwrite=_OVERWRITE.value)
    except KeyboardInterrupt:
        return 130  # the engine has said where it saved the state
    except (WorkdirMismatchError, WorkdirBusyError, NoIntactCheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"steps": result["steps"], "runs": result["runs"]}))
    diverged = [
        f"run {run} at step {metrics['diverged_step']}"
        for run, metrics in enumerate(result["runs"])
        if metrics["diverged"]
    ]
    if diverged:
        print(f"diverged (non-finite loss or parameters): {', '.join(diverged)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    app.run(main)
