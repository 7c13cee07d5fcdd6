"""Shared test set-up. JAX stays in its default (float32) mode, as users run it; tests that need
float64 references enable it themselves (see tests/test_nish.py).

The tests read real data sets through the option a user has, NISH_DATA_DIR: unless it is set,
the project's shared copy beside the clone (../shared/data). Without the data, the session stops
at once with one message saying where data is looked for and how to provide it.

One XLA compilation cache serves the whole session, the command-line tests' subprocesses too (they
inherit the environment): many tests compile the same smoke programs, in process and through the
scripts a user runs. It is removed when the session ends.
"""

import os
import shutil
import tempfile

import pytest

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    SESSION_CACHE = tempfile.mkdtemp(prefix="nish-jax-tests-xla-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = SESSION_CACHE
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
else:
    SESSION_CACHE = None

os.environ.setdefault(
    "NISH_DATA_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")),
)

DATA_SETS_THE_TESTS_READ = ("mnist", "fashion_mnist", "cifar10")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, with one message, when a data set the tests read is not on the search path."""
    from nish_jax.data import DataNotFoundError, dataset_dir
    from nish_jax.data.downloads import downloads_dir

    missing = []
    for name in DATA_SETS_THE_TESTS_READ:
        try:
            dataset_dir(name)
        except DataNotFoundError:
            missing.append(name)
    if missing:
        raise pytest.UsageError(
            f"The tests read the real data sets {', '.join(DATA_SETS_THE_TESTS_READ)}; "
            f"not found: {', '.join(missing)}.\n"
            f"Looked for <dir>/<name>/ in each directory of NISH_DATA_DIR="
            f"{os.environ['NISH_DATA_DIR']} (os.pathsep-separated; unless set, ../shared/data "
            f"beside the clone), then in the download cache {downloads_dir()}.\n"
            "Provide them: clone beside the project's shared/ folder, or set NISH_DATA_DIR to "
            "directories holding mnist/ and fashion_mnist/ (the official IDX .gz files) and "
            "cifar10/ (image folders train.tar.gz and test.tar.gz, or the official "
            'cifar-10-python.tar.gz). With network, python -c "import nish_jax.data as d; '
            "d.download('mnist'); d.download('fashion_mnist')\" fetches those two."
        )


def pytest_sessionfinish(session: pytest.Session) -> None:
    if SESSION_CACHE is not None:
        shutil.rmtree(SESSION_CACHE, ignore_errors=True)
