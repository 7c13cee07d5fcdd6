"""train_and_evaluate: the resumable training loop of R runs at once (flax imagenet example shape).

A run directory holds ``config.json``, ``checkpoints/``, ``train_steps.{jsonl,csv}``,
``epochs.{jsonl,csv}`` and ``workdir.lock``, and belongs to one configuration and one process
(nish_jax.train.workdir). Calling :func:`train_and_evaluate` again on the same directory resumes
from the latest intact checkpoint and ends exactly where an uninterrupted run ends: the data
position is the step, the keys are functions of the step, and the epoch's metric sums and each
run's divergence are part of the state. A run whose loss or parameters become non-finite is
marked diverged (NaN metrics) while the others go on; training stops when every run has diverged.
Ctrl-C saves a checkpoint at the current step and raises KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from tqdm import tqdm

from nish_jax.train import machine, sharding
from nish_jax.train import workdir as workdir_lib
from nish_jax.train.checkpoint import Checkpointer
from nish_jax.train.components import TrainingSetup, build_setup
from nish_jax.train.config import validate_config
from nish_jax.train.evaluation import Evaluator, make_evaluator
from nish_jax.train.interrupt import deferred_sigint
from nish_jax.train.metrics import MetricWriter, read_rows
from nish_jax.train.progress import progress_bar
from nish_jax.train.state import TrainState, run_seeds, zero_epoch_sums
from nish_jax.train.steps import make_train_step

if TYPE_CHECKING:
    import ml_collections

METRIC_KEYS = ("train_loss", "train_top1", "test_loss", "test_top1", "test_top5")
_log = logging.getLogger(__name__)


def _reset_epoch_sums(state: TrainState, setup: TrainingSetup) -> TrainState:
    zeros = jax.tree_util.tree_map(
        lambda x: np.zeros((setup.config.num_runs, *np.shape(x)), np.float32), zero_epoch_sums()
    )
    return state.replace(epoch_sums=jax.device_put(zeros, sharding.replicated(setup.mesh)))


def _train_batches(setup: TrainingSetup, epoch: int, start: int):
    """Stacked (runs, batch, ...) batches of one epoch from batch ``start``; run r's data order
    follows its own seed."""
    streams = [
        setup.train_data.batches(setup.config.batch_size, seed=seed, epoch=epoch, start=start)
        for seed in run_seeds(setup.config.seed, setup.config.num_runs)
    ]
    for batches in zip(*streams, strict=True):
        yield (
            np.stack([images for images, _ in batches]),
            np.stack([labels for _, labels in batches]),
        )


class _StepLogger:
    """Reads each step's metrics one step late, so the host never stalls the device.

    Notes each run's divergence (one warning line per run), writes rows every
    ``log_every_steps`` and shows the healthy runs' loss, accuracy and images/s on the bar.
    """

    def __init__(
        self, setup: TrainingSetup, writer: MetricWriter, bar: tqdm, diverged_steps: np.ndarray
    ) -> None:
        self.setup, self.writer, self.bar = setup, writer, bar
        self.diverged_steps = diverged_steps.copy()
        self.pending: list[tuple[int, dict[str, jax.Array]]] = []
        self.started = time.perf_counter()
        self.images = 0

    @property
    def all_diverged(self) -> bool:
        return bool(self.diverged_steps.all())

    def add(self, step: int, metrics: dict[str, jax.Array]) -> None:
        self.pending.append((step, metrics))
        while len(self.pending) > 1:
            self._handle(*self.pending.pop(0))

    def flush(self) -> None:
        while self.pending:
            self._handle(*self.pending.pop(0))

    def _handle(self, step: int, metrics: dict[str, jax.Array]) -> None:
        values = jax.device_get(metrics)
        newly = (values["diverged_step"] != 0) & (self.diverged_steps == 0)
        for gone in map(int, np.flatnonzero(newly)):
            self.diverged_steps[gone] = values["diverged_step"][gone]
            _log.warning(
                "run %d diverged at step %d (non-finite loss or parameters); %s",
                gone,
                self.diverged_steps[gone],
                "every run has now diverged" if self.all_diverged else "the other runs go on",
            )
        config = self.setup.config
        if step % config.log_every_steps == 0:
            for run in range(config.num_runs):
                self.writer.write(
                    "train_steps",
                    {
                        "step": step,
                        "epoch": (step - 1) // self.setup.steps_per_epoch + 1,
                        "run": run,
                        "loss": values["loss"][run],
                        "top1": values["top1"][run],
                        "learning_rate": values["learning_rate"][run],
                    },
                )
        self.images += config.batch_size * config.num_runs
        rate = self.images / max(time.perf_counter() - self.started, 1e-9)
        healthy = self.diverged_steps == 0
        if healthy.any():
            self.bar.set_postfix(
                loss=f"{values['loss'][healthy].mean():.4f}",
                top1=f"{values['top1'][healthy].mean():.3f}",
                img_s=f"{rate:.0f}",
                refresh=False,
            )
        self.bar.update(1)


def _run_metrics(
    state: TrainState, test_metrics: list[dict[str, float]] | None
) -> list[dict[str, Any]]:
    """Each run's train metrics (the current epoch's sums), test metrics (``test_metrics``; None
    when every run diverged), ``diverged`` and ``diverged_step``; a diverged run's are NaN."""
    sums = jax.device_get(state.epoch_sums)
    runs = []
    for run, diverged_step in enumerate(jax.device_get(state.diverged_step).tolist()):
        if diverged_step or test_metrics is None:
            metrics = dict.fromkeys(METRIC_KEYS, math.nan)
        else:
            metrics = {
                "train_loss": float(sums["loss"][run] / sums["count"][run]),
                "train_top1": float(sums["correct"][run] / sums["count"][run]),
                **{f"test_{key}": test_metrics[run][key] for key in ("loss", "top1", "top5")},
            }
        runs.append(
            {**metrics, "diverged": bool(diverged_step), "diverged_step": diverged_step or None}
        )
    return runs


