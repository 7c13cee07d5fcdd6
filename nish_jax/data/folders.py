"""Image folders (`<root>/<split>/<class>/*.jpg|png`): scanning and decoding with PIL."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class FolderIndex:
    """The files of one split of an image folder and their integer labels."""

    paths: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]


def scan_folder(split_dir: Path, class_order: Sequence[str] | None = None) -> FolderIndex:
    """List the images of `split_dir/<class>/`, classes in `class_order` (default: sorted names)."""
    found = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    if class_order is None:
        class_names = tuple(found)
    elif sorted(class_order) != found:
        raise ValueError(
            f"{split_dir}: class folders {found} do not match the expected {list(class_order)}"
        )
    else:
        class_names = tuple(class_order)
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(class_names):
        files = sorted(
            str(p) for p in (split_dir / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
        )
        paths.extend(files)
        labels.extend([label] * len(files))
    if not paths:
        raise ValueError(f"{split_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) in class folders")
    return FolderIndex(tuple(paths), np.asarray(labels, dtype=np.int32), class_names)


def decode_image(path: str, image_size: int | None, center_crop: bool) -> np.ndarray:
    """Decode one image to uint8 RGB (H, W, 3), resized to `image_size` when given.

    center_crop=False resizes straight to image_size x image_size (training); True resizes the
    shorter side to image_size and crops the centre (the usual evaluation transform).
    """
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        if image_size is not None and image.size != (image_size, image_size):
            if center_crop:
                width, height = image.size
                scale = image_size / min(width, height)
                new_w, new_h = (
                    max(image_size, round(width * scale)),
                    max(image_size, round(height * scale)),
                )
                image = image.resize((new_w, new_h), Image.BILINEAR)
                left, top = (new_w - image_size) // 2, (new_h - image_size) // 2
                image = image.crop((left, top, left + image_size, top + image_size))
            else:
                image = image.resize((image_size, image_size), Image.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def decode_images(
    paths: Sequence[str],
    image_size: int | None,
    center_crop: bool,
    executor: ThreadPoolExecutor | None = None,
) -> np.ndarray:
    """Decode many images into one (N, H, W, 3) uint8 array (in parallel when given a pool)."""
    if executor is None:
        images = [decode_image(p, image_size, center_crop) for p in paths]
    else:
        images = list(executor.map(lambda p: decode_image(p, image_size, center_crop), paths))
    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise ValueError(f"images of different sizes {sorted(shapes)}: pass image_size to load()")
    return np.stack(images)
