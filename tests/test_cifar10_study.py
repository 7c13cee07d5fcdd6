"""The CIFAR-10 study (experiments/cifar10_study.py) and its airbench94 network and recipe, on real
CIFAR-10 images: the smoke variant end to end, the whitening layer, the alternating flip,
determinism, and the activation at every nonlinearity."""

from __future__ import annotations

import glob
import itertools
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import readme, registry
from experiments.cifar10 import study as cifar10_study
from experiments.cifar10.airbench import WHITENING_WIDTH, Airbench, whitening_kernel
from experiments.cifar10.airbench_recipe import (
    Programs,
    Recipe,
    learning_rate_factor,
    nesterov_sgd,
    normalize,
    put_on_device,
    train_seeds,
)
from experiments.cifar10.configs.cifar10_study import AIRBENCH94, get_config
from experiments.core import experiment
from nish_jax.activations import get_activation
from nish_jax.data import NORMALIZATION, load
from nish_jax.train.machine import computed_on

MEAN, STD = (jnp.asarray(v) for v in NORMALIZATION["cifar10"])
# A recipe small enough to train in seconds on a CPU.
TINY = Recipe(**{**AIRBENCH94, "widths": (4, 8, 8), "batch_size": 128, "train_epochs": 1.0})


def real_images(split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """A class-balanced subset of real CIFAR-10 (uint8 NHWC images, labels), mixed classes."""
    dataset = load("cifar10", split).subset(count)
    order = np.random.default_rng(0).permutation(count)
    return dataset.images[order], dataset.labels[order]


@pytest.fixture(scope="module")
def tiny_data():
    return put_on_device(real_images("train", 512), real_images("test", 100), MEAN, STD, TINY)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    config = get_config("smoke")
    config.output_root = str(tmp_path_factory.mktemp("results"))
    return config, experiment.run(cifar10_study, config)


def test_smoke_study_writes_every_output_with_paired_comparisons(smoke):
    config, results = smoke
    for name in ("runs", "comparisons", "table", "table_csv", "figure", "summary", "config"):
        assert os.path.getsize(results.files[name]) > 0, name
    pairs = {(row["activation"], row["seed"]) for row in results.runs}
    assert pairs == set(itertools.product(config.activations, range(config.num_seeds)))
    for row in results.runs:
        assert row["diverged"] is False and row["dataset"] == "cifar10 (JPEG copy)"
        assert 0 <= row["test_top1_percent"] <= 100 and math.isfinite(row["test_loss"])
    (comparison,) = results.comparisons  # nish against mish
    assert (comparison["activation"], comparison["baseline"]) == ("nish", "mish")
    assert comparison["n_pairs"] == config.num_seeds and comparison["primary"]
    by_run = {(r["activation"], r["seed"]): r["test_top1_percent"] for r in results.runs}
    differences = [by_run["nish", s] - by_run["mish", s] for s in range(config.num_seeds)]
    assert comparison["mean_diff"] == pytest.approx(np.mean(differences))
    table = open(results.files["table_csv"]).read()
    assert "mde_80_power" in table.splitlines()[0]
    assert "JPEG" in open(results.files["table"]).read()
    here = computed_on(jax.devices())  # every run says where it was computed, and meta counts
    assert {row["trained_on"] for row in results.runs} == {here}
    meta = json.load(open(results.files["meta"]))
    assert meta["trained_on"] == {here: len(results.runs)}


def test_smoke_study_republishes_from_its_committed_files(smoke):
    config, results = smoke
    committed, runs, meta = readme.load_committed(results.directory)
    committed.output_root = config.output_root
    again = experiment.publish(cifar10_study, committed, runs, meta)
    assert len(again.comparisons) == len(results.comparisons)
    for new, old in zip(again.comparisons, results.comparisons, strict=True):
        for key, value in old.items():
            if isinstance(value, float):
                assert new[key] == pytest.approx(value, nan_ok=True), key
            else:
                assert new[key] == value, key


def test_a_stopped_study_continues_and_a_changed_one_retrains(smoke, monkeypatch, capsys):
    """Finished runs are kept: the same config trains nothing again; another setting does. Each
    run first says how much of the study is recorded."""
    config, results = smoke
    trained = []
    real_train_seeds = cifar10_study.train_seeds

    def counting(programs, seeds, data):
        trained.extend((programs.model.act.__name__, seed) for seed in seeds)
        return real_train_seeds(programs, seeds, data)

    monkeypatch.setattr(cifar10_study, "train_seeds", counting)
    capsys.readouterr()
    again = experiment.run(cifar10_study, config)
    assert trained == [] and again.runs == results.runs
    finished = os.path.join(config.output_root, "finished")
    assert f"cifar10 study [smoke]: 4 of 4 runs recorded in {finished}; 0 to run" in (
        capsys.readouterr().out
    )
    for act, seed in (("mish", 1), ("nish", 0)):
        (path,) = glob.glob(os.path.join(finished, f"cifar10_study-{act}-seed{seed}-*.json"))
        os.remove(path)
    again = experiment.run(cifar10_study, config)  # as if stopped before these two runs finished
    assert "2 of 4 runs recorded" in capsys.readouterr().out
    # Seed by seed, every activation within a seed: a study stopped part way has complete pairs.
    assert trained == [("nish", 0), ("mish", 1)]
    assert [(row["activation"], row["seed"]) for row in again.runs] == [
        (row["activation"], row["seed"]) for row in results.runs
    ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("activations", (), "config.activations is empty"),
        ("activations", ("mish", "nsih"), "nsih"),
        ("compute_dtype", "float16", "'float16'; valid: "),
        ("seeds_per_program", 3, "seeds_per_program=3 must divide config.num_seeds=2"),
    ],
)
def test_a_bad_study_config_is_refused_before_any_data_is_read(key, value, message):
    config = get_config("smoke")
    config[key] = value
    with pytest.raises(ValueError, match=message):
        cifar10_study.check_config(config)


