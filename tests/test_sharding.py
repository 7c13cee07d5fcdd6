"""Data-parallel training over 4 (host-platform) CPU devices equals training on one device."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs in a fresh process: the device count is fixed when jax starts.
SCRIPT = """
import json, sys
import jax, numpy as np
from experiments.mnist.configs.mnist_mlp import get_config
from nish_jax.train import train_and_evaluate

assert jax.device_count() == 4, jax.devices()
config = get_config("smoke")
config.update(dict(num_runs=2, num_epochs=1))
one = train_and_evaluate(config, sys.argv[1] + "/one", devices=jax.devices()[:1])
four = train_and_evaluate(config, sys.argv[1] + "/four")
batch_spec = four.state.params["dense0"]["kernel"].sharding.spec
param_gap = max(
    float(np.abs(np.asarray(a) - np.asarray(b)).max())
    for a, b in zip(jax.tree_util.tree_leaves(one.state.params),
                    jax.tree_util.tree_leaves(four.state.params))
)
try:
    config.batch_size = 30
    train_and_evaluate(config, sys.argv[1] + "/bad")
    error = ""
except ValueError as exc:
    error = str(exc)
print(json.dumps(dict(one=one.runs, four=four.runs, param_gap=param_gap,
                      replicated=all(s is None for s in batch_spec), error=error)))
"""


def test_four_devices_train_like_one(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    process = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout.strip().splitlines()[-1])
    for single, sharded in zip(result["one"], result["four"], strict=True):
        for key in ("train_loss", "train_top1", "test_loss", "test_top1", "test_top5"):
            value = single[key]
            assert abs(sharded[key] - value) <= 1e-5 * max(1.0, abs(value)), key
        assert (single["diverged"], single["diverged_step"]) == (False, None)
        assert (sharded["diverged"], sharded["diverged_step"]) == (False, None)
    assert result["param_gap"] < 1e-5
    assert result["replicated"]  # parameters are replicated, only the batch is split
    assert "batch_size=30" in result["error"] and "4 devices" in result["error"]
