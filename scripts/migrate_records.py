"""Migrate the committed records to the one records store (run once, 2026-12-02).

    NISH_DATA_DIR=../shared/data python scripts/migrate_records.py [docs/results]

Before this change a record was named by its computation alone and kept where its data was read
from as an absolute path; the CIFAR-10 study kept its own store. This script gives every record
under ``<root>/finished/`` and ``<root>/cifar10_study/<variant>/finished/`` its full key
(:class:`experiments.core.records.RecordKey`) and writes it into the one store, nothing
recomputed:

- ``data``: the content digest of the data files the record names (the shared copy of MNIST or
  of CIFAR-10 in the project's shared data folder, which has not changed since the records were
  made);
- ``init``: "" (no committed record started from a weights file);
- ``device``: "cpu", from ``trained_on`` ("1 x cpu (...)"); the 8 records made before records
  named their machine were trained on the project's CPU-only machines (no accelerator had been
  lent when they were made);
- the data source becomes symbolic (``$NISH_DATA_DIR/mnist``), here and in every committed
  ``runs.csv``.

It refuses a record it cannot place (an unknown data source or device) rather than guess.

2026-12-03: the gradient-flow measurement's version 2 measures in train mode and eval mode; a
committed gradient-flow result of version 1 was measured in eval mode only, so its rows get
``mode`` = eval (:func:`eval_mode_gradient_flow`).
"""

from __future__ import annotations

import csv
import glob
import json
import os
import sys
from pathlib import Path

import ml_collections

from experiments.cifar10 import study
from experiments.core import provenance
from experiments.core.records import RecordKey, RecordStore


def device_of(trained_on: list[str]) -> str:
    kinds = {
        "cpu" if t.startswith("1 x cpu") or t == "machine not recorded" else t for t in trained_on
    }
    if kinds != {"cpu"}:
        raise ValueError(f"a record trained on {trained_on}: not a CPU record, not migrated")
    return "cpu"


def data_of(source: str) -> tuple[str, str]:
    """The content digest and symbolic form of a recorded absolute data source."""
    files = [source]
    if source.endswith("cifar10/train.tar.gz"):  # the study and Table 1 read both splits
        files.append(source.replace("train.tar.gz", "test.tar.gz"))
    return provenance.content_digest(files), provenance.symbolic_source(source)


def migrate_engine_records(root: str, store: RecordStore) -> int:
    count = 0
    for path in sorted(glob.glob(os.path.join(root, "finished", "*.json"))):
        with open(path) as file:
            record = json.load(file)
        if "key" in record:
            continue
        program, _, measurement = os.path.basename(path)[: -len(".json")].partition(".")
        digest, source = data_of(record["data_source"])
        key = RecordKey(
            program,
            digest,
            "",
            device_of(record.get("trained_on", ["machine not recorded"])),
            measurement,
        )
        payload = {name: value for name, value in record.items() if name != "data_source"}
        store.put(key, {"runs": payload.pop("runs"), "data_source": source, **payload})
        if store.path(key) != path:
            os.remove(path)
        count += 1
    return count


def migrate_study_records(root: str, store: RecordStore) -> int:
    count = 0
    for directory in sorted(glob.glob(os.path.join(root, "cifar10_study", "*", "finished"))):
        with open(os.path.join(os.path.dirname(directory), "config.json")) as file:
            config = ml_collections.ConfigDict(json.load(file))
        digest, _ = data_of(str(Path(os.environ["NISH_DATA_DIR"]) / "cifar10" / "train.tar.gz"))
        for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
            with open(path) as file:
                row = json.load(file)
            key = study.record_key(config, row["activation"], row["dataset"], row["seed"], digest)
            old_hash = os.path.basename(path).rsplit("-", 1)[1][: -len(".json")]
            if not key.program.endswith(old_hash):
                raise ValueError(f"{path}: its config no longer gives its computation's hash")
            if row["device"] != key.device:  # the study's rows name their device kind
                raise ValueError(f"{path}: trained on a {row['device']}, not this device kind")
            store.put(key, {"row": row})
            os.remove(path)
            count += 1
        os.rmdir(directory)
    return count


def symbolic_runs_csv(root: str) -> int:
    count = 0
    for path in sorted(glob.glob(os.path.join(root, "*", "*", "runs.csv"))):
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
        if not rows or "data_source" not in rows[0]:
            continue
        for row in rows:
            if os.path.isabs(row["data_source"]):
                row["data_source"] = provenance.symbolic_source(row["data_source"])
        with open(path, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        count += 1
    return count


def eval_mode_gradient_flow(root: str) -> int:
    """Give the rows of committed version-1 gradient-flow results their mode (eval)."""
    count = 0
    for path in sorted(glob.glob(os.path.join(root, "gradient_flow", "*", "runs.csv"))):
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
        if not rows or "mode" in rows[0]:
            continue
        columns = list(rows[0])
        columns.insert(columns.index("stage") + 1, "mode")
        with open(path, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns)
            writer.writeheader()
            writer.writerows({**row, "mode": "eval"} for row in rows)
        count += 1
    return count


def main(root: str = os.path.join("docs", "results")) -> None:
    store = RecordStore(root)
    print(f"engine records migrated: {migrate_engine_records(root, store)}")
    print(f"CIFAR-10 study records moved into the store: {migrate_study_records(root, store)}")
    print(f"runs.csv files with a symbolic data source: {symbolic_runs_csv(root)}")
    print(f"gradient-flow results given their (eval) mode: {eval_mode_gradient_flow(root)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
