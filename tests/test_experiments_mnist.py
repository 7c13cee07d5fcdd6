"""The MNIST experiments end to end on their "smoke" configs (real MNIST, tiny), and the gradient
flow computation on a real batch."""

from __future__ import annotations

import csv
import math
import os

import jax
import numpy as np
import optax
import pytest

from experiments import demo, depth_sweep, gradient_flow, noise_robustness
from nish_jax.data import load
from nish_jax.models import create_model

CONFIGS = os.path.join(os.path.dirname(depth_sweep.__file__), "configs")


@pytest.fixture(scope="module")
def output_root(tmp_path_factory):
    """One results root for the module, so the experiments share the XLA compilation cache."""
    return str(tmp_path_factory.mktemp("results"))


def run_smoke(module, output_root: str) -> str:
    config = os.path.join(CONFIGS, f"{module.EXPERIMENT}.py") + ":smoke"
    directory = module.main(
        [module.EXPERIMENT, "--config", config, f"--config.output_root={output_root}"]
    )
    assert directory == os.path.join(output_root, module.EXPERIMENT, "smoke")
    return directory


def read_csv(path: str) -> list[dict[str, str]]:
    with open(path) as file:
        return list(csv.DictReader(file))


def check_outputs(directory: str, activations: tuple[str, ...]) -> list[dict[str, str]]:
    """Figure, labelled table and summary exist; returns the runs.csv rows."""
    with open(os.path.join(directory, "figure.png"), "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    table = open(os.path.join(directory, "table.md")).read()
    assert "SMOKE run" in table.splitlines()[0]
    header = next(line for line in table.splitlines() if line.startswith("|"))
    assert all(act in header or f"| {act} |" in table for act in activations)
    assert {row["config"] for row in read_csv(os.path.join(directory, "table.csv"))} == {"smoke"}
    summary = open(os.path.join(directory, "summary.md")).read()
    assert "SMOKE run" in summary and "figure.png" in summary
    return read_csv(os.path.join(directory, "runs.csv"))


def test_depth_sweep_smoke(output_root):
    directory = run_smoke(depth_sweep, output_root)
    rows = check_outputs(directory, ("relu", "nish"))
    points = {(row["act"], int(row["depth"]), int(row["run"])) for row in rows}
    assert points == {(a, d, r) for a in ("relu", "nish") for d in (1, 3) for r in (0, 1)}
    assert len(rows) == 8
    assert all(0.0 <= float(row["test_top1"]) <= 1.0 for row in rows)
    table = read_csv(os.path.join(directory, "table.csv"))
    assert {(row["act"], row["depth"]) for row in table} == {
        (a, d) for a in ("relu", "nish") for d in ("1", "3")
    }


def test_noise_robustness_smoke(output_root):
    directory = run_smoke(noise_robustness, output_root)
    rows = check_outputs(directory, ("relu", "nish"))
    assert len(rows) == 2 * 2 * 2 * 3  # activations x depths x runs x noise levels
    assert {float(row["noise_std"]) for row in rows} == {0.0, 0.5, 1.0}
    assert all(math.isfinite(float(row["test_loss"])) for row in rows)
    # One trained model per run is tested at every level: the same seeds at every noise level.
    for act in ("relu", "nish"):
        levels = [row for row in rows if row["act"] == act and row["depth"] == "2"]
        assert len({row["seed"] for row in levels}) == 2


def test_gradient_flow_smoke(output_root):
    directory = run_smoke(gradient_flow, output_root)
    rows = check_outputs(directory, ("relu", "nish"))
    # activations x stages x runs x layers (1 + 3)
    assert len(rows) == 2 * 2 * 2 * (1 + 3)
    dead = {
        act: [float(row["dead_fraction"]) for row in rows if row["act"] == act]
        for act in ("relu", "nish")
    }
    assert min(dead["relu"]) > 0.05 and max(dead["nish"]) == 0.0


@pytest.fixture(scope="module")
def mnist_batch():
    return gradient_flow.probe_batch(load("mnist", "test"), 16)


def direct_kernel_norms(model, variables, image, label) -> list[float]:
    """The hidden kernels' gradient norms of one example, by plain jax.grad."""

    def loss(params):
        logits = model.apply({**variables, "params": params}, image[None], train=False)
        return optax.softmax_cross_entropy_with_integer_labels(logits, label[None]).sum()

    grads = jax.grad(loss)(variables["params"])
    return [float(np.linalg.norm(grads[f"dense{i}"]["kernel"])) for i in range(model.depth)]


@pytest.mark.parametrize("act", ["relu", "nish"])
def test_gradient_flow_per_example_on_real_batch(mnist_batch, act):
    inputs, labels = mnist_batch
    model = create_model("mlp", num_classes=10, act=act, depth=3, width=32)
    variables = model.init(jax.random.PRNGKey(0), inputs[:1], train=False)
    flow = gradient_flow.make_gradient_flow(model, chunk_size=8)(variables, inputs, labels)
    assert flow.kernel_norms.shape == flow.preactivation_norms.shape == (16, 3)
    assert flow.dead_fraction.shape == (16, 3)
    assert np.all(flow.kernel_norms > 0)
    np.testing.assert_allclose(
        flow.kernel_norms[5], direct_kernel_norms(model, variables, inputs[5], labels[5]), rtol=1e-4
    )
    if act == "relu":  # every unit below zero has a zero gradient: about half of them at init
        assert 0.2 < flow.dead_fraction.mean() < 0.8
    else:  # Nish's derivative is nonzero almost everywhere
        assert np.all(flow.dead_fraction == 0.0)


def test_demo_without_data_says_how_to_provide_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NISH_DATA_DIR", str(tmp_path))
    assert demo.main(["--output-root", str(tmp_path / "results")]) == 2
    error = capsys.readouterr().err
    assert "needs the real MNIST" in error and "NISH_DATA_DIR" in error
    assert not os.path.exists(tmp_path / "results")
