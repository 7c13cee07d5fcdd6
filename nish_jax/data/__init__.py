"""Real data sets loaded offline (MNIST, Fashion-MNIST, CIFAR-10, image folders) and batching.

`load(name, split)` returns a `Dataset`; `nish_jax.data.augment` holds the on-device pipeline.
"""

from nish_jax.data.catalog import (
    CIFAR10_CLASSES,
    DATA_DIR_ENV,
    NORMALIZATION,
    data_dirs,
    list_datasets,
    load,
    prepare_tfds,
)
from nish_jax.data.dataset import Dataset
from nish_jax.data.errors import DataNotFoundError

__all__ = [
    "CIFAR10_CLASSES",
    "DATA_DIR_ENV",
    "NORMALIZATION",
    "DataNotFoundError",
    "Dataset",
    "data_dirs",
    "list_datasets",
    "load",
    "prepare_tfds",
]
