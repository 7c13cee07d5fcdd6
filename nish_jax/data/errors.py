"""The errors of nish_jax.data: data not available, and a file that is there but damaged."""

from __future__ import annotations

import os

DAMAGED_FILE_FIX = "delete it and copy or download it again"


class DataError(Exception):
    """Base of the data errors: catch this to handle any of them."""


class DataNotFoundError(DataError, FileNotFoundError):
    """No usable copy of a data set was found (or could be downloaded); the message says where
    we looked, lists any damaged files met on the way, and says how to provide the data."""


class CorruptDataError(DataError, ValueError):
    """A data file is there but cannot be read: truncated, not the format its name says, or
    failing its checksum. The message says what is wrong and how to fix it.

    Args:
      path: the file (the ``path`` attribute).
      problem: what is wrong with it (the ``problem`` attribute).
      fix: how to fix it.
    """

    def __init__(self, path: str | os.PathLike, problem: str, fix: str = DAMAGED_FILE_FIX):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" + (f"; {fix}" if fix else ""))
