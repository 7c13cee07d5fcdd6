"""A few real CIFAR-10 test images, read straight from the JPEG archive found through
NISH_DATA_DIR (tests only)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from nish_jax.data import CIFAR10_CLASSES, dataset_dir

# Per-channel statistics of the CIFAR-10 training set, to give the networks standardised inputs.
_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
_STD = np.array([0.2470, 0.2435, 0.2616], np.float32)


def cifar10_archive() -> Path:
    """The real CIFAR-10 test archive on the NISH_DATA_DIR search path."""
    return dataset_dir("cifar10") / "test.tar.gz"


def cifar10_jpegs(per_class: int) -> dict[str, list[tuple[str, bytes]]]:
    """(file name, JPEG bytes) of the first `per_class` images of each class, by class name."""
    found: dict[str, list[tuple[str, bytes]]] = {name: [] for name in CIFAR10_CLASSES}
    with tarfile.open(cifar10_archive()) as tar:
        for member in tar:
            if not member.isfile():
                continue
            class_name, file_name = Path(member.name).parts[-2:]
            if len(found[class_name]) < per_class:
                found[class_name].append((file_name, tar.extractfile(member).read()))
            if all(len(files) == per_class for files in found.values()):
                return found
    raise AssertionError(f"{cifar10_archive()} holds fewer than {per_class} images a class")


def cifar10_images(count: int, size: int = 32) -> np.ndarray:
    """``count`` standardised float32 NHWC images, one per class in turn, resized to ``size``."""
    per_class = -(-count // 10)
    chosen: dict[str, list[bytes]] = {}
    with tarfile.open(cifar10_archive()) as archive:
        for member in archive:
            if not member.name.endswith(".jpg"):
                continue
            label = Path(member.name).parent.name
            if len(chosen.setdefault(label, [])) < per_class:
                chosen[label].append(archive.extractfile(member).read())
            if sum(map(len, chosen.values())) >= per_class * 10:
                break
    in_turn = [data for group in zip(*chosen.values(), strict=False) for data in group]
    images = []
    for data in in_turn[:count]:
        image = Image.open(io.BytesIO(data)).convert("RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        images.append(np.asarray(image, np.float32) / 255.0)
    return (np.stack(images) - _MEAN) / _STD
