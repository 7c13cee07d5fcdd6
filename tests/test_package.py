"""The package as users install it: the wheel's files and metadata, every module of the installed
wheel importing on its own, and the library without the training extra."""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

import nish_jax

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the build reads; the wheel is built from a copy, so the working tree gets no build files.
BUILD_INPUTS = ("pyproject.toml", "LICENSE", "docs/pypi.md", "nish_jax")
DIST_INFO = f"nish_jax-{nish_jax.__version__}.dist-info"


def _run(*args: str, **options) -> subprocess.CompletedProcess:
    process = subprocess.run(args, capture_output=True, text=True, timeout=300, **options)
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-3000:]
    return process


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        origin, copy = os.path.join(REPO, name), os.path.join(source, name)
        if os.path.isdir(origin):
            shutil.copytree(origin, copy, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            shutil.copy(origin, copy)
    dist = tmp_path_factory.mktemp("dist")
    _run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        str(source), "-w", str(dist),
    )  # fmt: skip
    (name,) = os.listdir(dist)
    return os.path.join(dist, name)


def test_wheel_carries_the_license_and_py_typed(wheel: str) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "nish_jax/py.typed" in names
    assert f"{DIST_INFO}/licenses/LICENSE" in names
    license_text = zipfile.ZipFile(wheel).read(f"{DIST_INFO}/licenses/LICENSE").decode()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text


def test_the_package_type_checks(tmp_path) -> None:
    """py.typed promises annotations a type checker can use: mypy finds no error in them."""
    _run(sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path), cwd=REPO)


def test_wheel_metadata(wheel: str) -> None:
    raw = zipfile.ZipFile(wheel).read(f"{DIST_INFO}/METADATA").decode()
    metadata = email.parser.Parser().parsestr(raw)
    assert metadata["Version"] == nish_jax.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["License-File"] == "LICENSE"
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Description-Content-Type"] == "text/markdown"
    requirements = metadata.get_all("Requires-Dist")
    assert not [r for r in requirements if r.startswith("chex")]
    assert {"train", "timm", "experiments"} <= set(metadata.get_all("Provides-Extra"))
    train = [r.split(">=")[0] for r in requirements if r.endswith('extra == "train"')]
    assert sorted(train) == ["ml_collections", "orbax-checkpoint"]
    assert any(r.startswith("nish-jax[") and "train" in r for r in requirements)
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    # The long description is the short PyPI page, its links absolute.
    description = metadata.get_payload()
    assert description.startswith("# nish-jax") and len(description) < 3000
    assert "](http" in description and "](./" not in description


# Imports every module of the wheel from the install directory, never from the repository.
IMPORT_ALL = """
import importlib, os, sys
target, modules = sys.argv[1], sys.argv[2:]
for name in modules:
    module = importlib.import_module(name)
    assert module.__file__.startswith(target + os.sep), (name, module.__file__)
print(len(modules))
"""


def test_every_module_of_the_installed_wheel_imports(wheel: str, tmp_path) -> None:
    target = str(tmp_path / "site")
    _run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, wheel)
    modules = sorted(
        name[: -len(".py")].removesuffix("/__init__").replace("/", ".")
        for name in zipfile.ZipFile(wheel).namelist()
        if name.endswith(".py")
    )
    assert {"nish_jax", "nish_jax.models.convert", "nish_jax.train.loop"} <= set(modules)
    # -S: no site-packages processing (its .pth files would put the editable checkout on the
    # path); the path is the standard library, the install and the environment's packages.
    stdlib = [p for p in sys.path if p and os.path.realpath(p) != os.path.realpath(REPO)]
    stdlib = [p for p in stdlib if "site-packages" not in p]
    site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    path = os.pathsep.join([target, *stdlib, *sorted(site)])
    env = {**os.environ, "PYTHONPATH": path, "JAX_PLATFORMS": "cpu"}
    process = _run(sys.executable, "-S", "-c", IMPORT_ALL, target, *modules, env=env, cwd=tmp_path)
    assert process.stdout.split()[-1] == str(len(modules))


WITHOUT_TRAIN_EXTRA = """
import sys
for name in ("ml_collections", "orbax", "orbax.checkpoint"):
    sys.modules[name] = None  # as if the train extra were not installed
import nish_jax, nish_jax.models, nish_jax.data, nish_jax.train
from nish_jax.train import Checkpointer, fingerprint, get_config_defaults
assert len(fingerprint({"dataset": "mnist", "schedule": "constant"})) == 10
for build in (get_config_defaults, lambda: Checkpointer("unused", 1)):
    try:
        build()
    except ImportError as error:
        assert "pip install 'nish-jax[train]'" in str(error), error
    else:
        raise AssertionError("no ImportError")
print("ok")
"""


def test_the_library_imports_without_the_train_extra() -> None:
    process = _run(sys.executable, "-c", WITHOUT_TRAIN_EXTRA, cwd=REPO)
    assert process.stdout.strip() == "ok"
