"""Download the official MNIST and Fashion-MNIST files into the cache, checked against checksums.

Files land in ``<cache>/downloads/<name>/`` (the cache root is $NISH_CACHE_DIR, else
~/.cache/nish_jax), which ``load`` always searches after the data dirs. The files come from a base
URL that an environment variable overrides (a mirror, or a local server in tests):
  NISH_MNIST_URL          default https://storage.googleapis.com/cvdf-datasets/mnist/ (as tfds)
  NISH_FASHION_MNIST_URL  default http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/

Checksums: a file is accepted when its own sha256 is that of the upstream .gz (as registered in
tensorflow-datasets' url_checksums), or else when its decompressed content has the MD5 of the
official raw file. So a mirror that re-compresses the same data (another gzip header, as the
project's shared MNIST copy and Debian's Fashion-MNIST have) is accepted, and nothing else is.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from nish_jax.data.archives import cache_dir
from nish_jax.data.errors import CorruptDataError, DataNotFoundError

_CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class _OfficialFile:
    """One official file and the checksums that identify its data."""

    name: str
    gz_sha256: str  # the upstream .gz, from tensorflow_datasets/url_checksums/<name>.txt
    raw_md5: str  # its decompressed content


@dataclass(frozen=True)
class _Source:
    url_env: str
    default_url: str
    files: tuple[_OfficialFile, ...]


_SOURCES = {
    # Raw MD5s: the official values in the shared data README.
    "mnist": _Source(
        "NISH_MNIST_URL",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        (
            _OfficialFile(
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "6bbc9ace898e44ae57da46a324031adb",
            ),
            _OfficialFile(
                "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "a25bea736e30d166cdddb491f175f624",
            ),
            _OfficialFile(
                "t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "2646ac647ad5339dbf082846283269ea",
            ),
            _OfficialFile(
                "t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                "27ae3e4e09519cfbb04c329615203637",
            ),
        ),
    ),
    # Raw MD5s: the decompressed upstream files (those whose .gz sha256 tfds registers).
    "fashion_mnist": _Source(
        "NISH_FASHION_MNIST_URL",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        (
            _OfficialFile(
                "train-images-idx3-ubyte.gz",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            ),
            _OfficialFile(
                "train-labels-idx1-ubyte.gz",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                "9018921c3c673c538a1fc5bad174d6f9",
            ),
            _OfficialFile(
                "t10k-images-idx3-ubyte.gz",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                "8181f5470baa50b63fa0f6fddb340f0a",
            ),
            _OfficialFile(
                "t10k-labels-idx1-ubyte.gz",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                "15d484375f8d13e6eb1aabb0c3f46965",
            ),
        ),
    ),
}


DOWNLOADABLE = tuple(sorted(_SOURCES))
"""The data sets ``download`` fetches."""


def downloads_dir() -> Path:
    """Where downloads land, one ``<name>/`` folder each: ``<cache>/downloads``."""
    return cache_dir() / "downloads"


def _base_url(source: _Source) -> str:
    url = os.environ.get(source.url_env) or source.default_url
    return url if url.endswith("/") else url + "/"


def download(name: str, *, timeout: float = 10.0, progress: bool = True) -> str:
    """Fetch the official files of ``name`` into ``<cache>/downloads/<name>/``.

    Files already there that pass their checksum are kept. The cache root is
    ``$NISH_CACHE_DIR``, else ``~/.cache/nish_jax``; :func:`load` always searches it.

    Args:
      name: ``"mnist"`` or ``"fashion_mnist"``.
      timeout: seconds; bounds the name lookup, connection and response together, and then each
        wait for data, so an offline machine fails within ``timeout``.
      progress: show a bar on a terminal, one line a file otherwise.

    Returns:
      The folder holding the files.

    Raises:
      DataNotFoundError: a file could not be downloaded; the message says how to provide the
        files by hand.
      CorruptDataError: a downloaded file fails its checksum (it is deleted).
      ValueError: ``name`` is not downloadable.
    """
    source = _source(name)
    folder = downloads_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    for official in source.files:
        path = folder / official.name
        if path.is_file() and _matches(path, official):
            continue
        url = _base_url(source) + official.name
        partial = path.with_name(path.name + ".part")
        try:
            _fetch(url, partial, timeout, progress)
        except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
            partial.unlink(missing_ok=True)
            raise DataNotFoundError(_offline_message(name, url, error)) from error
        if not _matches(partial, official):
            partial.unlink()
            raise CorruptDataError(
                url,
                "checksum mismatch: the file is neither the upstream .gz (sha256 "
                f"{official.gz_sha256}) nor a copy of the official content (MD5 "
                f"{official.raw_md5}); the partial file {partial} was deleted",
                f"check that {source.url_env} (now {_base_url(source)}) serves the official files",
            )
        partial.replace(path)
    return str(folder)


def _source(name: str) -> _Source:
    if name not in _SOURCES:
        raise ValueError(f"cannot download {name!r}; downloadable: {list(DOWNLOADABLE)}")
    return _SOURCES[name]


def _matches(path: Path, official: _OfficialFile) -> bool:
    """Whether ``path`` is the upstream .gz, or decompresses to the official content."""
    if _digest(path, hashlib.sha256()) == official.gz_sha256:
        return True
    try:
        content_md5 = _digest(path, hashlib.md5(usedforsecurity=False), opener=gzip.open)
        return content_md5 == official.raw_md5
    except (EOFError, gzip.BadGzipFile, zlib.error):
        return False


def _digest(path: Path, hasher, opener=open) -> str:
    with opener(path, "rb") as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


def _fetch(url: str, destination: Path, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``destination``, with a bar (terminal) or a line a file (otherwise)."""
    from tqdm import tqdm

    with _open(url, timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        on_terminal = progress and sys.stderr.isatty()
        if progress and not on_terminal:
            print(f"Downloading {url}", file=sys.stderr, flush=True)
        started = time.monotonic()
        with (
            open(destination, "wb") as out,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=destination.name.removesuffix(".part"),
                disable=not on_terminal,
            ) as bar,
        ):
            while chunk := response.read(_CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))
    if progress and not on_terminal:
        size_mb = destination.stat().st_size / 1e6
        print(f"  {size_mb:.1f} MB in {time.monotonic() - started:.1f} s", file=sys.stderr)


