"""nish_jax.nnx on real MNIST: train/eval modes switch BatchNorm and dropout as in NNX's own
layers, the outputs and running statistics are the linen model's, and nnx.Optimizer trains."""

from itertools import islice

import jax
import numpy as np
import optax
import pytest
from flax import nnx

import nish_jax.nnx
from nish_jax.data import load
from nish_jax.models import create_model

# Small versions of the two MNIST networks; mlp keeps its default dropout of 0.25.
OPTIONS = {
    "mlp": {"num_classes": 10, "act": "nish", "depth": 3, "width": 128},
    "cnn": {"num_classes": 10, "act": "nish", "depth": 3, "width": 16},
}


def normalize(images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    return ((images / 255.0 - np.array(mean)) / np.array(std)).astype(np.float32)


@pytest.fixture(scope="module")
def mnist() -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """40 training batches of 64 images, and 512 test images with their labels."""
    train, test = load("mnist", "train"), load("mnist", "test").subset(512)
    batches = [
        (normalize(images, train.mean, train.std), labels)
        for images, labels in islice(train.batches(64, seed=0, epoch=0), 40)
    ]
    return batches, normalize(test.images, train.mean, train.std), test.labels


@pytest.fixture(scope="module")
def images(mnist) -> np.ndarray:
    return mnist[0][0][0]


def batch_stats(model: nish_jax.nnx.LinenBridge) -> dict:
    """A copy of the running statistics."""
    return jax.tree.map(np.array, model.linen_variables()["batch_stats"])


def assert_trees_close(actual, expected) -> None:
    jax.tree.map(
        lambda a, e: np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6), actual, expected
    )


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_outputs_and_statistics_are_the_linen_models(name, images):
    """With the same variables (and, in train mode, the same dropout key) the NNX model computes
    what the linen model's apply computes: the logits and the new running statistics."""
    linen = create_model(name, **OPTIONS[name])
    variables = jax.jit(linen.init, static_argnames="train")(
        jax.random.key(0), images[:1], train=False
    )
    model = nish_jax.nnx.LinenBridge(linen, variables, rngs=nnx.Rngs(1))
    key = jax.random.key(2)

    model.eval()
    assert_trees_close(model(images), linen.apply(variables, images, train=False))
    assert_trees_close(model.linen_variables(), variables)

    model.train()
    expected, updates = linen.apply(
        variables, images, train=True, rngs={"dropout": key}, mutable=["batch_stats"]
    )
    assert_trees_close(model(images, rngs=key), expected)
    assert_trees_close(batch_stats(model), updates["batch_stats"])


def test_train_mode_updates_the_running_statistics_in_place_eval_mode_does_not(images):
    """The failure users met with nnx.bridge.ToNNX: after model.train(); model(x) the running
    statistics must have moved, in the model's own variables."""
    model = nish_jax.nnx.create_model("mlp", rngs=nnx.Rngs(0), **OPTIONS["mlp"])
    mean = model.variables["batch_stats"]["bn0"]["mean"]  # the nnx.BatchStat itself
    initial = batch_stats(model)

    model.train()
    model(images)
    trained = batch_stats(model)
    for before, after in zip(jax.tree.leaves(initial), jax.tree.leaves(trained), strict=True):
        assert not np.allclose(before, after)
    np.testing.assert_array_equal(mean.get_value(), trained["bn0"]["mean"])

    model.eval()
    model(images)
    assert_trees_close(batch_stats(model), trained)


def test_dropout_is_on_in_train_mode_and_off_in_eval_mode(images):
    model = nish_jax.nnx.create_model("mlp", rngs=nnx.Rngs(0), **OPTIONS["mlp"])
    model.train()
    assert not np.allclose(model(images), model(images))  # a new dropout key every call
    forward = nnx.jit(lambda model, x: model(x))
    assert not np.allclose(forward(model, images), forward(model, images))  # under jit too
    key = jax.random.key(3)
    np.testing.assert_array_equal(model(images, rngs=key), model(images, rngs=key))

    model.eval()
    np.testing.assert_array_equal(model(images), model(images))


def test_nnx_view_sets_the_mode_and_the_two_attributes_must_agree(images):
    model = nish_jax.nnx.create_model("mlp", rngs=nnx.Rngs(0), **OPTIONS["mlp"])
    evaluation = nnx.view(model, deterministic=True, use_running_average=True)
    assert not model.deterministic and not model.use_running_average  # the model is unchanged
    expected = model.module.apply(model.linen_variables(), images, train=False)
    np.testing.assert_allclose(evaluation(images), expected, rtol=1e-5, atol=1e-6)

    model.set_attributes(deterministic=True)
    with pytest.raises(ValueError, match="switches BatchNorm and dropout together"):
        model(images)


@pytest.mark.parametrize(
    "name, optimizer", [("mlp", optax.adam(1e-3)), ("cnn", optax.sgd(0.05, momentum=0.9))]
)
def test_nnx_optimizer_trains_on_mnist(name, optimizer, mnist):
    """40 steps: the training loss falls, and so does the held-out loss in eval mode, which uses
    the running statistics the steps updated."""
    batches, test_images, test_labels = mnist
    model = nish_jax.nnx.create_model(name, rngs=nnx.Rngs(0), **OPTIONS[name])
    nnx_optimizer = nnx.Optimizer(model, optimizer, wrt=nnx.Param)

    def loss_fn(model, images, labels):
        logits = model(images)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    @nnx.jit
    def train_step(model, nnx_optimizer, images, labels):
        loss, grads = nnx.value_and_grad(loss_fn)(model, images, labels)
        nnx_optimizer.update(model, grads)
        return loss

    model.eval()
    initial_test_loss = loss_fn(model, test_images, test_labels)
    model.train()
    losses = [float(train_step(model, nnx_optimizer, *batch)) for batch in batches]
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses

    model.eval()
    test_loss = loss_fn(model, test_images, test_labels)
    assert test_loss < 0.6 * initial_test_loss, (initial_test_loss, test_loss)
    assert np.mean(np.argmax(model(test_images), -1) == test_labels) > 0.4


def test_an_image_model_trains_and_evaluates(images):
    """resnet18 (CIFAR stem) on MNIST digits repeated to three channels."""
    rgb = np.repeat(images[:8], 3, axis=-1)
    model = nish_jax.nnx.create_model(
        "resnet18",
        rngs=nnx.Rngs(0),
        input_shape=rgb.shape[1:],
        num_classes=10,
        act="nish",
        stem="cifar",
    )
    forward = nnx.jit(lambda model, x: model(x))
    initial = batch_stats(model)

    model.train()
    logits = forward(model, rgb)
    assert logits.shape == (8, 10) and np.isfinite(logits).all()
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), initial, batch_stats(model))
    assert all(jax.tree.leaves(changed))

    model.eval()
    trained = batch_stats(model)
    np.testing.assert_array_equal(forward(model, rgb), forward(model, rgb))
    assert_trees_close(batch_stats(model), trained)
