"""Safe, once-only unpacking of tar archives and a size+mtime keyed cache of decoded arrays.

Both write into a temporary directory next to the final one and rename it into place, so a
killed process never leaves a half-written cache behind.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nish_jax.data.errors import CorruptDataError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
# What tarfile and gzip raise on a truncated or corrupt archive (EOFError: the stream ends early).
_DAMAGED_ARCHIVE = (
    tarfile.ReadError, tarfile.CompressionError, gzip.BadGzipFile, EOFError, zlib.error,
)  # fmt: skip


def cache_dir() -> Path:
    """The cache root: ``$NISH_CACHE_DIR``, else ``~/.cache/nish_jax``."""
    root = os.environ.get("NISH_CACHE_DIR") or os.path.join("~", ".cache", "nish_jax")
    return Path(root).expanduser()


def source_key(*sources: Path, extra: str = "") -> str:
    """A short key that changes whenever one of the source files is replaced (size + mtime)."""
    parts = [extra]
    for source in sources:
        stat = source.stat()
        parts.append(f"{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _publish(tmp: Path, final: Path) -> None:
    """Atomically move a finished temp directory into place (a concurrent winner is kept)."""
    try:
        tmp.rename(final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def extract_archive(archive: Path) -> Path:
    """Unpack ``archive`` once into the cache and return the unpacked directory.

    Uses tarfile's "data" filter: members with absolute paths, ``..`` components, links
    pointing outside, or device files are refused with a ValueError naming the member.
    A truncated or corrupt archive raises CorruptDataError naming it (nothing is cached).
    """
    if not hasattr(tarfile, "data_filter"):
        raise RuntimeError("safe unpacking needs tarfile extraction filters (Python 3.10.12+)")
    final = cache_dir() / "extracted" / f"{archive.name}-{source_key(archive)}"
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{archive.name}.", dir=final.parent))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
            while tar.fileobj.read(1 << 20):  # to the end, so gzip checks its CRC and length
                pass
    except tarfile.FilterError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"unsafe archive {archive}: refused member {err.tarinfo.name!r}") from err
    except _DAMAGED_ARCHIVE as err:
        shutil.rmtree(tmp, ignore_errors=True)
        truncated = isinstance(err, EOFError) or "unexpected end" in str(err)
        problem = "truncated archive (it ends early)" if truncated else "corrupt archive"
        raise CorruptDataError(archive, f"{problem}: {err}") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _publish(tmp, final)
    return final


def cached_arrays(key: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Return the arrays stored under ``key`` (memory-mapped .npy), building and storing them
    once."""
    final = cache_dir() / "arrays" / key
    if not final.is_dir():
        arrays = build()
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
        try:
            for name, array in arrays.items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(array))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _publish(tmp, final)
    return {path.stem: np.load(path, mmap_mode="r") for path in sorted(final.glob("*.npy"))}
