"""A workdir holds one configuration and one process: a run that would continue another
configuration's checkpoints, or report a later state as an earlier one, is refused before anything
is written; bookkeeping changes and longer constant-rate runs resume; a busy workdir fails at once
and a dead process's lock does not block. Real MNIST via the mnist_mlp smoke config."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys

import pytest

from experiments.mnist.configs.mnist_mlp import get_config
from nish_jax.train import (
    WorkdirBusyError,
    WorkdirMismatchError,
    config_differences,
    fingerprint,
    read_rows,
    train_and_evaluate,
)
from nish_jax.train.workdir import LOCK_FILE, save_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smoke_config(**overrides):
    config = get_config("smoke")
    config.update(overrides)
    return config


def snapshot(workdir):
    """Every file of a workdir but its lock file, with its bytes."""
    files = {}
    for root, _, names in os.walk(workdir):
        for name in names:
            path = os.path.join(root, name)
            if name != LOCK_FILE:
                with open(path, "rb") as file:
                    files[os.path.relpath(path, workdir)] = file.read()
    return files


def without_timing(rows):
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-epoch smoke run (nish, learning rate 0.05, depth 2); copy it to change it."""
    workdir = str(tmp_path_factory.mktemp("finished") / "run")
    return workdir, train_and_evaluate(smoke_config(), workdir)


@pytest.fixture
def finished_copy(finished, tmp_path):
    workdir = str(tmp_path / "copy")
    shutil.copytree(finished[0], workdir)
    return workdir


def test_fingerprint_keys_exactly_what_changes_the_computation():
    base = fingerprint(smoke_config())
    assert len(base) == 10 and int(base, 16) >= 0
    for bookkeeping in (
        dict(data_dir="/elsewhere"),
        dict(eval_batch_size=100),
        dict(log_every_steps=1),
        dict(checkpoint_every_steps=0),
        dict(keep_checkpoints=5),
        dict(num_epochs=7),  # the constant schedule does not depend on it
    ):
        assert fingerprint(smoke_config(**bookkeeping)) == base, bookkeeping
    deeper = smoke_config()
    deeper.model_options.depth = 3
    changed = [
        smoke_config(act="relu"),
        smoke_config(learning_rate=0.1),
        smoke_config(seed=1),
        smoke_config(train_noise_std=0.1),
        deeper,
    ]
    assert len({base, *(fingerprint(config) for config in changed)}) == 1 + len(changed)
    cosine = fingerprint(smoke_config(schedule="cosine"))
    assert fingerprint(smoke_config(schedule="cosine", num_epochs=3)) != cosine


