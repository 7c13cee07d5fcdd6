"""The one records store: its key covers what changes a result, and it finds every committed
record."""

from __future__ import annotations

import glob
import gzip
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import ml_collections
import pytest

from experiments import registry
from experiments.core import experiment, grid, provenance
from experiments.core.records import RecordKey, RecordStore

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "results"
SHARED_MNIST = Path(os.environ["NISH_DATA_DIR"].split(os.pathsep)[0]) / "mnist"


def test_every_committed_record_is_found_by_the_store_under_its_own_key():
    store = RecordStore(str(COMMITTED))
    paths = sorted(glob.glob(str(COMMITTED / "finished" / "*.json")))
    assert len(paths) >= 280
    for path in paths:
        with open(path) as file:
            key = RecordKey(**json.load(file)["key"])
        assert store.path(key) == path and store.get(key) is not None, path


@pytest.mark.parametrize("name", ["depth_sweep", "noise_robustness", "gradient_flow"])
def test_the_committed_full_mnist_runs_need_no_training_here(name):
    """The keys this machine computes for every program of the committed full runs (data by
    content, device kind) are the migrated records' keys: nothing trains. (The gradient flow's
    committed measurement is version 1; version 2 measures both BatchNorm modes and would
    measure anew, on programs whose training is recorded.)"""
    spec = registry.get(name)
    with open(COMMITTED / name / "full" / "config.json") as file:
        config = ml_collections.ConfigDict(json.load(file))
    config.output_root = str(COMMITTED)
    measurement = None if name == "gradient_flow" else spec.module.measurement(config)
    line = grid.progress_line(
        spec.module.points(config),
        RecordStore(config.output_root),
        config.vmap_seeds,
        measurement,
        name,
    )
    done, total = line.split(": ", 1)[1].split(" programs")[0].split(" of ")
    assert done == total and int(total) > 0, line


def test_a_committed_record_has_no_absolute_path():
    machine = str(ROOT.parent) + os.sep  # where this checkout and the shared data lie
    for path in glob.glob(str(COMMITTED / "**" / "*.*"), recursive=True):
        if path.endswith((".json", ".csv", ".md")):
            text = Path(path).read_text()
            assert str(Path.home()) + os.sep not in text and machine not in text, path


def _smoke_sweep(output_root: str) -> ml_collections.ConfigDict:
    config = registry.get("depth_sweep").get_config("smoke")
    config.output_root = output_root
    config.depths, config.primary_depths = (1,), (1,)
    config.control_activations, config.learning_rate_factors = (), ()
    return config


def test_another_copy_of_the_data_trains_anew_and_a_moved_copy_does_not(
    tmp_path, monkeypatch, capsys
):
    spec = registry.get("depth_sweep")
    config = _smoke_sweep(str(tmp_path / "results"))
    first = experiment.run(spec.module, config)
    assert "0 of 4 programs recorded" in capsys.readouterr().out

    moved = tmp_path / "moved"
    shutil.copytree(SHARED_MNIST, moved / "mnist")
    monkeypatch.setenv("NISH_DATA_DIR", str(moved))
    again = experiment.run(spec.module, config)
    assert "4 of 4 programs recorded" in capsys.readouterr().out  # the same bytes elsewhere
    assert [r["test_top1_percent"] for r in again.runs] == [
        r["test_top1_percent"] for r in first.runs
    ]
    assert {r["data_source"] for r in again.runs} == {"$NISH_DATA_DIR/mnist"}

    other = tmp_path / "other"
    shutil.copytree(SHARED_MNIST, other / "mnist")
    labels = other / "mnist" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(labels.read_bytes()))
    data[8] = (data[8] + 1) % 10  # one test label changed: another copy of MNIST
    labels.write_bytes(gzip.compress(bytes(data)))
    monkeypatch.setenv("NISH_DATA_DIR", str(other))
    experiment.run(spec.module, config)
    assert "0 of 4 programs recorded" in capsys.readouterr().out


def test_a_record_is_not_returned_for_another_key(tmp_path):
    store = RecordStore(str(tmp_path))
    key = RecordKey("mlp-nish-seed0-abc-1ep", "sha256:1", "", "cpu")
    store.put(key, {"runs": [1]})
    assert store.get(key) == {"runs": [1]}
    for changed in (
        RecordKey(key.program, "sha256:2", "", "cpu"),
        RecordKey(key.program, key.data, "sha256:3", "cpu"),
        RecordKey(key.program, key.data, "", "NVIDIA H200"),
        key.measured("gradient_flow-v2-0123456789"),
    ):
        assert store.get(changed) is None
    # A file whose name matches but whose recorded key does not is not that key's record.
    with open(store.path(key)) as file:
        record = json.load(file)
    record["key"]["device"] = "TPU v5 lite"
    with open(store.path(key), "w") as file:
        json.dump(record, file)
    assert store.get(key) is None


def test_starting_weights_are_identified_by_content_not_path(tmp_path):
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    first.write_bytes(b"weights")
    second.write_bytes(b"weights")
    assert provenance.init_identity(str(first)) == provenance.init_identity(str(second))
    second.write_bytes(b"other weights")
    assert provenance.init_identity(str(first)) != provenance.init_identity(str(second))
    assert provenance.init_identity("") == ""


def test_a_record_key_names_its_fields():
    key = RecordKey("p", "sha256:1", "", "cpu", "m-v1-0")
    assert asdict(key) == {
        "program": "p",
        "data": "sha256:1",
        "init": "",
        "device": "cpu",
        "measurement": "m-v1-0",
    }
    assert key.filename.startswith("p-") and key.filename.endswith(".m-v1-0.json")
