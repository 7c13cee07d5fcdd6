"""Reader for the official CIFAR-10 "python version" archive (cifar-10-python.tar.gz)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from nish_jax.data.errors import CorruptDataError

ARCHIVE_NAME = "cifar-10-python.tar.gz"
_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def read_cifar_batches(batches_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and int32 labels of one split from ``cifar-10-batches-py/``.

    A missing or unreadable batch file raises CorruptDataError naming it.
    """
    images, labels = [], []
    for name in _BATCHES[split]:
        path = batches_dir / name
        if not path.is_file():
            raise CorruptDataError(
                path, "missing from an incomplete copy", f"unpack {ARCHIVE_NAME} again"
            )
        try:
            with open(path, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            batch_labels = np.asarray(batch[b"labels"], dtype=np.int32)
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
            raise CorruptDataError(path, f"not a readable CIFAR-10 batch ({error!r})") from error
        images.append(data.transpose(0, 2, 3, 1))
        labels.append(batch_labels)
    return np.concatenate(images), np.concatenate(labels)
