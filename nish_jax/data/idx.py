"""Readers for the official MNIST / Fashion-MNIST IDX files (plain or gzip-compressed)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from nish_jax.data.errors import CorruptDataError

_UBYTE = 0x08  # IDX type code of unsigned bytes, the only type the MNIST files use


def read_bytes(path: Path) -> bytes:
    """The (decompressed, for ``.gz``) content of ``path``; a damaged gzip stream raises
    CorruptDataError naming the file."""
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except EOFError as error:
        raise CorruptDataError(path, "truncated gzip file (it ends early)") from error
    except (gzip.BadGzipFile, zlib.error) as error:
        raise CorruptDataError(path, f"not a valid gzip file ({error})") from error


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes, checking its magic number and its declared shape."""
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _UBYTE:
        raise CorruptDataError(
            path, f"not an IDX file of unsigned bytes (magic {data[:4].hex() or 'missing'})"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptDataError(path, f"IDX header of {ndim} dimensions cut short")
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
    payload = np.frombuffer(data, dtype=np.uint8, offset=header)
    if payload.size != int(np.prod(shape)):
        raise CorruptDataError(
            path, f"the IDX header declares shape {shape}, the file holds {payload.size} values"
        )
    return payload.reshape(shape)


def find_idx(folder: Path, stem: str) -> Path | None:
    """The IDX file ``stem`` in ``folder``, gzip-compressed or plain, if present."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, 1) and labels (N,) from an IDX image file and its label file."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise CorruptDataError(
            f"{images_path} / {labels_path}",
            f"expected (N, H, W) images and (N,) labels, got {images.shape} and {labels.shape}",
            "make sure both files are the matching official pair",
        )
    return images[..., None], labels.astype(np.int32)
