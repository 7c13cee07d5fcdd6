"""nish_jax.data on the real data sets: offline sources, layouts, errors, caches and resumable
batching, and the test session's own check that the data is there."""

import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from cifar_images import cifar10_jpegs

from nish_jax.data import (
    CIFAR10_CLASSES,
    DataNotFoundError,
    data_dirs,
    dataset_dir,
    list_datasets,
    load,
    prepare_tfds,
    tfds_source,
)
from nish_jax.data.archives import extract_archive
from nish_jax.data.folders import decode_image

HANG_GUARD_S = 120  # a hang fails the test instead of stalling the suite


@pytest.fixture(scope="module")
def mnist_train():
    return load("mnist", "train")


@pytest.fixture(scope="module")
def cifar_test():
    return load("cifar10", "test")


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NISH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_mnist_splits_are_the_official_files(mnist_train):
    test = load("mnist", "test")
    assert (mnist_train.num_examples, test.num_examples) == (60000, 10000)
    assert mnist_train.image_shape == (28, 28, 1) and mnist_train.images.dtype == np.uint8
    assert mnist_train.class_names == tuple("0123456789") and mnist_train.num_classes == 10
    assert set(np.unique(test.labels)) == set(range(10)) and test.labels.dtype == np.int32
    # The README's figure for the train pixel mean: 33.318 / 255.
    assert mnist_train.images.mean() == pytest.approx(33.318, abs=0.001)


def test_fashion_mnist_in_debians_layout_equals_the_official_files(tmp_path):
    # Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist/, the same IDX data
    # re-compressed without the gzip file name and time stamp.
    official = dataset_dir("fashion_mnist")
    debian = tmp_path / "datasets" / "fashion-mnist"
    debian.mkdir(parents=True)
    for path in official.glob("*.gz"):
        content = gzip.decompress(path.read_bytes())
        (debian / path.name).write_bytes(gzip.compress(content, compresslevel=1, mtime=0))
    assert (debian / "t10k-labels-idx1-ubyte.gz").read_bytes()[3] == 0  # no name flag set
    for split, size in (("train", 60000), ("test", 10000)):
        from_debian = load("fashion_mnist", split, data_dir=tmp_path / "datasets")
        from_official = load("fashion_mnist", split, data_dir=official.parent)
        assert from_debian.source == str(debian) and from_debian.num_examples == size
        np.testing.assert_array_equal(from_debian.images, from_official.images)
        np.testing.assert_array_equal(from_debian.labels, from_official.labels)
    assert from_debian.image_shape == (28, 28, 1)
    assert from_debian.class_names[::9] == ("T-shirt/top", "Ankle boot")
    assert np.bincount(from_debian.labels).tolist() == [1000] * 10


def test_cifar10_keeps_the_official_class_order_and_statistics(cifar_test):
    train = load("cifar10", "train")
    assert (train.num_examples, cifar_test.num_examples) == (50000, 10000)
    assert train.image_shape == (32, 32, 3) and train.class_names == CIFAR10_CLASSES
    assert np.bincount(cifar_test.labels).tolist() == [1000] * 10
    # The README's train pixel mean of this JPEG copy.
    channel_mean = train.images.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(channel_mean, [125.27, 122.93, 113.86], atol=0.01)
    assert isinstance(train.images, np.memmap)  # served from the decoded .npy cache


def test_unknown_name_or_split_lists_the_valid_ones():
    with pytest.raises(ValueError, match="cifar10.*mnist"):
        load("mnits", "train")
    with pytest.raises(ValueError, match=r"'valid'.*\['train', 'test'\]"):
        load("mnist", "valid")
    assert list_datasets() == ["cifar10", "fashion_mnist", "imagenet100", "mnist"]


