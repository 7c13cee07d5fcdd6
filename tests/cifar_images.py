"""A few real CIFAR-10 test images, read straight from the shared JPEG archive (tests only)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Per-channel statistics of the CIFAR-10 training set, to give the networks standardised inputs.
_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
_STD = np.array([0.2470, 0.2435, 0.2616], np.float32)


def cifar10_archive() -> Path:
    """The real CIFAR-10 test archive under NISH_DATA_DIR (the test is skipped without it)."""
    for directory in os.environ.get("NISH_DATA_DIR", "").split(os.pathsep):
        path = Path(directory) / "cifar10" / "test.tar.gz"
        if directory and path.is_file():
            return path
    pytest.skip("CIFAR-10 test.tar.gz not found under NISH_DATA_DIR")


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