def test_fingerprint_is_the_same_in_another_process_and_for_the_saved_config(tmp_path):
    config = smoke_config(act="relu", lr_decay_epochs=(1, 2))
    script = (
        "from experiments.mnist.configs.mnist_mlp import get_config\n"
        "from nish_jax.train import fingerprint\n"
        "config = get_config('smoke')\n"
        "config.update(dict(act='relu', lr_decay_epochs=(1, 2)))\n"
        "print(fingerprint(config))\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    other = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert other.returncode == 0, other.stderr[-2000:]
    assert other.stdout.strip() == fingerprint(config)
    save_config(config, str(tmp_path))
    with open(tmp_path / "config.json") as file:
        assert fingerprint(json.load(file)) == fingerprint(config)


def test_config_differences_name_nested_keys_with_both_values():
    stored = smoke_config().to_dict()
    requested = smoke_config(act="relu", eval_batch_size=100)
    requested.model_options.depth = 3
    assert config_differences(stored, requested) == [
        ("act", "nish", "relu"),
        ("eval_batch_size", 128, 100),
        ("model_options.depth", 2, 3),
    ]
    assert config_differences(json.loads(json.dumps(stored)), smoke_config()) == []


@pytest.mark.parametrize(
    "key, new",
    [("act", "relu"), ("learning_rate", 30.0), ("model_options.depth", 3)],
)
def test_a_computation_change_is_refused_naming_key_and_values(finished, key, new):
    workdir, _ = finished
    before = snapshot(workdir)
    config = smoke_config()
    old = config.model_options.depth if key == "model_options.depth" else config[key]
    if key == "model_options.depth":
        config.model_options.depth = new
    else:
        config[key] = new
    with pytest.raises(WorkdirMismatchError) as error:
        train_and_evaluate(config, workdir)
    message = str(error.value)
    assert f"{key}: {old!r} (workdir) -> {new!r} (requested)" in message
    assert workdir in message and "new workdir" in message and "--overwrite" in message
    assert snapshot(workdir) == before  # config.json, checkpoints and metrics untouched


def test_a_run_length_change_is_refused_where_the_schedule_depends_on_it(tmp_path):
    # A cosine run whose process died before its first checkpoint: only config.json exists.
    workdir = str(tmp_path)
    save_config(smoke_config(schedule="cosine"), workdir)
    with pytest.raises(WorkdirMismatchError, match=r"num_epochs: 2 \(workdir\) -> 3 \(requested"):
        train_and_evaluate(smoke_config(schedule="cosine", num_epochs=3), workdir)


def test_bookkeeping_changes_resume_with_one_note(finished, finished_copy, caplog):
    _, reference = finished
    config = smoke_config(
        eval_batch_size=100, log_every_steps=2, checkpoint_every_steps=7, keep_checkpoints=3
    )
    with caplog.at_level(logging.WARNING):
        result = train_and_evaluate(config, finished_copy)
    notes = [record.getMessage() for record in caplog.records if "resuming with" in record.message]
    assert len(notes) == 1
    for change in (
        "eval_batch_size 128 -> 100",
        "log_every_steps 4 -> 2",
        "checkpoint_every_steps 5 -> 7",
        "keep_checkpoints 2 -> 3",
    ):
        assert change in notes[0]
    assert result.steps == reference.steps
    for mine, theirs in zip(result.runs, reference.runs, strict=True):
        assert mine["test_loss"] == pytest.approx(theirs["test_loss"], rel=1e-6)  # summed apart
        assert {k: v for k, v in mine.items() if k != "test_loss"} == {
            k: v for k, v in theirs.items() if k != "test_loss"
        }
    with open(os.path.join(finished_copy, "config.json")) as file:
        assert json.load(file)["eval_batch_size"] == 100


def test_a_longer_constant_rate_run_continues_like_one_trained_that_long(finished, tmp_path):
    reference_dir, reference = finished
    workdir = str(tmp_path)
    train_and_evaluate(smoke_config(num_epochs=1), workdir)
    extended = train_and_evaluate(smoke_config(num_epochs=2), workdir)
    assert extended.runs == reference.runs
    assert without_timing(read_rows(workdir, "epochs")) == without_timing(
        read_rows(reference_dir, "epochs")
    )


def test_asking_for_fewer_steps_than_were_trained_is_refused(finished):
    workdir, _ = finished
    before = snapshot(workdir)
    with pytest.raises(WorkdirMismatchError, match=r"trained to step 32 .*num_epochs >= 2"):
        train_and_evaluate(smoke_config(num_epochs=1), workdir)
    assert snapshot(workdir) == before


def test_checkpoints_without_their_config_are_refused(finished_copy):
    os.remove(os.path.join(finished_copy, "config.json"))
    with pytest.raises(WorkdirMismatchError, match="checkpoints but no config.json"):
        train_and_evaluate(smoke_config(), finished_copy)


def test_overwrite_deletes_the_old_run_and_starts_fresh(finished_copy, tmp_path):
    relu = smoke_config(act="relu")
    fresh = train_and_evaluate(relu, str(tmp_path / "fresh"))
    overwritten = train_and_evaluate(relu, finished_copy, overwrite=True)
    assert overwritten.runs == fresh.runs
    for stream in ("train_steps", "epochs"):
        assert without_timing(read_rows(finished_copy, stream)) == without_timing(
            read_rows(str(tmp_path / "fresh"), stream)
        )
    with open(os.path.join(finished_copy, "config.json")) as file:
        assert json.load(file)["act"] == "relu"


HOLD_LOCK = """
import sys, time
from nish_jax.train.workdir import lock
with lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_busy_workdir_fails_at_once_and_a_dead_holder_does_not_block(finished, finished_copy):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, finished_copy],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkdirBusyError) as error:
            train_and_evaluate(smoke_config(), finished_copy)
        assert finished_copy in str(error.value) and f"pid {holder.pid}" in str(error.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert os.path.exists(os.path.join(finished_copy, LOCK_FILE))  # left behind by the dead
    assert train_and_evaluate(smoke_config(), finished_copy).runs == finished[1].runs