def test_missing_data_set_fails_saying_how_to_provide_it(tmp_path, empty_cache):
    with pytest.raises(DataNotFoundError) as error:
        load("fashion_mnist", "train", data_dir=tmp_path)
    message = str(error.value)
    for needed in (
        "NISH_DATA_DIR",
        "train-images-idx3-ubyte.gz",
        "fashion-mnist/",
        "dataset-fashion-mnist",
        "download('fashion_mnist')",
        "download=True",
        str(tmp_path),
        str(empty_cache / "downloads"),
    ):
        assert needed in message
    assert isinstance(error.value, FileNotFoundError)
    with pytest.raises(DataNotFoundError, match="cifar10: no copy found"):
        dataset_dir("cifar10", data_dir=tmp_path)


@pytest.fixture(scope="module")
def cifar_folder(tmp_path_factory):
    """A small real image folder: 4 CIFAR-10 JPEGs per class in train/ and in val.tar.gz."""
    root = tmp_path_factory.mktemp("folder") / "tiny"
    for split in ("train", "val"):
        for name, files in cifar10_jpegs(4).items():
            (root / split / name).mkdir(parents=True)
            for file_name, data in files:
                (root / split / name / file_name).write_bytes(data)
    with tarfile.open(root / "val.tar.gz", "w:gz") as tar:
        tar.add(root / "val", arcname="val")
    for path in sorted((root / "val").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (root / "val").rmdir()
    return root


def test_image_folder_streams_decoded_resized_batches(cifar_folder, empty_cache):
    train = load(str(cifar_folder), "train", image_size=40)
    assert train.images is None and train.num_examples == 40
    assert train.class_names == tuple(sorted(CIFAR10_CLASSES)) and train.image_shape == (40, 40, 3)
    order = train.order(seed=1, epoch=0)
    batches = list(train.batches(16, seed=1, epoch=0, drop_remainder=False))
    assert [len(labels) for _, labels in batches] == [16, 16, 8]
    images = np.concatenate([b[0] for b in batches])
    assert images.shape == (40, 40, 40, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), train.labels[order])
    np.testing.assert_array_equal(images[3], decode_image(train.paths[order[3]], 40, False))
    resumed = list(train.batches(16, seed=1, epoch=0, drop_remainder=False, start=2))
    np.testing.assert_array_equal(resumed[0][0], batches[2][0])


def test_image_folder_archive_is_unpacked_once_into_the_cache(cifar_folder, empty_cache):
    val = load(str(cifar_folder), "val", image_size=32)
    assert val.num_examples == 40 and str(empty_cache) in val.paths[0]
    unpacked = extract_archive(cifar_folder / "val.tar.gz")
    marker = unpacked / "marker"
    marker.touch()
    assert extract_archive(cifar_folder / "val.tar.gz") == unpacked and marker.exists()
    images, labels = next(val.batches(8, seed=0, epoch=0, shuffle=False))
    assert images.shape == (8, 32, 32, 3) and labels.tolist() == [0] * 4 + [1] * 4
    with pytest.raises(ValueError, match="'test'.*\\['train', 'val'\\]"):
        load(str(cifar_folder), "test")


def test_archive_with_a_path_outside_the_target_is_refused(tmp_path, empty_cache):
    folder = tmp_path / "imagenet100"
    folder.mkdir()
    payload = (dataset_dir("mnist") / "t10k-labels-idx1-ubyte.gz").read_bytes()
    with tarfile.open(folder / "train.tar.gz", "w:gz") as tar:
        member = tarfile.TarInfo("../evil")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    with pytest.raises(ValueError, match=r"unsafe archive .*'\.\./evil'"):
        load("imagenet100", "train", data_dir=tmp_path)
    assert not any(p.name == "evil" for p in tmp_path.rglob("*"))
    assert not list((empty_cache / "extracted").iterdir())  # no half-written cache left