def test_the_readme_puts_the_study_beside_the_papers_table1(smoke):
    """The README's Table 1 section: the paper's gaps, then the study's paired gap to Mish with
    its scale, its minimum detectable difference and a verdict."""
    config, results = smoke
    section = readme.table1_side_by_side(
        {("cifar10_study", config.name): readme.read_result(results.directory)}
    )
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    assert [row.split(" | ")[0] for row in rows[:3]] == [
        f"| paper, {epochs} epochs" for epochs in (50, 100, 150)
    ]
    ours = rows[-1]
    (comparison,) = results.comparisons
    assert f"ours: cifar10_study/{config.name}" in ours
    assert cifar10_study.scale(config) in ours and "widths 8/16/16" in ours
    assert f"{comparison['mean_diff']:+.2f} [{comparison['ci_low']:+.2f}," in ours
    # a null result says how small a gap it rules out; a significant one needs no such sentence
    assert ("detected with 80% power" in ours) == (comparison["p_holm"] >= 0.05)
    (claim,) = registry.get("cifar10_study").claims
    assert ours.rstrip(" |").endswith(readme.verdict(claim, results.comparisons))


def test_whitening_layer_whitens_real_patches():
    images = normalize(jnp.asarray(real_images("train", 200)[0]), MEAN, STD, jnp.float32)
    inputs = []

    def record(x):
        inputs.append(x)
        return x

    model = Airbench(record, (4, 8, 8))
    variables = model.init(jax.random.key(0), images[:1])
    kernel, eigenvalues = whitening_kernel(images)
    variables = {**variables, "whitening": {"kernel": jnp.asarray(kernel)}}
    inputs.clear()
    model.apply(variables, images)
    whitened = np.asarray(inputs[0], np.float64).reshape(-1, WHITENING_WIDTH)
    half = WHITENING_WIDTH // 2
    np.testing.assert_allclose(whitened[:, half:], -whitened[:, :half], atol=1e-6)
    covariance = whitened[:, :half].T @ whitened[:, :half] / len(whitened)
    eps = 5e-4
    expected = np.diag(eigenvalues / (eigenvalues + eps))
    np.testing.assert_allclose(covariance, expected, atol=2e-3)
    retained = eigenvalues > 50 * eps  # directions well above the regulariser
    assert retained.sum() >= 4  # on 2x2 CIFAR patches: 6 of the 12
    np.testing.assert_allclose(covariance[np.ix_(retained, retained)], np.eye(retained.sum()),
                               atol=0.025)  # fmt: skip


