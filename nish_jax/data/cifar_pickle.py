"""Reader for the official CIFAR-10 "python version" archive (cifar-10-python.tar.gz)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

ARCHIVE_NAME = "cifar-10-python.tar.gz"
_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def read_cifar_batches(batches_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and int32 labels of one split from `cifar-10-batches-py/`."""
    images, labels = [], []
    for name in _BATCHES[split]:
        with open(batches_dir / name, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int32))
    return np.concatenate(images), np.concatenate(labels)
