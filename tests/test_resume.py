"""A training process SIGKILLed or interrupted with Ctrl-C mid-epoch, or one whose latest checkpoint
is damaged, ends like an uninterrupted run when the same command runs again: same final metrics,
same parameters, same metric rows (none lost or doubled)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from nish_jax.train import Checkpointer, NoIntactCheckpointError, read_rows

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = ["--config", "experiments/mnist/configs/mnist_mlp.py:smoke"]
# The smoke config has 16 steps per epoch and a checkpoint every 5 steps: a signal after step 12
# is mid-epoch, two steps past the checkpoint of step 10 and its already written metric rows.
SIGNAL_AFTER_STEP = 12

# Runs experiments/train.py unchanged, except that the process sends itself a signal right after
# writing the metric row of step SIGNAL_AFTER_STEP (SIGKILL: no cleanup, no flush). It restores
# Python's Ctrl-C handler first, as a terminal's process has it: a shell without job control
# starts background commands (`make test &`) with SIGINT ignored, and Python keeps ignoring it.
SIGNALLING_LAUNCHER = """
import os, runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from nish_jax.train import metrics
write = metrics.MetricWriter.write
def write_then_signal(self, stream, row):
    write(self, stream, row)
    if stream == "train_steps" and row["step"] == {step}:
        os.kill(os.getpid(), signal.{signal})
metrics.MetricWriter.write = write_then_signal
sys.argv = ["train", *sys.argv[1:]]
runpy.run_module("experiments.train", run_name="__main__")
"""


def train(workdir, launcher=("-m", "experiments.train"), overrides=()):
    return subprocess.run(
        [sys.executable, *launcher, *FLAGS, *overrides, "--workdir", str(workdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def signalling(signal_name):
    return ("-c", SIGNALLING_LAUNCHER.format(step=SIGNAL_AFTER_STEP, signal=signal_name))


def final_result(process):
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout.strip().splitlines()[-1])


def final_params(workdir):
    return Checkpointer(os.path.join(workdir, "checkpoints"), 2).restore()["params"]


def without_timing(rows):
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows]


def assert_same_run(workdir, reference_dir):
    """Same final parameters and the same metric rows, each once."""
    jax.tree_util.tree_map(
        np.testing.assert_array_equal, final_params(workdir), final_params(reference_dir)
    )
    assert read_rows(workdir, "train_steps") == read_rows(reference_dir, "train_steps")
    assert without_timing(read_rows(workdir, "epochs")) == without_timing(
        read_rows(reference_dir, "epochs")
    )
    with open(os.path.join(workdir, "train_steps.csv")) as file:
        assert len(file.readlines()) == 1 + len(read_rows(reference_dir, "train_steps"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted") / "run"
    return workdir, final_result(train(workdir))


def test_killed_and_restarted_run_ends_exactly_like_an_uninterrupted_one(uninterrupted, tmp_path):
    reference_dir, reference = uninterrupted
    killed = train(tmp_path, signalling("SIGKILL"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert Checkpointer(os.path.join(tmp_path, "checkpoints"), 2).latest_step() == 10
    assert read_rows(tmp_path, "train_steps")[-1]["step"] == SIGNAL_AFTER_STEP

    assert final_result(train(tmp_path)) == reference
    assert_same_run(tmp_path, reference_dir)


def test_ctrl_c_saves_the_current_step_and_the_same_command_continues(uninterrupted, tmp_path):
    reference_dir, reference = uninterrupted
    interrupted = train(tmp_path, signalling("SIGINT"))
    assert interrupted.returncode == 130, interrupted.stderr[-3000:]
    assert "Traceback" not in interrupted.stderr
    saved = re.findall(r"interrupted: saved the state of step (\d+) in (\S+);", interrupted.stderr)
    assert len(saved) == 1, interrupted.stderr[-3000:]
    step, path = int(saved[0][0]), saved[0][1]
    assert step > SIGNAL_AFTER_STEP and step % 5  # the current step, not a periodic checkpoint
    assert Checkpointer(os.path.join(tmp_path, "checkpoints"), 2).latest_step() == step
    assert path == os.path.join(tmp_path, "checkpoints", str(step))

    assert final_result(train(tmp_path)) == reference
    assert_same_run(tmp_path, reference_dir)


def damage(checkpoint_dir):
    """Truncate every array file of a checkpoint to half its size, as a full disk would."""
    for root, _, names in os.walk(os.path.join(checkpoint_dir, "default")):
        for name in names:
            path = os.path.join(root, name)
            if os.path.basename(root) == "d":
                os.truncate(path, os.path.getsize(path) // 2)


def test_a_damaged_latest_checkpoint_falls_back_to_the_newest_intact_one(uninterrupted, tmp_path):
    reference_dir, reference = uninterrupted
    workdir = tmp_path / "run"
    shutil.copytree(reference_dir, workdir)
    latest = workdir / "checkpoints" / "32"
    damage(latest)

    process = train(workdir)
    assert final_result(process) == reference
    warnings = [line for line in process.stderr.splitlines() if "damaged" in line]
    assert len(warnings) == 1 and f"checkpoint {latest} is damaged" in warnings[0]
    assert "resuming from step 30" in warnings[0]
    assert "Traceback" not in process.stderr and "Event loop" not in process.stderr
    assert Checkpointer(os.path.join(workdir, "checkpoints"), 2).all_steps() == [30, 32]
    assert_same_run(workdir, reference_dir)


def test_without_an_intact_checkpoint_restoring_names_the_directory(uninterrupted, tmp_path):
    reference_dir, _ = uninterrupted
    workdir = tmp_path / "run"
    shutil.copytree(reference_dir, workdir)
    directory = os.path.join(workdir, "checkpoints")
    damage(os.path.join(directory, "32"))
    os.remove(os.path.join(directory, "30", "checksums.json"))  # a save that did not finish
    checkpointer = Checkpointer(directory, 2)
    with pytest.raises(NoIntactCheckpointError, match=f"no intact checkpoint in {directory}"):
        checkpointer.restore()
    assert checkpointer.all_steps() == [30, 32]  # nothing is deleted when nothing is intact


def test_the_command_line_exits_1_when_a_run_diverges_and_2_on_another_configs_workdir(tmp_path):
    blown = train(tmp_path, overrides=["--config.learning_rate=1e9"])
    assert blown.returncode == 1, blown.stderr[-3000:]
    (metrics,) = json.loads(blown.stdout.strip().splitlines()[-1])["runs"]
    assert metrics["diverged"] and "diverged (non-finite loss or parameters): run 0" in blown.stderr
    other = train(tmp_path, overrides=["--config.act=relu"])
    assert other.returncode == 2, other.stderr[-3000:]
    assert "error: " in other.stderr and "act" in other.stderr and "--overwrite" in other.stderr
