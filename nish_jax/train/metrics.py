"""Metric files of a run directory: one JSONL and one CSV file per stream, rows keyed by step.

Streams are "train_steps" (every ``log_every_steps``) and "epochs" (train and test metrics at the
end of each epoch); every row has ``step`` and ``run``. A resumed run first drops the rows past
its restored step, so the files never hold a lost or a duplicated row.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from typing import Any

STREAMS = ("train_steps", "epochs")


def _read_jsonl(path: str) -> list[dict[str, Any]]:
    if not os.path.exists(path):
        return []
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


def read_rows(workdir: str, stream: str) -> list[dict[str, Any]]:
    """The rows of one stream, as written."""
    return _read_jsonl(os.path.join(workdir, f"{stream}.jsonl"))


class MetricWriter:
    """Appends rows to ``<workdir>/<stream>.jsonl`` and ``.csv`` (flushed row by row)."""

    def __init__(self, workdir: str, *, resume_step: int, is_main_process: bool = True) -> None:
        self.workdir = workdir
        self.enabled = is_main_process
        self._columns: dict[str, list[str]] = {}
        if not self.enabled:
            return
        for stream in STREAMS:
            self._truncate(stream, resume_step)

    def _truncate(self, stream: str, resume_step: int) -> None:
        """Keep rows with step <= resume_step (each row is written before its checkpoint)."""
        rows = [row for row in read_rows(self.workdir, stream) if row["step"] <= resume_step]
        for suffix in ("jsonl", "csv"):
            path = os.path.join(self.workdir, f"{stream}.{suffix}")
            if os.path.exists(path):
                os.remove(path)
        for row in rows:
            self.write(stream, row)

    def write(self, stream: str, row: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        row = {key: plain_number(value) for key, value in row.items()}
        with open(os.path.join(self.workdir, f"{stream}.jsonl"), "a") as file:
            file.write(json.dumps(row) + "\n")
        csv_path = os.path.join(self.workdir, f"{stream}.csv")
        columns = self._columns.setdefault(stream, list(row))
        new_file = not os.path.exists(csv_path)
        with open(csv_path, "a", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow(row)


def plain_number(value: Any) -> Any:
    """numpy and JAX scalars -> Python numbers, so json and csv write them alike."""
    return value.item() if hasattr(value, "item") else value
