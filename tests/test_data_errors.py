"""Damaged data: every kind of damaged file is named with what is wrong and how to fix it, and a
good copy later in the data path is still found."""

import gzip
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from cifar_images import cifar10_jpegs

from nish_jax.data import CorruptDataError, DataNotFoundError, dataset_dir, load
from nish_jax.data.idx import read_idx


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NISH_CACHE_DIR", str(tmp_path / "cache"))


def _copy_of(name: str, data_dir: Path) -> Path:
    """A copy of the real files of data set `name` in `data_dir/<name>/`."""
    return Path(shutil.copytree(dataset_dir(name), data_dir / name))


def _truncate(path: Path, keep: int | None = None) -> None:
    """Keep the first half of `path`, or its first `keep` bytes (the last ones if negative)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 if keep is None else keep])


def _rewrite_idx_header(path: Path, offset: int, value: bytes) -> None:
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[offset : offset + len(value)] = value
    path.write_bytes(gzip.compress(bytes(content), compresslevel=1))


def _assert_good_copy_found_later(name, split, bad_dir, good_dir=None):
    good_dir = good_dir or dataset_dir(name).parent
    dataset = load(name, split, data_dir=[bad_dir, good_dir])
    assert dataset.source.startswith(str(good_dir))
    return dataset


def test_truncated_gzip_is_named_and_a_later_good_copy_is_loaded(tmp_path):
    bad = _copy_of("mnist", tmp_path / "bad") / "t10k-images-idx3-ubyte.gz"
    _truncate(bad)
    with pytest.raises(CorruptDataError, match="truncated gzip file") as error:
        read_idx(bad)
    assert error.value.path == str(bad)
    assert "delete it and copy or download it again" in str(error.value)
    with pytest.raises(DataNotFoundError) as error:
        load("mnist", "test", data_dir=tmp_path / "bad")
    message = str(error.value)
    assert f"{bad}: truncated gzip file" in message and "no good copy found" in message
    assert "NISH_DATA_DIR" in message and "download('mnist')" in message
    test = _assert_good_copy_found_later("mnist", "test", tmp_path / "bad")
    assert test.num_examples == 10000
    # The damaged test split does not hide the good train split of the same copy.
    assert load("mnist", "train", data_dir=tmp_path / "bad").source == str(bad.parent)


@pytest.mark.parametrize(
    ("offset", "value", "problem"),
    [
        (2, b"\x0d", "not an IDX file of unsigned bytes (magic 00000d01)"),  # float32's type code
        (4, (10001).to_bytes(4, "big"), "the IDX header declares shape (10001,), the file holds"),
    ],
    ids=["type code", "declared length"],
)
def test_corrupt_idx_header_is_named(tmp_path, offset, value, problem):
    bad = _copy_of("fashion_mnist", tmp_path / "bad") / "t10k-labels-idx1-ubyte.gz"
    _rewrite_idx_header(bad, offset, value)
    with pytest.raises(DataNotFoundError) as error:
        load("fashion_mnist", "test", data_dir=tmp_path / "bad")
    assert f"{bad}: {problem}" in str(error.value)
    _assert_good_copy_found_later("fashion_mnist", "test", tmp_path / "bad")


def test_incomplete_idx_pair_is_named(tmp_path):
    folder = _copy_of("mnist", tmp_path / "bad")
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="incomplete copy: train-labels-idx1-ubyte"):
        load("mnist", "train", data_dir=tmp_path / "bad")


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_corrupt_tar_gz_is_named_and_a_later_good_copy_is_loaded(tmp_path, damage):
    bad = _archived(_image_folder(tmp_path / "bad" / "cifar10" / "test"))
    data = bytearray(bad.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 3 : len(data) // 3 + 1024] = bytes(1024)
    bad.write_bytes(bytes(data))
    with pytest.raises(DataNotFoundError) as error:
        load("cifar10", "test", data_dir=tmp_path / "bad")
    expected = "truncated archive" if damage == "truncated" else "corrupt archive"
    assert f"{bad}: {expected}" in str(error.value)
    assert not list((tmp_path / "cache" / "extracted").iterdir())  # nothing half-unpacked kept
    _image_folder(tmp_path / "good" / "cifar10" / "test")  # a small good copy, quick to decode
    test = _assert_good_copy_found_later("cifar10", "test", tmp_path / "bad", tmp_path / "good")
    assert np.bincount(test.labels).tolist() == [2] * 10


def _archived(files: list[Path]) -> Path:
    """Pack the split folder of `files` (`<split>/<class>/*`) into `<split>.tar.gz` beside it."""
    split_dir = files[0].parents[1]
    archive = split_dir.with_name(f"{split_dir.name}.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(split_dir, arcname=split_dir.name)
    shutil.rmtree(split_dir)
    return archive


def _image_folder(split_dir: Path) -> list[Path]:
    """`split_dir/<class>/*.jpg` from 2 real CIFAR-10 JPEGs per class; returns the files."""
    files = []
    for name, jpegs in cifar10_jpegs(2).items():
        (split_dir / name).mkdir(parents=True)
        for file_name, data in jpegs:
            files.append(split_dir / name / file_name)
            files[-1].write_bytes(data)
    return files


def test_unreadable_images_are_found_when_the_folder_is_loaded(tmp_path):
    root = tmp_path / "bad" / "imagenet100"
    files = _image_folder(root / "train")
    _truncate(files[3], keep=-100)  # cut in the compressed data: its header still parses
    _truncate(files[7], keep=20)  # cut inside the header
    with pytest.raises(CorruptDataError) as error:
        load(str(root), "train", image_size=32)
    message = str(error.value)
    assert error.value.path == str(root / "train") and "2 unreadable images (replace" in message
    assert f"{files[3]}: truncated JPEG image (no end marker)" in message
    assert f"{files[7]}: not a readable image" in message
    with pytest.raises(DataNotFoundError, match="2 unreadable images"):
        load("imagenet100", "train", data_dir=tmp_path / "bad")

    good = tmp_path / "good" / "imagenet100"
    _image_folder(good / "train")
    dataset = load("imagenet100", "train", data_dir=[tmp_path / "bad", tmp_path / "good"])
    assert dataset.source == str(good / "train") and dataset.num_examples == 20


def test_unreadable_image_in_an_archive_names_the_archive_and_the_image(tmp_path):
    files = _image_folder(tmp_path / "bad" / "cifar10" / "test")
    _truncate(files[0])
    archive = _archived(files)
    with pytest.raises(DataNotFoundError) as error:  # CIFAR-10 folders are decoded at load
        load("cifar10", "test", data_dir=tmp_path / "bad")
    message = str(error.value)
    assert f"{archive}: its unpacked copy has damaged images" in message
    assert f"{Path('test') / files[0].parent.name / files[0].name}: not a readable image" in message
    assert "replace the archive with a good copy" in message
    _image_folder(tmp_path / "good" / "cifar10" / "test")
    _assert_good_copy_found_later("cifar10", "test", tmp_path / "bad", tmp_path / "good")


def test_every_damaged_copy_is_listed_when_none_is_good(tmp_path):
    first = _copy_of("mnist", tmp_path / "one") / "t10k-labels-idx1-ubyte.gz"
    second = _copy_of("mnist", tmp_path / "two") / "t10k-images-idx3-ubyte.gz"
    _truncate(first)
    _rewrite_idx_header(second, 2, b"\x0d")
    with pytest.raises(DataNotFoundError) as error:
        load("mnist", "test", data_dir=[tmp_path / "one", tmp_path / "two"])
    lines = str(error.value).splitlines()
    assert lines[0].startswith("mnist (test split): no good copy found offline. Looked in: ")
    assert lines[1].startswith(f"  - damaged: {first}: truncated gzip file")
    assert lines[2].startswith(f"  - damaged: {second}: not an IDX file")
