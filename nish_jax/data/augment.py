"""The on-device input pipeline: pure JAX, jit- and vmap-able, deterministic for a PRNG key.

Images arrive as uint8 NHWC batches; :func:`make_preprocess` builds the function a training step
calls to turn them into normalised float32 inputs. Pixel-space operations (crop, flips, noise)
work on the [0, 1] scale, before the per-channel normalisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

Preprocess = Callable[[jax.Array, jax.Array, bool], jax.Array]
"""``preprocess(key, uint8_images, train) -> float32 images``, as :func:`make_preprocess` builds."""


def _check_non_negative(name: str, value: float) -> None:
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def to_unit_range(images: jax.Array) -> jax.Array:
    """Scale uint8 images from [0, 255] to float32 [0, 1].

    Args:
      images: uint8 images, any shape.

    Returns:
      The float32 images on the [0, 1] scale.
    """
    return images.astype(jnp.float32) / 255.0


def normalize(images: jax.Array, mean: Sequence[float], std: Sequence[float]) -> jax.Array:
    """Normalise per channel: ``(x - mean) / std``.

    Args:
      images: float NHWC images on the [0, 1] scale.
      mean: the per-channel means (as in :data:`nish_jax.data.NORMALIZATION`).
      std: the per-channel standard deviations.

    Returns:
      The normalised float32 images.
    """
    mean_arr = jnp.asarray(mean, jnp.float32)
    std_arr = jnp.asarray(std, jnp.float32)
    return (images - mean_arr) / std_arr


def random_crop(key: jax.Array, images: jax.Array, padding: int) -> jax.Array:
    """Zero-pad each side, then crop back to the original size at a random offset per example.

    Args:
      key: the PRNG key of the offsets.
      images: NHWC images.
      padding: the zero padding of each side, in pixels (0: the images as they are).

    Returns:
      The cropped images, of the input's shape.

    Raises:
      ValueError: ``padding`` is negative.
    """
    _check_non_negative("crop padding", padding)
    if padding == 0:
        return images
    batch, height, width, channels = images.shape
    padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    offsets = jax.random.randint(key, (batch, 2), 0, 2 * padding + 1)

    def crop_one(image: jax.Array, offset: jax.Array) -> jax.Array:
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, channels))

    return jax.vmap(crop_one)(padded, offsets)


def random_flip(key: jax.Array, images: jax.Array, axis: int) -> jax.Array:
    """Flip each example along ``axis`` with probability 0.5.

    Args:
      key: the PRNG key of the flips.
      images: NHWC images.
      axis: 1 (vertical flip) or 2 (horizontal flip).

    Returns:
      The images, each flipped or not.

    Raises:
      ValueError: ``axis`` is not 1 or 2.
    """
    if axis not in (1, 2):
        raise ValueError(f"flip axis must be 1 (vertical) or 2 (horizontal), got {axis}")
    flip = jax.random.bernoulli(key, 0.5, (images.shape[0], 1, 1, 1))
    return jnp.where(flip, jnp.flip(images, axis=axis), images)


def resize(images: jax.Array, image_size: int) -> jax.Array:
    """Resize NHWC float images bilinearly to ``image_size x image_size``.

    Args:
      images: float NHWC images.
      image_size: the side length of the result.

    Returns:
      The resized images.

    Raises:
      ValueError: ``image_size`` is not positive.
    """
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    batch, _, _, channels = images.shape
    return jax.image.resize(images, (batch, image_size, image_size, channels), "bilinear")


def add_gaussian_noise(key: jax.Array, images: jax.Array, std: float) -> jax.Array:
    """Add zero-mean Gaussian noise (no clipping, so the noise keeps exactly the asked statistics).

    Args:
      key: the PRNG key of the noise.
      images: float images on the [0, 1] scale.
      std: the noise's standard deviation (0: the images as they are).

    Returns:
      The noisy images, in the input's dtype.

    Raises:
      ValueError: ``std`` is negative.
    """
    _check_non_negative("noise std", std)
    if std == 0:
        return images
    return images + std * jax.random.normal(key, images.shape, images.dtype)


def make_preprocess(
    *,
    mean: Sequence[float],
    std: Sequence[float],
    crop_padding: int = 0,
    hflip: bool = False,
    vflip: bool = False,
    image_size: int | None = None,
    noise_std: float = 0.0,
    eval_noise_std: float | None = None,
) -> Preprocess:
    """Build ``preprocess(key, uint8_images, train) -> float32 images`` for a jitted step.

    The order: [0, 1] scale, resize (if ``image_size``), then for ``train=True`` the random crop
    and flips, then Gaussian noise (its std on the [0, 1] pixel scale), then normalisation.
    ``train`` must be a Python bool (static under jit).

    Args:
      mean: the per-channel means of the normalisation (:data:`nish_jax.data.NORMALIZATION`).
      std: the per-channel standard deviations, all positive.
      crop_padding: the padding of the random crop in training (0: no crop).
      hflip: flip horizontally at random in training.
      vflip: flip vertically at random in training.
      image_size: resize to ``image_size x image_size`` first (train and evaluation).
      noise_std: Gaussian noise in training and, unless ``eval_noise_std`` is given, also in
        evaluation (the whole data set is noisy).
      eval_noise_std: the evaluation noise on its own, for example clean training and noisy
        testing.

    Returns:
      The ``preprocess`` function.

    Raises:
      ValueError: ``mean`` and ``std`` differ in length, a std is not positive, or a padding,
        noise or size is out of range.
    """
    if len(mean) != len(std):
        raise ValueError(f"mean {tuple(mean)} and std {tuple(std)} differ in length")
    if any(s <= 0 for s in std):
        raise ValueError(f"std values must be > 0, got {tuple(std)}")
    _check_non_negative("crop_padding", crop_padding)
    _check_non_negative("noise_std", noise_std)
    test_noise = noise_std if eval_noise_std is None else eval_noise_std
    _check_non_negative("eval_noise_std", test_noise)
    if image_size is not None and image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")

    def preprocess(key: jax.Array, images: jax.Array, train: bool) -> jax.Array:
        crop_key, hflip_key, vflip_key, noise_key = jax.random.split(key, 4)
        x = to_unit_range(images)
        if image_size is not None:
            x = resize(x, image_size)
        if train:
            x = random_crop(crop_key, x, crop_padding)
            if hflip:
                x = random_flip(hflip_key, x, axis=2)
            if vflip:
                x = random_flip(vflip_key, x, axis=1)
        x = add_gaussian_noise(noise_key, x, noise_std if train else test_noise)
        return normalize(x, mean, std)

    return preprocess