def test_alternating_flip_mirrors_each_image_in_exactly_one_of_two_epochs(tiny_data):
    programs = Programs(get_activation("relu"), TINY, tiny_data, jnp.float32)
    seeds = jnp.array([0, 1], jnp.int32)
    flips = [np.asarray(programs.plan(seeds, jnp.int32(e), tiny_data)["flips"]) for e in range(4)]
    for epoch in range(3):
        assert np.all(flips[epoch] ^ flips[epoch + 1])
    assert 0.4 < flips[0].mean() < 0.6
    assert not np.array_equal(flips[0][0], flips[0][1])  # seeds differ


def test_same_seed_same_run_alone_or_vmapped_and_the_same_start_for_every_activation(tiny_data):
    relu = Programs(get_activation("relu"), TINY, tiny_data, jnp.float32)
    nish = Programs(get_activation("nish"), TINY, tiny_data, jnp.float32)
    seeds = jnp.array([3], jnp.int32)
    same_start = jax.tree.map(np.array_equal, relu.init(seeds), nish.init(seeds))
    assert all(jax.tree.leaves(same_start))
    same_plan = jax.tree.map(
        np.array_equal,
        relu.plan(seeds, jnp.int32(1), tiny_data),
        nish.plan(seeds, jnp.int32(1), tiny_data),
    )
    assert all(jax.tree.leaves(same_plan))
    first, again = (train_seeds(relu, [3], tiny_data)[0] for _ in range(2))
    other = train_seeds(relu, [4], tiny_data)[0]
    for key in ("test_top1", "test_loss", "train_losses"):
        assert first[key] == again[key]
    assert first["test_loss"] != other["test_loss"]
    side_by_side = train_seeds(relu, [3, 4], tiny_data)  # vmapped: each seed as on its own
    for alone, vmapped in zip((first, other), side_by_side, strict=True):
        assert vmapped["train_losses"] == pytest.approx(alone["train_losses"], rel=1e-5)
        assert vmapped["test_loss"] == pytest.approx(alone["test_loss"], rel=1e-5)