def _epoch_rows(
    runs: list[dict[str, Any]], epoch: int, step: int, seconds: float, computed_on: str
) -> list[dict[str, Any]]:
    return [
        {
            "epoch": epoch,
            "step": step,
            "run": run,
            **{key: metrics[key] for key in METRIC_KEYS},
            "diverged": metrics["diverged"],
            "epoch_seconds": seconds,
            "computed_on": computed_on,
        }
        for run, metrics in enumerate(runs)
    ]


def trained_on(workdir: str) -> list[str]:
    """Where a run directory's epochs were computed (:func:`machine.computed_on`), each machine
    once, in order (a run resumed on another names both); ``machine.NOT_RECORDED`` for epochs
    written before epoch rows recorded it."""
    rows = read_rows(workdir, "epochs")
    return list(dict.fromkeys(row.get("computed_on", machine.NOT_RECORDED) for row in rows))


def _interrupted(checkpointer: Checkpointer, step: int) -> KeyboardInterrupt:
    message = (
        f"interrupted: saved the state of step {step} in {checkpointer.step_dir(step)}; run the "
        "same command (same config and workdir) again to continue from there"
    )
    _log.warning(message)
    return KeyboardInterrupt(message)


def _train(
    setup: TrainingSetup, checkpointer: Checkpointer, workdir: str, is_main: bool
) -> tuple[TrainState, int, list[dict[str, Any]]]:
    """Train from the latest intact checkpoint to the end (or until every run diverged); return
    the final state, its step and each run's metrics."""
    config = setup.config
    state = setup.initial_state()
    if checkpointer.all_steps():
        state = checkpointer.restore(state)
    step = int(jax.device_get(state.step)[0])
    writer = MetricWriter(workdir, resume_step=step, is_main_process=is_main)
    train_step = make_train_step(
        setup.model,
        setup.preprocess,
        setup.schedule,
        label_smoothing=config.label_smoothing,
        mesh=setup.mesh,
    )
    evaluate: Evaluator = make_evaluator(
        config, setup.test_data, mesh=setup.mesh, apply_fn=setup.model.apply
    )
    batch = sharding.batch_sharding(setup.mesh, runs_axis=True)
    where = machine.computed_on(list(setup.mesh.devices.flat))  # each epoch row records it
    diverged_steps = np.asarray(jax.device_get(state.diverged_step))
    evaluated: tuple[int, list[dict[str, float]] | None] | None = None  # (step, test metrics)
    with deferred_sigint() as stop:
        while step < setup.total_steps and not diverged_steps.all():
            epoch, start = divmod(step, setup.steps_per_epoch)
            if start == 0:
                state = _reset_epoch_sums(state, setup)
            bar = progress_bar(
                total=setup.steps_per_epoch,
                initial=start,
                desc=f"epoch {epoch + 1}",
                disable=not is_main,
                mininterval=1.0,
                leave=False,
            )
            logger = _StepLogger(setup, writer, bar, diverged_steps)
            began = time.perf_counter()
            for images, labels in _train_batches(setup, epoch, start):
                state, metrics = train_step(
                    state,
                    sharding.to_global(images, batch, 1),
                    sharding.to_global(labels, batch, 1),
                )
                step += 1
                logger.add(step, metrics)
                if step % setup.steps_per_epoch == 0:
                    break  # the epoch's end: evaluated and saved below
                every = config.checkpoint_every_steps
                if (every and step % every == 0) or logger.all_diverged or stop.requested:
                    logger.flush()  # every row up to the checkpoint's step is written first
                    checkpointer.save(state)
                if logger.all_diverged or stop.requested:
                    break
            logger.flush()
            bar.close()
            diverged_steps = logger.diverged_steps
            mid_epoch = step % setup.steps_per_epoch != 0  # stopped early: saved above
            if stop.requested and mid_epoch:
                raise _interrupted(checkpointer, step)
            if diverged_steps.all() and mid_epoch:
                break
            test_metrics = evaluate(state, config.eval_noise_std)
            evaluated = (step, test_metrics)
            rows = _epoch_rows(
                _run_metrics(state, test_metrics),
                epoch + 1,
                step,
                time.perf_counter() - began,
                where,
            )
            for row in rows:
                writer.write("epochs", row)
            checkpointer.save(state)
            if stop.requested:
                raise _interrupted(checkpointer, step)
    if evaluated is None or evaluated[0] != step:  # finished before, or every run diverged
        evaluated = (step, None if diverged_steps.all() else evaluate(state, config.eval_noise_std))
    return state, step, _run_metrics(state, evaluated[1])


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What :func:`train_and_evaluate` returns.

    Attributes:
      runs: per run, the last epoch's ``train_loss``, ``train_top1``, ``test_loss``,
        ``test_top1``, ``test_top5`` (NaN for a diverged run), ``diverged`` and
        ``diverged_step`` (None if it did not diverge).
      state: the final :class:`~nish_jax.train.TrainState`, stacked on the runs axis.
      steps: the training steps taken.
      workdir: the run directory.
      history: the path of its per-epoch metrics (``epochs.jsonl``).
      data_source: where the training data was read from.
      trained_on: the hardware and JAX version of each stretch of training, oldest first.
    """

    runs: list[dict[str, Any]]
    state: TrainState
    steps: int
    workdir: str
    history: str
    data_source: str
    trained_on: list[str]


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    devices: Sequence[jax.Device] | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train ``config.num_runs`` runs in ``workdir``, resuming the run it holds.

    Args:
      config: the run's config (:func:`~nish_jax.train.get_config_defaults` and overrides).
      workdir: the run directory: checkpoints, metrics and the resolved config.
      devices: the mesh the batch is split over (default: all devices).
      overwrite: delete a run of another configuration in ``workdir`` and start fresh.

    Returns:
      The :class:`TrainResult`: each run's final metrics, the final state and where it came from.

    Raises:
      WorkdirMismatchError: before writing anything, when the workdir holds a run of another
        configuration or one trained past the requested steps (unless ``overwrite``).
      WorkdirBusyError: when another process trains in the workdir.
      KeyboardInterrupt: after saving the current state, on Ctrl-C.
    """
    sharding.maybe_initialize_distributed()
    validate_config(config, len(devices) if devices is not None else jax.device_count())
    is_main = jax.process_index() == 0
    with workdir_lib.lock(workdir) if is_main else contextlib.nullcontext():
        accepted_changes = [] if overwrite else workdir_lib.check_config(config, workdir)
        if overwrite and is_main:
            workdir_lib.clear(workdir)
        sharding.sync_processes("workdir checked")
        setup = build_setup(config, sharding.make_mesh(devices))
        checkpointer = Checkpointer(
            os.path.join(workdir, workdir_lib.CHECKPOINT_DIR), config.keep_checkpoints
        )
        try:
            steps = checkpointer.all_steps()
            if steps:
                workdir_lib.check_steps(
                    workdir, steps[-1], setup.total_steps, setup.steps_per_epoch
                )
            if accepted_changes:
                _log.warning(workdir_lib.describe_changes(workdir, accepted_changes))
            if is_main:
                workdir_lib.save_config(config, workdir)
            state, step, runs = _train(setup, checkpointer, workdir, is_main)
        finally:
            checkpointer.close()
    return TrainResult(
        runs=runs,
        state=state,
        steps=step,
        workdir=workdir,
        history=os.path.join(workdir, "epochs.jsonl"),
        data_source=setup.train_data.source,
        trained_on=trained_on(workdir),
    )
