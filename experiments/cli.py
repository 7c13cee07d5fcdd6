"""The one command-line entry point of every experiment and of ``experiments/train.py``.

    python -m experiments.<experiment> --config experiments/configs/<experiment>.py:<variant> \
        --config.<key>=<value> ...

``--config`` names a config file and variant (each experiment has a default); overrides reach any
key, nested ones too, and a mistyped key fails (configs are locked). Errors a user can fix (missing
data, a run directory that belongs to another config or is busy, a bad value) are one message and
exit status 2; Ctrl-C exits with 130 after the engine saved a checkpoint; a ``run`` that returns
an int (``experiments/train.py``: 1 when a run diverged) exits with it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags


def main(run: Callable[[ml_collections.ConfigDict], Any], default_config: str) -> None:
    """Run ``run(config)`` as an absl program with ``--config`` (default ``default_config``)."""
    config_flag = config_flags.DEFINE_config_file(
        "config", default_config, "Config: <file.py>[:<variant>].", lock_config=True
    )

    def program(argv: list[str]) -> None:
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint at INFO
        sys.exit(guarded(run, config_flag.value))

    app.run(program)


def guarded(
    run: Callable[[ml_collections.ConfigDict], Any], config: ml_collections.ConfigDict
) -> int:
    """``run(config)``, with a user's errors turned into one message and an exit status."""
    from nish_jax.data import DataNotFoundError
    from nish_jax.train import WorkdirBusyError, WorkdirMismatchError

    try:
        outcome = run(config)
    except (DataNotFoundError, WorkdirBusyError, WorkdirMismatchError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return outcome if isinstance(outcome, int) else 0