def _open(url: str, timeout: float) -> http.client.HTTPResponse:
    """urlopen with one deadline for the name lookup, connection and response headers together
    (urlopen's own timeout covers each connection attempt, not the lookup nor all of them)."""
    outcome: queue.Queue = queue.Queue(maxsize=1)

    def attempt() -> None:
        try:
            outcome.put(urllib.request.urlopen(url, timeout=timeout))
        except Exception as error:  # handed to the caller below
            outcome.put(error)

    threading.Thread(target=attempt, daemon=True).start()
    no_answer = f"no answer within {timeout:g} s"
    try:
        result = outcome.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(no_answer) from None
    if isinstance(getattr(result, "reason", result), TimeoutError):  # urlopen's own timeout
        raise TimeoutError(no_answer) from result
    if isinstance(result, Exception):
        raise result
    return result


def _offline_message(name: str, url: str, error: BaseException) -> str:
    reason: object = error  # an HTTPError (a URLError with a code) reads best whole
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        reason = error.reason  # the network's own error
    source = _SOURCES[name]
    files = ", ".join(official.name for official in source.files)
    return (
        f"could not download {name}: {url} failed ({reason}).\n"
        f"To do without the network, put {files} in a folder `{name}/` inside a directory "
        "listed in NISH_DATA_DIR (os.pathsep-separated),\n"
        f"or set {source.url_env} to a mirror that serves them."
    )
