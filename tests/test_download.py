"""nish_jax.data.download against a local HTTP server on 127.0.0.1 serving the real MNIST files:
checksums, the cache, load(download=True), and quick, clear failures without a server."""

import functools
import http.server
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from nish_jax.data import CorruptDataError, DataNotFoundError, dataset_dir, download, load

HANG_GUARD_S = 60  # a hang fails the test instead of stalling the suite


class _Server(http.server.ThreadingHTTPServer):
    requests: list[str]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def serve():
    """serve(folder) -> the base URL of an HTTP server on 127.0.0.1 serving `folder`."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = _Server(("127.0.0.1", 0), handler)
        server.requests = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def official():
    """The folders of the real MNIST and Fashion-MNIST files on the NISH_DATA_DIR search path."""
    return {name: dataset_dir(name) for name in ("mnist", "fashion_mnist")}


@pytest.fixture
def no_local_data(tmp_path, monkeypatch):
    """An empty data path and an empty cache, so only a download can provide the data."""
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("NISH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NISH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "downloads"


def _guarded(fn, *args, **kwargs):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result(timeout=HANG_GUARD_S)


def test_download_verifies_the_files_into_the_cache_where_load_finds_them(
    official, serve, no_local_data, monkeypatch, capsys
):
    shared = official["mnist"]
    monkeypatch.setenv("NISH_MNIST_URL", serve(shared).rstrip("/"))  # the "/" is optional
    folder = Path(download("mnist"))
    assert folder == no_local_data / "mnist"
    names = sorted(p.name for p in shared.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == names  # no .part left
    for name in names:
        assert (folder / name).read_bytes() == (shared / name).read_bytes()
    lines = capsys.readouterr().err.splitlines()  # not a terminal: one line a file, no bar
    assert sum(line.startswith("Downloading http://127.0.0.1:") for line in lines) == 4
    assert not any("\r" in line for line in lines)

    test = load("mnist", "test")
    assert test.source == str(folder) and test.num_examples == 10000
    np.testing.assert_array_equal(test.images, load("mnist", "test", data_dir=shared.parent).images)
    assert Path(download("mnist", progress=False)) == folder  # verified copies are kept


def test_load_with_download_true_fetches_what_is_missing(
    official, serve, no_local_data, monkeypatch
):
    monkeypatch.setenv("NISH_FASHION_MNIST_URL", serve(official["fashion_mnist"]))
    with pytest.raises(DataNotFoundError):
        load("fashion_mnist", "train")
    train = load("fashion_mnist", "train", download=True)
    assert train.source == str(no_local_data / "fashion_mnist")
    assert train.num_examples == 60000 and np.bincount(train.labels).tolist() == [6000] * 10


def test_a_file_failing_its_checksum_is_deleted_and_named(
    official, serve, no_local_data, monkeypatch
):
    # A wrong mirror: real Fashion-MNIST files under the MNIST names.
    monkeypatch.setenv("NISH_MNIST_URL", serve(official["fashion_mnist"]))
    with pytest.raises(CorruptDataError) as error:
        download("mnist", progress=False)
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message and "checksum mismatch" in message
    assert "was deleted" in message and "NISH_MNIST_URL" in message
    assert not list((no_local_data / "mnist").iterdir())


def test_refused_connection_fails_at_once_saying_how_to_provide_the_files(
    no_local_data, monkeypatch
):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("NISH_MNIST_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(DataNotFoundError) as error:
        _guarded(load, "mnist", "train", download=True)
    message = str(error.value)
    assert "refused" in message and f"127.0.0.1:{port}" in message
    for needed in ("NISH_DATA_DIR", "mnist/", "t10k-labels-idx1-ubyte.gz", "NISH_MNIST_URL"):
        assert needed in message
    assert len(message.splitlines()) <= 5
    assert not list((no_local_data / "mnist").iterdir())


def test_a_server_that_never_answers_times_out(no_local_data, monkeypatch):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        monkeypatch.setenv("NISH_MNIST_URL", f"http://127.0.0.1:{silent.getsockname()[1]}/")
        with pytest.raises(DataNotFoundError, match=r"no answer within 0\.5 s"):
            _guarded(download, "mnist", timeout=0.5, progress=False)


def test_only_mnist_and_fashion_mnist_are_downloadable():
    with pytest.raises(ValueError, match=r"'cifar10'.*\['fashion_mnist', 'mnist'\]"):
        download("cifar10")
