"""The known data sets and ``load()``: find a split offline, in a fixed order of sources.

Sources, first good one wins: (1) a prepared tensorflow-datasets directory (when tensorflow-datasets
and tensorflow are installed), (2) the official files (or an image folder, plain or as a tar
archive) in a ``<data dir>/<data set>/`` folder, the data dirs in order, then the download cache,
(3) only when download=True, a download: the official files for MNIST and Fashion-MNIST
(``downloads.download``), tensorflow-datasets for CIFAR-10. Data dirs come from the ``data_dir``
argument or ``$NISH_DATA_DIR``, an os.pathsep-separated list. A damaged copy (truncated or corrupt
file) is passed over for the next one; the final error lists every damaged file met.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nish_jax.data import downloads, tfds_source
from nish_jax.data.archives import (
    ARCHIVE_SUFFIXES,
    cache_dir,
    cached_arrays,
    extract_archive,
    source_key,
)
from nish_jax.data.cifar_pickle import ARCHIVE_NAME as CIFAR_PICKLE_ARCHIVE
from nish_jax.data.cifar_pickle import read_cifar_batches
from nish_jax.data.dataset import Dataset
from nish_jax.data.errors import CorruptDataError, DataNotFoundError
from nish_jax.data.folders import check_images, decode_images, scan_folder
from nish_jax.data.idx import find_idx, read_idx_pair

#: The environment variable listing the data dirs (an os.pathsep-separated list), searched in
#: order when ``data_dir`` is not given.
DATA_DIR_ENV = "NISH_DATA_DIR"
_NO_TFDS = "it needs tensorflow-datasets and tensorflow (pip install 'nish-jax[tfds]')"
DEFAULT_FOLDER_IMAGE_SIZE = 224

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagenet100": (IMAGENET_MEAN, IMAGENET_STD),
}
"""Per-channel (mean, std) on the [0, 1] pixel scale, from each training set."""

#: CIFAR-10's class names, in label order.
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class _Spec:
    """What ``load`` knows about one named data set."""

    name: str
    folders: tuple[str, ...]
    splits: tuple[str, ...]
    tfds_name: str | None
    expected_files: str
    hint: str = ""


def _idx_files() -> str:
    names = ", ".join(f"{stem}.gz" for pair in _IDX_STEMS.values() for stem in pair)
    return f"the IDX files {names} (gzip-compressed or plain)"


_SPECS = {
    spec.name: spec
    for spec in (
        _Spec("mnist", ("mnist",), ("train", "test"), "mnist", _idx_files()),
        _Spec(
            "fashion_mnist",
            ("fashion_mnist", "fashion-mnist"),
            ("train", "test"),
            "fashion_mnist",
            _idx_files(),
            "on Debian/Ubuntu `apt-get install -y dataset-fashion-mnist` installs them under "
            "/usr/share/datasets/fashion-mnist/ (add /usr/share/datasets to NISH_DATA_DIR)",
        ),
        _Spec(
            "cifar10",
            ("cifar10", "cifar-10"),
            ("train", "test"),
            "cifar10",
            f"{CIFAR_PICKLE_ARCHIVE} (the official python version), or an image folder "
            "`<split>/<class>/*.jpg|png` as a directory or `<split>.tar.gz`, class folders "
            + " ".join(CIFAR10_CLASSES),
        ),
        _Spec(
            "imagenet100",
            ("imagenet100", "imagenet-100"),
            ("train", "val"),
            None,
            "an image folder `<split>/<class>/*.jpg|png` as a directory or `<split>.tar.gz`",
        ),
    )
}


def list_datasets() -> list[str]:
    """The data set names :func:`load` accepts (besides a path to any image folder).

    Returns:
      The names, sorted.
    """
    return sorted(_SPECS)


DataDirs = str | os.PathLike | Sequence[str | os.PathLike] | None


def data_dirs(data_dir: DataDirs = None) -> list[Path]:
    """The data dirs searched, in order.

    Args:
      data_dir: a path, an os.pathsep-separated list of paths, or a list of paths; by default
        ``$NISH_DATA_DIR`` (:data:`DATA_DIR_ENV`).

    Returns:
      The directories, ``~`` expanded (none when neither is set).
    """
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV, "")
    entries = [data_dir] if isinstance(data_dir, str | os.PathLike) else list(data_dir)
    parts = [part for entry in entries for part in str(entry).split(os.pathsep) if part]
    return [Path(part).expanduser() for part in parts]


def dataset_dir(name: str, *, data_dir: DataDirs = None) -> Path:
    """The folder of data set ``name`` on the search path, without reading it.

    Args:
      name: a name of :func:`list_datasets`.
      data_dir: the data dirs, as for :func:`data_dirs`.

    Returns:
      The first ``<dir>/<folder>`` found, looking in the data dirs in order, then in the
      download cache.

    Raises:
      DataNotFoundError: there is none; the message says how to provide the data.
    """
    spec = _spec(name)
    dirs = data_dirs(data_dir)
    root = next(_candidate_roots(spec, dirs), None)
    if root is None:
        raise DataNotFoundError(f"{_where_looked(spec, None, dirs)}\n{_ways_to_provide(spec)}")
    return root


def load(
    name: str,
    split: str,
    *,
    data_dir: DataDirs = None,
    download: bool = False,
    image_size: int | None = None,
) -> Dataset:
    """Load one split of a data set, offline unless ``download=True``.

    The sources, first good one wins: a prepared tensorflow-datasets directory, the official
    files (or an image folder) in the data dirs and then the download cache, and with
    ``download=True`` a download. A damaged copy is passed over for the next one.

    Args:
      name: a name of :func:`list_datasets`, or the path of an image folder
        ``<root>/<split>/<class>/*``.
      split: ``"train"`` or ``"test"`` (imagenet100: ``"train"`` or ``"val"``; an image folder:
        any ``<split>/`` it has).
      data_dir: the data dirs, as for :func:`data_dirs`.
      download: when no source has the data, fetch it (MNIST, Fashion-MNIST: the official files
        into the cache, see :func:`download`; CIFAR-10: through tensorflow-datasets).
      image_size: the side length image folders are resized to (default 224); in-memory sets
        keep their native size (resize on device with :mod:`nish_jax.data.augment`).

    Returns:
      The split as a :class:`Dataset`.

    Raises:
      DataNotFoundError: no source has a good copy; raised at once, with instructions, and
        listing each damaged file met (such a file raises :class:`CorruptDataError` when read on
        its own).
      ValueError: ``split`` or ``image_size`` does not apply to the data set.
    """
    if name not in _SPECS and os.path.isdir(name):
        return _load_any_folder(Path(name), split, image_size)
    spec = _spec(name)
    if split not in spec.splits:
        raise ValueError(f"unknown split {split!r} for {name}; valid: {list(spec.splits)}")
    if image_size is not None and name != "imagenet100":
        raise ValueError(
            f"image_size={image_size} applies to image folders only; {name} is held in memory "
            "at its native size (use nish_jax.data.augment.make_preprocess(image_size=...))"
        )
    dirs = data_dirs(data_dir)
    tfds_dirs = [*dirs, cache_dir() / "tensorflow_datasets"]
    notes: list[str] = []
    if spec.tfds_name and (tfds_dir := tfds_source.find_prepared(spec.tfds_name, tfds_dirs)):
        if tfds_source.installed():
            return _load_tfds(spec.name, spec.tfds_name, tfds_dir, split)
        notes.append(f"skipped the prepared tensorflow-datasets copy in {tfds_dir}: {_NO_TFDS}")
    for root in _candidate_roots(spec, dirs):
        try:
            dataset = _READERS[name](root, split, image_size)
        except CorruptDataError as error:
            notes.append(f"damaged: {error}")
            continue
        if dataset:
            return dataset
    looked = _where_looked(spec, split, dirs, notes)
    if download:
        return _download(spec, split, image_size, tfds_dirs[-1], looked)
    raise DataNotFoundError(f"{looked}\n{_ways_to_provide(spec)}")


def _spec(name: str) -> _Spec:
    if name not in _SPECS:
        raise ValueError(
            f"unknown data set {name!r}; valid: {list_datasets()} or the path of an image folder"
        )
    return _SPECS[name]


def _candidate_roots(spec: _Spec, dirs: list[Path]) -> Iterator[Path]:
    """The existing ``<dir>/<folder>`` of ``spec``: the data dirs in order, then the download
    cache."""
    for directory in [*dirs, downloads.downloads_dir()]:
        for folder in spec.folders:
            if (directory / folder).is_dir():
                yield directory / folder


def _load_tfds(name: str, tfds_name: str, tfds_dir: Path, split: str) -> Dataset:
    images, labels, class_names = tfds_source.load_prepared(tfds_name, tfds_dir, split)
    return _in_memory(name, split, images, labels, class_names, f"tfds:{tfds_dir}")


def _download(
    spec: _Spec, split: str, image_size: int | None, tfds_dir: Path, looked: str
) -> Dataset:
    """The download=True path, once no local source had a good copy (``looked`` says so)."""
    if spec.name in downloads.DOWNLOADABLE:
        try:
            root = Path(downloads.download(spec.name))
        except DataNotFoundError as error:
            raise DataNotFoundError(f"{looked}\n{error}") from error
        dataset = _READERS[spec.name](root, split, image_size)
        if dataset is None:
            raise DataNotFoundError(
                f"downloaded {spec.name} to {root}, but found no {split!r} there"
            )
        return dataset
    ways = _ways_to_provide(spec)
    if spec.tfds_name is None:
        raise DataNotFoundError(f"{looked}\n{ways}\n{spec.name} has no download source")
    if not tfds_source.installed():
        raise DataNotFoundError(f"{looked}\n{ways}\ndownload=True for {spec.name}: {_NO_TFDS}")
    prepared = tfds_source.download_and_prepare(spec.tfds_name, tfds_dir)
    return _load_tfds(spec.name, spec.tfds_name, prepared, split)


def prepare_tfds(
    name: str,
    tfds_dir: str | os.PathLike,
    *,
    data_dir: DataDirs = None,
    max_examples_per_split: int | None = None,
) -> Path:
    """Prepare tensorflow-datasets' own builder for ``name`` from local official files.

    Works offline; needs tensorflow-datasets and tensorflow (the ``tfds`` extra). Afterwards
    ``load(name, split, data_dir=tfds_dir)`` reads the prepared directory first.

    Args:
      name: a data set that tensorflow-datasets knows (``mnist``, ``fashion_mnist``,
        ``cifar10``).
      tfds_dir: where to write the prepared ``<tfds name>/<version>/`` directory.
      data_dir: where the official files are, as for :func:`data_dirs`.
      max_examples_per_split: keep only the first examples of each split (quick runs, tests).

    Returns:
      ``tfds_dir``.

    Raises:
      ValueError: tensorflow-datasets has no builder for ``name``.
      ImportError: tensorflow-datasets or tensorflow is not installed.
      DataNotFoundError: the official files are not found.
    """
    spec = _SPECS.get(name)
    if spec is None or spec.tfds_name is None:
        valid = [n for n, s in _SPECS.items() if s.tfds_name]
        raise ValueError(f"unknown tfds data set {name!r}; valid: {valid}")
    if not tfds_source.installed():
        raise ImportError(f"prepare_tfds: {_NO_TFDS}")
    files_dir = dataset_dir(name, data_dir=data_dir)
    return tfds_source.prepare_offline(
        spec.tfds_name, Path(tfds_dir), files_dir, max_examples_per_split
    )


def _where_looked(
    spec: _Spec, split: str | None, dirs: list[Path], notes: Sequence[str] = ()
) -> str:
    """Which copy is missing, where it was looked for, and the ``notes`` on what was passed over."""
    looked = ", ".join(str(d) for d in dirs) or f"no data dir (${DATA_DIR_ENV} is not set)"
    what = spec.name if split is None else f"{spec.name} ({split} split)"
    first = (
        f"{what}: no {'good copy' if notes else 'copy'} found offline. Looked in: {looked}, "
        f"and the download cache {downloads.downloads_dir()}."
    )
    return "\n".join([first, *(f"  - {note}" for note in notes)])


def _ways_to_provide(spec: _Spec) -> str:
    lines = [
        "Provide it in one of these ways:",
        f"  - set {DATA_DIR_ENV} (an os.pathsep-separated list of directories) or pass "
        f"data_dir=...; one of them holds a folder {' or '.join(f'{f}/' for f in spec.folders)} "
        f"with {spec.expected_files}.",
    ]
    if spec.tfds_name:
        lines.append(
            f"  - a prepared tensorflow-datasets directory `<dir>/{spec.tfds_name}/<version>/` "
            f"in one of those directories (see nish_jax.data.prepare_tfds)."
        )
    if spec.hint:
        lines.append(f"  - {spec.hint}.")
    if spec.name in downloads.DOWNLOADABLE:
        lines.append(
            f"  - nish_jax.data.download({spec.name!r}) or load(..., download=True) fetches the "
            "official files into the download cache (network)."
        )
    elif spec.tfds_name:
        lines.append("  - load(..., download=True) lets tensorflow-datasets download it (network).")
    return "\n".join(lines)


def _in_memory(
    name: str,
    split: str,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    source: str,
) -> Dataset:
    mean, std = NORMALIZATION[name]
    height, width, channels = images.shape[1:]
    return Dataset(
        name=name,
        split=split,
        class_names=tuple(class_names),
        image_shape=(int(height), int(width), int(channels)),
        labels=np.asarray(labels, dtype=np.int32),
        mean=mean,
        std=std,
        images=images,
        source=source,
    )


def _read_idx_set(name: str, class_names: Sequence[str]) -> Callable[..., Dataset | None]:
    def read(root: Path, split: str, image_size: int | None) -> Dataset | None:
        stems = _IDX_STEMS[split]
        image_file, label_file = (find_idx(root, stem) for stem in stems)
        if image_file is None and label_file is None:
            return None
        if image_file is None or label_file is None:
            missing = stems[0] if image_file is None else stems[1]
            raise CorruptDataError(root, f"incomplete copy: {missing}(.gz) is missing", "add it")
        images, labels = read_idx_pair(image_file, label_file)
        return _in_memory(name, split, images, labels, class_names, str(root))

    return read


def _split_folder(root: Path, split: str) -> tuple[Path, Path] | None:
    """(split directory, the file or folder it came from) from ``<root>/<split>/`` or an archive."""
    if (root / split).is_dir():
        return root / split, root / split
    for suffix in ARCHIVE_SUFFIXES:
        archive = root / f"{split}{suffix}"
        if archive.is_file():
            unpacked = extract_archive(archive) / split
            if not unpacked.is_dir():
                raise ValueError(f"{archive} does not unpack to a `{split}/` folder")
            return unpacked, archive
    return None


@contextmanager
def _naming_archive(origin: Path) -> Iterator[None]:
    """Re-raise a damaged unpacked image as an error naming the archive ``origin`` it came from."""
    try:
        yield
    except CorruptDataError as error:
        if not origin.is_file():
            raise
        raise CorruptDataError(
            origin,
            f"its unpacked copy has damaged images: {error.path}: {error.problem}",
            "replace the archive with a good copy",
        ) from error


def _read_cifar10(root: Path, split: str, image_size: int | None) -> Dataset | None:
    batches_dir = root / "cifar-10-batches-py"
    if not batches_dir.is_dir() and (root / CIFAR_PICKLE_ARCHIVE).is_file():
        batches_dir = extract_archive(root / CIFAR_PICKLE_ARCHIVE) / "cifar-10-batches-py"
    if batches_dir.is_dir():
        images, labels = read_cifar_batches(batches_dir, split)
        return _in_memory("cifar10", split, images, labels, CIFAR10_CLASSES, str(batches_dir))
    found = _split_folder(root, split)
    if found is None:
        return None
    split_dir, origin = found

    def decode() -> dict[str, np.ndarray]:
        index = scan_folder(split_dir, CIFAR10_CLASSES)
        with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool, _naming_archive(origin):
            images = decode_images(index.paths, None, center_crop=False, executor=pool)
        return {"images": images, "labels": index.labels}

    arrays = cached_arrays(f"cifar10-folder-{split}-{source_key(origin)}", decode)
    return _in_memory(
        "cifar10", split, arrays["images"], arrays["labels"], CIFAR10_CLASSES, str(origin)
    )


def _read_folder(name: str, root: Path, split: str, image_size: int | None) -> Dataset | None:
    found = _split_folder(root, split)
    if found is None:
        return None
    size = DEFAULT_FOLDER_IMAGE_SIZE if image_size is None else image_size
    if size < 1:
        raise ValueError(f"image_size must be >= 1, got {size}")
    index = scan_folder(found[0])
    with _naming_archive(found[1]):
        check_images(found[0], index.paths)
    mean, std = NORMALIZATION["imagenet100"]
    return Dataset(
        name=name,
        split=split,
        class_names=index.class_names,
        image_shape=(size, size, 3),
        labels=index.labels,
        mean=mean,
        std=std,
        paths=index.paths,
        center_crop=split != "train",
        source=str(found[1]),
    )


def _load_any_folder(root: Path, split: str, image_size: int | None) -> Dataset:
    dataset = _read_folder(root.name, root, split, image_size)
    if dataset is None:
        splits = sorted(
            {p.name for p in root.iterdir() if p.is_dir()}
            | {p.name[: -len(s)] for s in ARCHIVE_SUFFIXES for p in root.glob(f"*{s}")}
        )
        raise ValueError(f"unknown split {split!r} for image folder {root}; valid: {splits}")
    return dataset


_READERS: dict[str, Callable[[Path, str, int | None], Dataset | None]] = {
    "mnist": _read_idx_set("mnist", tuple(str(d) for d in range(10))),
    "fashion_mnist": _read_idx_set("fashion_mnist", FASHION_MNIST_CLASSES),
    "cifar10": _read_cifar10,
    "imagenet100": lambda root, split, size: _read_folder("imagenet100", root, split, size),
}
