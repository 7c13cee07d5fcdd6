"""train_and_evaluate: the resumable training loop of R runs at once (flax imagenet example shape).

A run directory holds ``checkpoints/``, ``config.json``, ``train_steps.{jsonl,csv}`` and
``epochs.{jsonl,csv}``. Calling :func:`train_and_evaluate` again on the same directory resumes from
the latest checkpoint and ends exactly where an uninterrupted run ends: the data position is the
step, the keys are functions of the step, and the epoch's metric sums are part of the state.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from nish_jax.train import sharding
from nish_jax.train.checkpoint import Checkpointer
from nish_jax.train.components import TrainingSetup, build_setup
from nish_jax.train.config import validate_config
from nish_jax.train.evaluation import make_evaluator
from nish_jax.train.metrics import MetricWriter
from nish_jax.train.state import TrainState, run_seeds, zero_epoch_sums
from nish_jax.train.steps import make_train_step


class NonFiniteLossError(FloatingPointError):
    """The training loss (or a parameter) became NaN or infinite; the last good checkpoint, saved
    before it, is kept (a state is only saved after its steps' losses were checked)."""

    def __init__(self, step: int, run: int, loss: float) -> None:
        what = "loss" if not np.isfinite(loss) else f"parameters (loss {loss})"
        super().__init__(
            f"non-finite training {what} at step {step} (run {run}); training stopped, "
            "the last checkpoint before it is kept"
        )
        self.step, self.run, self.loss = step, run, loss


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
    """Checks and logs each step's metrics one step late, so the host never stalls the device.

    Every step's loss is checked (a non-finite one raises :class:`NonFiniteLossError`); rows are
    written every ``log_every_steps``; the progress bar shows loss, accuracy and images/s.
    """

    def __init__(self, setup: TrainingSetup, writer: MetricWriter, bar: tqdm) -> None:
        self.setup, self.writer, self.bar = setup, writer, bar
        self.pending: list[tuple[int, dict[str, jax.Array]]] = []
        self.started = time.perf_counter()
        self.images = 0

    def add(self, step: int, metrics: dict[str, jax.Array]) -> None:
        self.pending.append((step, metrics))
        while len(self.pending) > 1:
            self._handle(*self.pending.pop(0))

    def flush(self) -> None:
        while self.pending:
            self._handle(*self.pending.pop(0))

    def _handle(self, step: int, metrics: dict[str, jax.Array]) -> None:
        values = jax.device_get(metrics)
        for run, loss in enumerate(values["loss"]):
            if not (np.isfinite(loss) and values["params_finite"][run]):
                raise NonFiniteLossError(step, run, float(loss))
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
        self.bar.set_postfix(
            loss=f"{values['loss'].mean():.4f}",
            top1=f"{values['top1'].mean():.3f}",
            img_s=f"{rate:.0f}",
            refresh=False,
        )
        self.bar.update(1)


def _epoch_rows(
    state: TrainState, test_metrics: list[dict[str, float]], epoch: int, step: int, seconds: float
) -> list[dict[str, Any]]:
    sums = jax.device_get(state.epoch_sums)
    return [
        {
            "epoch": epoch,
            "step": step,
            "run": run,
            "train_loss": float(sums["loss"][run] / sums["count"][run]),
            "train_top1": float(sums["correct"][run] / sums["count"][run]),
            "test_loss": metrics["loss"],
            "test_top1": metrics["top1"],
            "test_top5": metrics["top5"],
            "epoch_seconds": seconds,
        }
        for run, metrics in enumerate(test_metrics)
    ]


def _save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    with open(os.path.join(workdir, "config.json"), "w") as file:
        json.dump(config.to_dict(), file, indent=2, sort_keys=True, default=list)
        file.write("\n")


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    devices: Sequence[jax.Device] | None = None,
) -> dict[str, Any]:
    """Train ``config.num_runs`` runs in ``workdir`` (resuming if it holds a checkpoint).

    Returns ``{"runs": [final epoch metrics of run r, ...], "history": <epochs.jsonl path>,
    "workdir": ..., "steps": ..., "state": <final TrainState>}``; each run's metrics are
    train_loss, train_top1, test_loss, test_top1, test_top5 of the last epoch. ``devices``
    (default: all) is the mesh the batch is split over.
    """
    sharding.maybe_initialize_distributed()
    validate_config(config, len(devices) if devices is not None else jax.device_count())
    mesh = sharding.make_mesh(devices)
    setup = build_setup(config, mesh)
    is_main = jax.process_index() == 0
    os.makedirs(workdir, exist_ok=True)
    if is_main:
        _save_config(config, workdir)

    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), config.keep_checkpoints)
    state = setup.initial_state()
    if checkpointer.latest_step() is not None:
        state = checkpointer.restore(state)
    step = int(jax.device_get(state.step)[0])
    writer = MetricWriter(workdir, resume_step=step, is_main_process=is_main)
    train_step = make_train_step(
        setup.model,
        setup.preprocess,
        setup.schedule,
        label_smoothing=config.label_smoothing,
        mesh=mesh,
        vectorized=config.runs_vectorized,
    )
    evaluate = make_evaluator(config, setup.test_data, mesh=mesh, apply_fn=setup.model.apply)
    batch = sharding.batch_sharding(mesh, runs_axis=True)
    final_rows = None
    try:
        while step < setup.total_steps:
            epoch, start = divmod(step, setup.steps_per_epoch)
            if start == 0:
                state = _reset_epoch_sums(state, setup)
            bar = tqdm(
                total=setup.steps_per_epoch,
                initial=start,
                desc=f"epoch {epoch + 1}",
                disable=not is_main,
                mininterval=1.0,
                leave=False,
            )
            logger = _StepLogger(setup, writer, bar)
            began = time.perf_counter()
            for images, labels in _train_batches(setup, epoch, start):
                state, metrics = train_step(
                    state,
                    sharding.to_global(images, batch, 1),
                    sharding.to_global(labels, batch, 1),
                )
                step += 1
                logger.add(step, metrics)
                every = config.checkpoint_every_steps
                if every and step % every == 0 and step % setup.steps_per_epoch:
                    logger.flush()
                    checkpointer.save(state)
            logger.flush()
            bar.close()
            test_metrics = evaluate(state, config.eval_noise_std)
            final_rows = _epoch_rows(
                state, test_metrics, epoch + 1, step, time.perf_counter() - began
            )
            for row in final_rows:
                writer.write("epochs", row)
            checkpointer.save(state)
    finally:
        writer.close()
        checkpointer.close()

    if final_rows is None:  # already finished: the last epoch's metrics again, deterministically
        test_metrics = evaluate(state, config.eval_noise_std)
        final_rows = _epoch_rows(state, test_metrics, config.num_epochs, step, 0.0)
    keys = ("train_loss", "train_top1", "test_loss", "test_top1", "test_top5")
    return {
        "runs": [{key: row[key] for key in keys} for row in final_rows],
        "history": os.path.join(workdir, "epochs.jsonl"),
        "workdir": workdir,
        "steps": step,
        "state": state,
    }
