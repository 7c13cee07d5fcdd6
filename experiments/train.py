"""Train (or resume) the runs a config describes: the command-line face of nish_jax.train.

    python -m experiments.train --config experiments/configs/mnist_mlp.py --workdir runs/mnist \
        --config.act=nish --config.num_epochs=3

Any config key can be overridden with ``--config.<key>=<value>`` (nested keys too:
``--config.model_options.depth=5``). Running the same command again on the same workdir resumes
from the latest checkpoint. The final metrics of every run are printed as JSON.
"""

from __future__ import annotations

import json

from absl import app, flags, logging
from ml_collections import config_flags

from nish_jax.train import train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (a get_config() module).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, metrics, config.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    result = train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    print(json.dumps({"steps": result["steps"], "runs": result["runs"]}))


if __name__ == "__main__":
    app.run(main)
