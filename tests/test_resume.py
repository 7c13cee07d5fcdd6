"""A training process SIGKILLed mid-epoch and restarted with the same command ends exactly like an
uninterrupted run: same final metrics, same parameters, same metric rows (none lost or doubled)."""

import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np

from nish_jax.train import Checkpointer, read_rows

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = ["--config", "experiments/configs/mnist_mlp.py:smoke"]
# The smoke config has 16 steps per epoch and a checkpoint every 5 steps: dying after step 12 is
# mid-epoch, two steps past the checkpoint of step 10 and its already written metric rows.
KILL_AFTER_STEP = 12

# Runs experiments/train.py unchanged, except that the process kills itself (SIGKILL: no cleanup,
# no flush) right after writing the metric row of step KILL_AFTER_STEP.
KILLING_LAUNCHER = """
import os, runpy, signal, sys
from nish_jax.train import metrics
write = metrics.MetricWriter.write
def write_then_die(self, stream, row):
    write(self, stream, row)
    if stream == "train_steps" and row["step"] == {step}:
        os.kill(os.getpid(), signal.SIGKILL)
metrics.MetricWriter.write = write_then_die
sys.argv = ["train", *sys.argv[1:]]
runpy.run_module("experiments.train", run_name="__main__")
"""


def train(workdir, launcher=("-m", "experiments.train")):
    return subprocess.run(
        [sys.executable, *launcher, *FLAGS, "--workdir", str(workdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def final_result(process):
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout.strip().splitlines()[-1])


def final_params(workdir):
    return Checkpointer(os.path.join(workdir, "checkpoints"), 2).restore()["params"]


def test_killed_and_restarted_run_ends_exactly_like_an_uninterrupted_one(tmp_path):
    reference_dir, resumed_dir = tmp_path / "uninterrupted", tmp_path / "killed"
    reference = final_result(train(reference_dir))

    killed = train(resumed_dir, ("-c", KILLING_LAUNCHER.format(step=KILL_AFTER_STEP)))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert Checkpointer(os.path.join(resumed_dir, "checkpoints"), 2).latest_step() == 10
    assert read_rows(resumed_dir, "train_steps")[-1]["step"] == KILL_AFTER_STEP

    resumed = final_result(train(resumed_dir))
    assert resumed == reference
    jax.tree_util.tree_map(
        np.testing.assert_array_equal, final_params(resumed_dir), final_params(reference_dir)
    )
    assert read_rows(resumed_dir, "train_steps") == read_rows(reference_dir, "train_steps")

    def without_timing(rows):
        return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows]

    assert without_timing(read_rows(resumed_dir, "epochs")) == without_timing(
        read_rows(reference_dir, "epochs")
    )
    with open(resumed_dir / "train_steps.csv") as file:
        assert len(file.readlines()) == 1 + len(read_rows(reference_dir, "train_steps"))
