"""Real data sets loaded offline (MNIST, Fashion-MNIST, CIFAR-10, image folders) and batching.

:func:`load` returns a split as a :class:`Dataset`; :func:`download` fetches MNIST or
Fashion-MNIST into the cache; :mod:`nish_jax.data.augment` holds the on-device pipeline.
"""

from nish_jax.data.catalog import (
    CIFAR10_CLASSES,
    DATA_DIR_ENV,
    NORMALIZATION,
    data_dirs,
    dataset_dir,
    list_datasets,
    load,
    prepare_tfds,
)
from nish_jax.data.dataset import Dataset
from nish_jax.data.downloads import download
from nish_jax.data.errors import CorruptDataError, DataError, DataNotFoundError

__all__ = [
    "CIFAR10_CLASSES",
    "DATA_DIR_ENV",
    "NORMALIZATION",
    "CorruptDataError",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "data_dirs",
    "dataset_dir",
    "download",
    "list_datasets",
    "load",
    "prepare_tfds",
]