def test_the_optimiser_steps_as_pytorchs_nesterov_sgd_with_airbench94s_groups():
    """airbench94 trains with torch.optim.SGD(nesterov=True): BatchNorm biases at 64x the rate,
    weight_decay = decay / each group's rate, the rate scaled by the schedule, the whitening bias
    dropped from training after 3 epochs. optax's chain takes the same steps."""
    torch = pytest.importorskip("torch")
    recipe = Recipe(**AIRBENCH94)
    steps_per_epoch, total_steps = 2, 9  # the bias freezes at step 6; the schedule peaks at 2
    kilostep = 1024 * (1 + 1 / (1 - recipe.momentum))
    lr, decay = recipe.lr / kilostep, recipe.weight_decay * recipe.batch_size / kilostep
    rng = np.random.default_rng(0)
    params = {
        "whitening_bias": rng.normal(size=(4,)).astype(np.float32),
        "Conv_0": {"kernel": rng.normal(size=(3, 3, 4, 8)).astype(np.float32)},
        "BatchNorm_0": {"bias": rng.normal(size=(8,)).astype(np.float32)},
    }
    grads = [jax.tree.map(lambda p: rng.normal(size=p.shape).astype(np.float32), params)
             for _ in range(total_steps)]  # fmt: skip

    optimizer = nesterov_sgd(recipe, steps_per_epoch, total_steps)
    ours = jax.tree.map(jnp.asarray, params)
    state = optimizer.init(ours)
    for grad in grads:
        updates, state = optimizer.update(grad, state, ours)
        ours = optax.apply_updates(ours, updates)

    tensors = {
        name: torch.tensor(value)
        for name, value in (
            ("whitening_bias", params["whitening_bias"]),
            ("kernel", params["Conv_0"]["kernel"]),
            ("bias", params["BatchNorm_0"]["bias"]),
        )
    }
    for tensor in tensors.values():
        tensor.requires_grad_(True)
    rates = (lr * recipe.bias_scaler, lr, lr)
    groups = [{"params": [tensors["bias"]]}, {"params": [tensors["kernel"]]},
              {"params": [tensors["whitening_bias"]]}]  # fmt: skip
    for group, rate in zip(groups, rates, strict=True):
        group.update(lr=rate, weight_decay=decay / rate)
    theirs = torch.optim.SGD(groups, momentum=recipe.momentum, nesterov=True)
    for step, grad in enumerate(grads):
        factor = float(learning_rate_factor(step, total_steps, recipe))
        for group, rate in zip(theirs.param_groups, rates, strict=True):
            group["lr"] = rate * factor
        tensors["kernel"].grad = torch.tensor(grad["Conv_0"]["kernel"])
        tensors["bias"].grad = torch.tensor(grad["BatchNorm_0"]["bias"])
        frozen = step >= recipe.whiten_bias_epochs * steps_per_epoch
        tensors["whitening_bias"].grad = None if frozen else torch.tensor(grad["whitening_bias"])
        theirs.step()

    for ours_value, name in (
        (ours["Conv_0"]["kernel"], "kernel"),
        (ours["BatchNorm_0"]["bias"], "bias"),
        (ours["whitening_bias"], "whitening_bias"),
    ):
        np.testing.assert_allclose(ours_value, tensors[name].detach().numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours["whitening_bias"], params["whitening_bias"])  # it trained first


def equations(jaxpr) -> list:
    """Every equation of a jaxpr, those of its sub-jaxprs included."""
    found = []
    for eqn in jaxpr.eqns:
        found.append(eqn)
        for param in eqn.params.values():
            for value in param if isinstance(param, list | tuple) else [param]:
                inner = value if hasattr(value, "eqns") else getattr(value, "jaxpr", None)
                if hasattr(inner, "eqns"):
                    found += equations(inner)
    return found


def test_activation_is_every_nonlinearity():
    calls = []

    def counting(x):
        calls.append(x.shape)
        return x

    model = Airbench(counting, (4, 8, 8))
    images = normalize(jnp.asarray(real_images("test", 10)[0]), MEAN, STD, jnp.float32)
    variables = model.init(jax.random.key(0), images)
    calls.clear()
    jaxpr = jax.make_jaxpr(lambda x: model.apply(variables, x, train=True, mutable=True))(images)
    # After the whitening layer, and twice in each of the 3 conv groups, on feature maps.
    assert calls == [(10, 31, 31, 24), (10, 15, 15, 4), (10, 15, 15, 4), (10, 7, 7, 8),
                     (10, 7, 7, 8), (10, 3, 3, 8), (10, 3, 3, 8)]  # fmt: skip
    # With an identity activation nothing else is nonlinear but the max-pools and BatchNorm's
    # clamp of each channel's variance at zero (a per-channel max, not one on feature maps).
    found = equations(jaxpr.jaxpr)
    nonlinear = {"min", "exp", "log", "tanh", "logistic", "erf", "sin", "cos", "select_n"}
    assert not {str(eqn.primitive) for eqn in found} & nonlinear
    for eqn in found:
        if str(eqn.primitive) == "max":
            assert eqn.outvars[0].aval.ndim == 1, eqn
