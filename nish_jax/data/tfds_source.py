"""tensorflow-datasets as a source: prepared directories, offline preparation, opt-in download.

tensorflow_datasets (and tensorflow, which it needs to write and read its files) is imported
only inside these functions, so ``import nish_jax.data`` stays fast and works without it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nish_jax.data.archives import cached_arrays, source_key
from nish_jax.data.errors import DataNotFoundError


def installed() -> bool:
    """Whether tensorflow-datasets and tensorflow (which it needs to read and write its files)
    are installed, checked without importing them (the ``tfds`` extra)."""
    return all(importlib.util.find_spec(module) for module in ("tensorflow_datasets", "tensorflow"))


def find_prepared(tfds_name: str, dirs: Sequence[Path]) -> Path | None:
    """The first of ``dirs`` holding a prepared ``<tfds_name>/<version>/`` (without importing
    tfds)."""
    for directory in dirs:
        if any((directory / tfds_name).glob("*/dataset_info.json")):
            return directory
    return None


def load_prepared(
    tfds_name: str, tfds_dir: Path, split: str
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Images, labels and class names of one split of a prepared tfds data set (cached as .npy)."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(tfds_name, data_dir=str(tfds_dir))
    if split not in builder.info.splits:
        raise ValueError(
            f"split {split!r} is not in the prepared {tfds_name} at {tfds_dir}; "
            f"valid: {sorted(builder.info.splits)}"
        )
    info_file = Path(builder.data_dir) / "dataset_info.json"

    def decode() -> dict[str, np.ndarray]:
        data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, shuffle_files=False))
        return {"images": data["image"], "labels": data["label"].astype(np.int32)}

    arrays = cached_arrays(f"tfds-{tfds_name}-{split}-{source_key(info_file)}", decode)
    class_names = tuple(builder.info.features["label"].names)
    return arrays["images"], arrays["labels"], class_names


def prepare_offline(
    tfds_name: str, tfds_dir: Path, files_dir: Path, max_examples_per_split: int | None = None
) -> Path:
    """Prepare tfds' own builder from the official files in ``files_dir``, without any network.

    tfds' MNIST-family builders fetch their files with ``download_and_extract(urls)``; a file
    found in the download manager's ``manual_dir`` under the name tfds registered for a URL is
    used instead of downloading it. tfds then checks it against the registered checksum of the
    upstream .gz, which re-compressed copies of identical data (Debian's, ours) do not match;
    so the builder's URL table is pointed at the local files' own size and sha256 (their IDX
    content is checked by our reader). max_examples_per_split keeps only the first examples of
    each split (tfds' own option, for quick runs). Returns ``tfds_dir``, holding
    ``<name>/<version>/``.
    """
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import registered
    from tensorflow_datasets.core.download import checksums

    base = tfds.builder_cls(tfds_name)
    upstream = base.url_infos or {}
    missing = [i.filename for i in upstream.values() if not (files_dir / i.filename).is_file()]
    if not upstream or missing:
        raise DataNotFoundError(
            f"cannot prepare tfds {tfds_name!r} offline from {files_dir}: missing files "
            f"{missing or 'tfds registers no file names for it'}"
        )
    local_infos = {
        url: dataclasses.replace(
            checksums.compute_url_info(files_dir / info.filename), filename=info.filename
        )
        for url, info in upstream.items()
    }
    with registered.skip_registration():

        class LocalFilesBuilder(base):  # type: ignore[valid-type, misc]  # found at run time
            """tfds' builder, its URL table pointing at the user's local official files."""

            name = base.name
            url_infos = local_infos

    builder = LocalFilesBuilder(data_dir=str(tfds_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=str(files_dir), max_examples_per_split=max_examples_per_split
        )
    )
    return tfds_dir


def download_and_prepare(tfds_name: str, tfds_dir: Path) -> Path:
    """Let tfds download and prepare ``tfds_name`` into ``tfds_dir`` (on explicit download=True)."""
    import tensorflow_datasets as tfds

    tfds.builder(tfds_name, data_dir=str(tfds_dir)).download_and_prepare()
    return tfds_dir
