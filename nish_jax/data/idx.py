"""Readers for the official MNIST / Fashion-MNIST IDX files (plain or gzip-compressed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

_UBYTE = 0x08  # IDX type code of unsigned bytes, the only type the MNIST files use


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes, checking its magic number and its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _UBYTE:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
    payload = np.frombuffer(data, dtype=np.uint8, offset=header)
    if payload.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header declares shape {shape}, file holds {payload.size} bytes")
    return payload.reshape(shape)


def find_idx(folder: Path, stem: str) -> Path | None:
    """The IDX file `stem` in `folder`, gzip-compressed or plain, if present."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, 1) and labels (N,) from an IDX image file and its label file."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{images_path} / {labels_path}: expected (N, H, W) images and (N,) labels, "
            f"got {images.shape} and {labels.shape}"
        )
    return images[..., None], labels.astype(np.int32)
