"""One sharded, resumable training engine for every experiment of the paper.

>>> from nish_jax.train import get_config_defaults, train_and_evaluate
>>> config = get_config_defaults()
>>> config.model_options = {"depth": 2, "width": 64}
>>> result = train_and_evaluate(config, "runs/mnist")  # doctest: +SKIP
>>> result.runs[0]["test_top1"]  # doctest: +SKIP

``config.num_runs`` seeds train at once in one compiled program (vmapped over a runs axis); the
batch is split over all devices (a "data" mesh axis); runs resume from their latest checkpoint.
A workdir holds one configuration (:func:`fingerprint` names it) and one process at a time.
"""

from nish_jax.train.checkpoint import Checkpointer, NoIntactCheckpointError
from nish_jax.train.config import (
    config_differences,
    fingerprint,
    get_config_defaults,
    validate_config,
)
from nish_jax.train.evaluation import evaluate, make_evaluator
from nish_jax.train.loop import TrainResult, train_and_evaluate
from nish_jax.train.metrics import read_rows
from nish_jax.train.progress import progress_bar
from nish_jax.train.state import TrainState
from nish_jax.train.workdir import WorkdirBusyError, WorkdirMismatchError

__all__ = [
    "Checkpointer",
    "NoIntactCheckpointError",
    "TrainResult",
    "TrainState",
    "WorkdirBusyError",
    "WorkdirMismatchError",
    "config_differences",
    "evaluate",
    "fingerprint",
    "get_config_defaults",
    "make_evaluator",
    "progress_bar",
    "read_rows",
    "train_and_evaluate",
    "validate_config",
]
