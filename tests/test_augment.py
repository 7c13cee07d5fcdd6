"""nish_jax.data.augment on real images: exact crops and flips, noise statistics, jit and vmap."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nish_jax.data import NORMALIZATION, load
from nish_jax.data.augment import (
    add_gaussian_noise,
    make_preprocess,
    normalize,
    random_crop,
    random_flip,
    resize,
    to_unit_range,
)


@pytest.fixture(scope="module")
def cifar_images():
    return jnp.asarray(load("cifar10", "test").subset(64).images)


@pytest.fixture(scope="module")
def mnist_images():
    return jnp.asarray(load("mnist", "test").subset(512).images)


def test_random_crop_shifts_content_by_a_per_example_offset(cifar_images):
    padding = 4
    cropped = random_crop(jax.random.key(0), cifar_images, padding)
    assert cropped.shape == cifar_images.shape and cropped.dtype == cifar_images.dtype
    padded = np.pad(np.asarray(cifar_images), ((0, 0), (4, 4), (4, 4), (0, 0)))
    offsets = []
    for image, out in zip(padded, np.asarray(cropped), strict=True):
        matches = [
            (dy, dx)
            for dy in range(2 * padding + 1)
            for dx in range(2 * padding + 1)
            if np.array_equal(image[dy : dy + 32, dx : dx + 32], out)
        ]
        assert matches, "a crop is not a window of the padded image"
        offsets.append(matches[0])
    assert len(set(offsets)) > 10 and any(o != (padding, padding) for o in offsets)


@pytest.mark.parametrize("axis", [1, 2])
def test_flips_are_exact_per_example_flips(cifar_images, axis):
    flipped = np.asarray(random_flip(jax.random.key(1), cifar_images, axis))
    images = np.asarray(cifar_images)
    is_flipped = np.array(
        [np.array_equal(f, np.flip(x, axis - 1)) for f, x in zip(flipped, images, strict=True)]
    )
    is_same = np.array([np.array_equal(f, x) for f, x in zip(flipped, images, strict=True)])
    assert np.all(is_flipped | is_same)
    assert 10 < sum(is_flipped) < 54 and 10 < sum(is_same) < 54


def test_gaussian_noise_has_the_asked_standard_deviation(mnist_images):
    clean = to_unit_range(mnist_images)
    noise = np.asarray(add_gaussian_noise(jax.random.key(2), clean, 0.3) - clean)
    assert noise.std() == pytest.approx(0.3, rel=0.01)
    assert abs(noise.mean()) < 0.002
    assert add_gaussian_noise(jax.random.key(2), clean, 0.0) is clean


def test_mnist_normalisation_constants_standardise_the_data(mnist_images):
    mean, std = NORMALIZATION["mnist"]
    x = np.asarray(normalize(to_unit_range(mnist_images), mean, std))
    assert abs(x.mean()) < 0.05 and x.std() == pytest.approx(1.0, abs=0.05)


def test_preprocess_is_deterministic_for_a_key_and_varies_across_keys(cifar_images):
    mean, std = NORMALIZATION["cifar10"]
    preprocess = make_preprocess(mean=mean, std=std, crop_padding=4, hflip=True, vflip=True)
    a = preprocess(jax.random.key(3), cifar_images, True)
    assert a.dtype == jnp.float32 and a.shape == cifar_images.shape
    np.testing.assert_array_equal(a, preprocess(jax.random.key(3), cifar_images, True))
    assert not np.array_equal(a, preprocess(jax.random.key(4), cifar_images, True))
    plain = normalize(to_unit_range(cifar_images), mean, std)
    np.testing.assert_array_equal(preprocess(jax.random.key(3), cifar_images, False), plain)


def test_eval_noise_is_separate_from_training_noise(mnist_images):
    mean, std = NORMALIZATION["mnist"]
    clean_train = make_preprocess(mean=mean, std=std, eval_noise_std=0.2)
    plain = normalize(to_unit_range(mnist_images), mean, std)
    key = jax.random.key(5)
    np.testing.assert_array_equal(clean_train(key, mnist_images, True), plain)
    noisy_eval = np.asarray(clean_train(key, mnist_images, False) - plain) * std[0]
    assert noisy_eval.std() == pytest.approx(0.2, rel=0.02)
    both = make_preprocess(mean=mean, std=std, noise_std=0.1)
    assert np.asarray(both(key, mnist_images, False) - plain).std() * std[0] == pytest.approx(
        0.1, rel=0.02
    )


def test_preprocess_runs_under_jit_and_vmap(cifar_images):
    mean, std = NORMALIZATION["cifar10"]
    preprocess = make_preprocess(mean=mean, std=std, crop_padding=4, hflip=True, noise_std=0.05)
    key = jax.random.key(6)
    jitted = jax.jit(preprocess, static_argnums=2)
    np.testing.assert_allclose(
        jitted(key, cifar_images, True), preprocess(key, cifar_images, True), atol=1e-5
    )
    keys = jax.random.split(key, 2)
    per_device = jax.jit(jax.vmap(functools.partial(preprocess, train=True)))(
        keys, cifar_images.reshape(2, 32, 32, 32, 3)
    )
    assert per_device.shape == (2, 32, 32, 32, 3)
    np.testing.assert_allclose(per_device[1], jitted(keys[1], cifar_images[32:], True), atol=1e-5)


def test_resize_to_the_asked_size_keeps_the_content(mnist_images):
    images = to_unit_range(mnist_images[:4])
    resized = resize(images, 56)
    assert resized.shape == (4, 56, 56, 1)
    assert float(jnp.abs(resized.mean() - images.mean())) < 0.01
    mean, std = NORMALIZATION["mnist"]
    assert make_preprocess(mean=mean, std=std, image_size=32)(
        jax.random.key(0), mnist_images[:4], False
    ).shape == (4, 32, 32, 1)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"crop_padding": -1}, "-1"),
        ({"noise_std": -0.5}, "-0.5"),
        ({"eval_noise_std": -0.25}, "-0.25"),
        ({"std": (0.0,)}, "0.0"),
        ({"image_size": 0}, "0"),
    ],
)
def test_bad_arguments_are_refused_naming_the_value(options, named):
    kwargs = {"mean": (0.5,), "std": (0.5,), **options}
    with pytest.raises(ValueError, match=named):
        make_preprocess(**kwargs)
