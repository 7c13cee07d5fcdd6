"""``Dataset``: one split of a data set with deterministic, resumable batching."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from nish_jax.data.folders import decode_image


@dataclass(frozen=True)
class Dataset:
    """One split: labels always in memory, images in memory (``images``) or streamed (``paths``).

    :meth:`batches` yields (uint8 NHWC images, int32 labels); the order depends only on
    (seed, epoch), so a training run resumed at batch ``start`` sees exactly the batches it missed.
    :func:`nish_jax.data.load` builds it.
    """

    name: str
    split: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    labels: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]
    images: np.ndarray | None = None
    paths: tuple[str, ...] | None = None
    center_crop: bool = False
    source: str = ""
    num_workers: int = min(8, os.cpu_count() or 1)
    prefetch_batches: int = 2

    def __post_init__(self) -> None:
        if self.images is not None and self.paths is None:
            count = len(self.images)
        elif self.paths is not None and self.images is None:
            count = len(self.paths)
        else:
            raise ValueError("a Dataset holds exactly one of `images` (in memory) or `paths`")
        if count != len(self.labels):
            raise ValueError(f"{count} images but {len(self.labels)} labels")

    @property
    def num_examples(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def in_memory(self) -> bool:
        return self.images is not None

    @property
    def _files(self) -> tuple[str, ...]:
        """The image files of a Dataset read from disk."""
        if self.paths is None:
            raise ValueError("this Dataset holds its images in memory, not as files")
        return self.paths

    def num_batches(self, batch_size: int, drop_remainder: bool = True) -> int:
        """How many batches one epoch has.

        Args:
          batch_size: the examples in a batch.
          drop_remainder: leave out a last, smaller batch.

        Returns:
          The number of batches.

        Raises:
          ValueError: ``batch_size`` is not a positive int, or (with ``drop_remainder``) larger
            than the split.
        """
        _check_batch_size(batch_size, self.num_examples, drop_remainder)
        full, rest = divmod(self.num_examples, batch_size)
        return full + (1 if rest and not drop_remainder else 0)

    def order(self, *, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
        """The example order of one epoch.

        Args:
          seed: the order's seed, at least 0.
          epoch: the epoch, at least 0.
          shuffle: if False, the examples in their stored order.

        Returns:
          The example indices, a permutation fixed by (``seed``, ``epoch``).
        """
        if shuffle:
            if seed < 0 or epoch < 0:
                raise ValueError(f"seed and epoch must be >= 0, got seed={seed}, epoch={epoch}")
            return np.random.default_rng([seed, epoch]).permutation(self.num_examples)
        return np.arange(self.num_examples)

    def batches(
        self,
        batch_size: int,
        *,
        seed: int,
        epoch: int,
        shuffle: bool = True,
        drop_remainder: bool = True,
        start: int = 0,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield one epoch's batches from batch index ``start`` on (skipped ones cost nothing).

        Args:
          batch_size: the examples in a batch.
          seed: the order's seed (see :meth:`order`).
          epoch: the epoch (see :meth:`order`).
          shuffle: if False, the examples in their stored order.
          drop_remainder: leave out a last, smaller batch.
          start: the first batch to yield, from 0 to :meth:`num_batches`.

        Yields:
          ``(images, labels)``: uint8 NHWC images and int32 labels.
        """
        count = self.num_batches(batch_size, drop_remainder)
        if not 0 <= start <= count:
            raise ValueError(f"start={start} is outside 0..{count} (the epoch's batch count)")
        order = self.order(seed=seed, epoch=epoch, shuffle=shuffle)
        batch_indices = (order[i * batch_size : (i + 1) * batch_size] for i in range(start, count))
        if (held := self.images) is not None:
            for indices in batch_indices:
                sorted_pos = np.argsort(indices)  # sorted reads are kinder to memory maps
                images = np.empty((len(indices), *self.image_shape), np.uint8)
                images[sorted_pos] = held[indices[sorted_pos]]
                yield images, self.labels[indices].astype(np.int32)
        else:
            yield from self._stream(batch_indices)

    def _stream(
        self, batch_indices: Iterator[np.ndarray]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Decode batches in a thread pool, keeping ``prefetch_batches`` batches in flight."""
        size, paths = self.image_shape[0], self._files
        pending: deque[tuple[list[Future], np.ndarray]] = deque()
        with ThreadPoolExecutor(self.num_workers) as pool:

            def submit(indices: np.ndarray) -> None:
                futures = [
                    pool.submit(decode_image, paths[i], size, self.center_crop) for i in indices
                ]
                pending.append((futures, self.labels[indices].astype(np.int32)))

            try:
                for indices in batch_indices:
                    submit(indices)
                    if len(pending) > self.prefetch_batches:
                        yield _collect(*pending.popleft())
                while pending:
                    yield _collect(*pending.popleft())
            finally:
                for futures, _ in pending:
                    for future in futures:
                        future.cancel()

    def subset(self, num_examples: int, seed: int = 0) -> Dataset:
        """A fixed, class-balanced (as far as the classes allow), deterministic subset.

        Args:
          num_examples: the subset's size, from 1 to the split's.
          seed: the seed of the choice.

        Returns:
          The subset, a :class:`Dataset` with its examples in their stored order.
        """
        if not 1 <= num_examples <= self.num_examples:
            raise ValueError(
                f"subset size {num_examples} must be in 1..{self.num_examples} "
                f"(the size of the {self.name} {self.split} split)"
            )
        shuffled = np.random.default_rng(seed).permutation(self.num_examples)
        labels = self.labels[shuffled]
        # Rank of each shuffled example within its class: taking ranks 0, 1, 2, ... in turn
        # deals the examples out class by class, so every class gets an equal share.
        rank = np.empty(len(shuffled), np.int64)
        for label in np.unique(labels):
            where = labels == label
            rank[where] = np.arange(where.sum())
        chosen = np.sort(shuffled[np.lexsort((np.arange(len(shuffled)), rank))[:num_examples]])
        if self.images is not None:
            return replace(self, images=self.images[chosen], labels=self.labels[chosen])
        files = self._files
        return replace(self, paths=tuple(files[i] for i in chosen), labels=self.labels[chosen])


def _collect(futures: list[Future], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([future.result() for future in futures]), labels


def _check_batch_size(batch_size: int, num_examples: int, drop_remainder: bool) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if drop_remainder and batch_size > num_examples:
        raise ValueError(
            f"batch_size {batch_size} exceeds the split's {num_examples} examples "
            "(use drop_remainder=False or a smaller batch)"
        )
