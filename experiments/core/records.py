"""The one records store: what a finished program computed, under a key that covers everything
that changes it.

A record is a small JSON file in ``<output_root>/finished/``; a record that is there is used
instead of training, so a long experiment can be done in parts across machines and sessions, and
committed records let anyone republish a result. Its :class:`RecordKey` names:

- ``program``: the computation (its readable name and the fingerprint of its resolved config);
- ``data``: the content digest of the data files it read, so another copy of a data set (the
  JPEG CIFAR-10 or the official binaries) trains anew;
- ``init``: the content digest of its starting weights ("" for a random initialisation);
- ``device``: the kind of device it ran on;
- ``measurement``: for a measurement of a trained program, its name, code version and settings.

The key is written into the record, and a record whose key differs from the one asked for is
never returned. Writes are atomic (to a temporary file, then renamed): a kill never leaves half a
record.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from nish_jax.train.metrics import plain_number


@dataclass(frozen=True)
class RecordKey:
    """Everything that changes a record (module doc)."""

    program: str
    data: str
    init: str
    device: str
    measurement: str = ""

    @property
    def filename(self) -> str:
        """``<program>-<digest of data, init and device>[.<measurement>].json``."""
        identity = json.dumps([self.data, self.init, self.device]).encode()
        name = f"{self.program}-{hashlib.sha256(identity).hexdigest()[:8]}"
        return name + (f".{self.measurement}" if self.measurement else "") + ".json"

    def measured(self, measurement: str) -> RecordKey:
        """The key of ``measurement`` made on this key's program."""
        return RecordKey(self.program, self.data, self.init, self.device, measurement)


def measurement_key(name: str, version: int, **settings: Any) -> str:
    """``<name>-v<version>-<hash of settings>``: the key of a measurement with these settings.
    Raise the measuring code's ``version`` whenever a change makes it return other rows for the
    same trained state (a fix, a new column): records of the old code are then not reused."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=list).encode())
    return f"{name}-v{version}-{digest.hexdigest()[:10]}"


class RecordStore:
    """The records under ``<output_root>/finished/``."""

    def __init__(self, output_root: str) -> None:
        self.directory = os.path.join(output_root, "finished")

    def path(self, key: RecordKey) -> str:
        return os.path.join(self.directory, key.filename)

    def has(self, key: RecordKey) -> bool:
        return self.get(key) is not None

    def get(self, key: RecordKey) -> dict[str, Any] | None:
        """The record kept under ``key`` (without its key), or None."""
        path = self.path(key)
        if not os.path.exists(path):
            return None
        with open(path) as file:
            record = json.load(file)
        if record.get("key") != asdict(key):
            return None
        return {name: value for name, value in record.items() if name != "key"}

    def put(self, key: RecordKey, record: Mapping[str, Any]) -> dict[str, Any]:
        """Keep ``record`` under ``key``; returns it as a later reader will see it."""
        write_json_atomic(self.path(key), {"key": asdict(key), **record})
        return json.loads(json.dumps(dict(record), default=plain_number))


def write_json_atomic(path: str, value: Any, indent: int | None = 1) -> None:
    """Write ``value`` as JSON to ``path`` through a temporary file and a rename."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "w") as file:
        json.dump(value, file, indent=indent, default=plain_number)
    os.replace(path + ".tmp", path)