def test_batches_depend_only_on_seed_and_epoch_and_resume_exactly(mnist_train):
    first = list(mnist_train.batches(5000, seed=7, epoch=3))
    again = list(mnist_train.batches(5000, seed=7, epoch=3))
    assert len(first) == mnist_train.num_batches(5000) == 12
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert first[0][1].dtype == np.int32 and first[0][0].shape == (5000, 28, 28, 1)
    other_epoch = next(mnist_train.batches(5000, seed=7, epoch=4))
    assert not np.array_equal(other_epoch[1], first[0][1])
    resumed = list(mnist_train.batches(5000, seed=7, epoch=3, start=9))
    assert len(resumed) == 3
    np.testing.assert_array_equal(resumed[0][0], first[9][0])
    seen = np.concatenate([y for _, y in first])
    np.testing.assert_array_equal(np.bincount(seen), np.bincount(mnist_train.labels))


def test_unshuffled_remainder_batch_covers_every_example_once(cifar_test):
    batches = list(cifar_test.batches(3000, seed=0, epoch=0, shuffle=False, drop_remainder=False))
    assert [len(y) for _, y in batches] == [3000, 3000, 3000, 1000]
    assert cifar_test.num_batches(3000, drop_remainder=False) == 4
    assert cifar_test.num_batches(3000) == 3
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), cifar_test.images)


@pytest.mark.parametrize("batch_size", [0, -4, 2.5, 10001])
def test_bad_batch_size_is_refused(cifar_test, batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        cifar_test.num_batches(batch_size)


def test_subset_is_fixed_and_class_balanced(mnist_train):
    subset = mnist_train.subset(1000, seed=1)
    assert subset.num_examples == 1000 and np.bincount(subset.labels).tolist() == [100] * 10
    np.testing.assert_array_equal(subset.images, mnist_train.subset(1000, seed=1).images)
    assert not np.array_equal(subset.labels, mnist_train.subset(1000, seed=2).labels)
    with pytest.raises(ValueError, match="60001.*60000"):
        mnist_train.subset(60001)


def test_tfds_builder_prepared_offline_is_the_first_source(tmp_path, empty_cache, monkeypatch):
    pytest.importorskip("tensorflow", reason="tensorflow-datasets needs tensorflow to write")
    tfds_dir = prepare_tfds("mnist", tmp_path / "tfds", max_examples_per_split=1000)
    assert list((tfds_dir / "mnist").glob("*/dataset_info.json"))
    from_tfds = load("mnist", "test", data_dir=[tfds_dir, *data_dirs()])
    from_idx = load("mnist", "test")
    assert from_tfds.source.startswith("tfds:") and not from_idx.source.startswith("tfds:")
    assert from_tfds.num_examples == 1000 and from_tfds.image_shape == (28, 28, 1)
    assert from_tfds.class_names == from_idx.class_names

    # tfds wrote the first 1000 official examples in its own order: compare them order-free.
    def keyed(images, labels):
        return np.sort(images.reshape(len(images), -1).astype(np.int64).sum(1) * 10 + labels)

    np.testing.assert_array_equal(
        keyed(from_tfds.images, from_tfds.labels),
        keyed(from_idx.images[:1000], from_idx.labels[:1000]),
    )
    # Without tensorflow (as `make demo` installs), the prepared copy is passed over.
    monkeypatch.setattr(tfds_source, "installed", lambda: False)
    without_tfds = load("mnist", "test", data_dir=[tfds_dir, *data_dirs()])
    assert without_tfds.source == from_idx.source


def test_the_test_session_without_data_stops_at_once_with_one_message(tmp_path):
    # The real conftest beside a trivial test, in a clone with no ../shared beside it.
    tests = tmp_path / "clone" / "tests"
    tests.mkdir(parents=True)
    shutil.copy(Path(__file__).with_name("conftest.py"), tests)
    (tests / "test_trivial.py").write_text("def test_trivial():\n    pass\n")
    env = {**os.environ, "NISH_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("NISH_DATA_DIR")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tests)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert run.stdout == "" and run.stderr.count("ERROR") == 1
    assert "not found: mnist, fashion_mnist, cifar10." in run.stderr
    assert f"NISH_DATA_DIR={tmp_path / 'shared' / 'data'} " in run.stderr  # the default, absolute
    assert str(tmp_path / "cache" / "downloads") in run.stderr
