"""The command line a user types: ``python -m experiments <name>`` lists what it accepts and
names what it does not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from experiments import registry

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_an_experiment_it_lists_every_registered_one():
    done = run("--help")
    assert done.returncode == 0
    for name in registry.names():
        assert f"  {name} " in done.stdout
    assert run().returncode == 2


def test_help_lists_the_variants_and_every_config_key_with_its_default():
    done = run("depth_sweep", "--help")
    assert done.returncode == 0, done.stderr
    assert "Variants (--config=<variant>): origin, full, ours, quick, smoke" in done.stdout
    assert "  train.learning_rate = 0.05" in done.stdout  # the default variant's (quick)
    full = run("depth_sweep", "--config=full", "--help")
    assert "  train.learning_rate = 0.01" in full.stdout and "  train.num_runs = 5" in full.stdout


@pytest.mark.parametrize(
    ("args", "named", "valid"),
    [
        (("nope",), "unknown experiment 'nope'", "depth_sweep, noise_robustness"),
        (("depth_sweep", "--config=nope"), "unknown variant 'nope'", "'origin', 'full'"),
        (
            ("depth_sweep", "--config.no_such_key=1"),
            "unknown config key 'no_such_key'",
            "train.learning_rate",
        ),
    ],
)
def test_a_bad_name_is_one_line_that_lists_the_valid_choices(args, named, valid):
    done = run(*args)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and named in line and valid in line
