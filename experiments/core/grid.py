"""Train a grid of points (activation x depth, x model, ...) and return one row per run.

Every training program gets its own run directory ``<output_root>/runs/<name>-<fingerprint>``,
where the fingerprint is a hash of every config key that changes the computation
(:func:`nish_jax.train.config.fingerprint`). So a point is resumed only by the same computation,
a sweep re-run with another learning rate trains new runs instead of reusing old ones, and two
experiments that need the same training (the depth sweep and the gradient-flow analysis) share it.

Seeds: run r of a point uses seed ``train.seed + r`` for every activation (the same batches, noise
and, where shapes agree, initial weights), so the rows can be compared pairwise. With
``vmap_seeds`` all seeds of a point train at once in one program (accelerators); without, each
seed is its own single-run program (CPUs, where a vmapped convolution runs as a slower grouped
one). Either way a run that diverges is a row with ``diverged=True`` and NaN metrics; the other
runs and points go on.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ml_collections

from experiments.core import provenance
from experiments.core.records import RecordKey, RecordStore, measurement_key
from nish_jax.train import TrainResult, machine, read_rows, train_and_evaluate
from nish_jax.train.config import fingerprint
from nish_jax.train.progress import progress_bar

_log = logging.getLogger(__name__)

FINAL_METRICS = ("train_loss", "train_top1", "test_loss", "test_top1")


@dataclass(frozen=True)
class Point:
    """One point of a grid: its keys (e.g. ``{"depth": 20}``), activation and engine config
    (``train.num_runs`` seeds from ``train.seed``)."""

    keys: Mapping[str, Any]
    activation: str
    train: ml_collections.ConfigDict


@dataclass(frozen=True)
class Measurement:
    """What an experiment measures on each trained program, beyond its final metrics.

    ``measure(engine config of one program, its train_and_evaluate result)`` returns extra rows,
    each with the program's ``"run"`` index and the metrics to add to that run's row. ``key``
    names what, besides the training, the rows depend on
    (:func:`experiments.core.records.measurement_key`): the rows are recorded under it, so that a
    program measured once is never trained or measured again."""

    key: str
    measure: Callable[[ml_collections.ConfigDict, TrainResult], list[dict[str, Any]]]


def engine_config(
    train: ml_collections.ConfigDict, act: str, **model_options: Any
) -> ml_collections.ConfigDict:
    """A copy of ``train`` with ``act`` and ``model_options`` set (one point's config)."""
    config = ml_collections.ConfigDict(train.to_dict())
    config.act = act
    for key, value in model_options.items():
        config.model_options[key] = value
    return config


def programs(point: Point, vmap_seeds: bool) -> list[ml_collections.ConfigDict]:
    """The training programs of one point: all its seeds at once, or one per seed."""
    if vmap_seeds:
        return [point.train]
    singles = []
    for run in range(point.train.num_runs):
        single = ml_collections.ConfigDict(point.train.to_dict())
        single.num_runs, single.seed = 1, point.train.seed + run
        singles.append(single)
    return singles


def run_dir(output_root: str, train: ml_collections.ConfigDict) -> str:
    """``<output_root>/runs/<model>-<act>[-depth<d>]-<seeds>-<fingerprint>``: the name is for
    people; the fingerprint of the computation is what makes runs the same or different."""
    depth = train.model_options.get("depth")
    seeds = f"seed{train.seed}" if train.num_runs == 1 else f"seeds{train.seed}+{train.num_runs}"
    parts = [train.model, train.act, f"depth{depth}" if depth is not None else "", seeds]
    name = "-".join(part for part in parts if part)
    return os.path.join(output_root, "runs", f"{name}-{fingerprint(train)}")


def train_grid(
    points: Sequence[Point],
    *,
    output_root: str,
    vmap_seeds: bool,
    measurement: Measurement | None = None,
    description: str = "points",
) -> list[dict[str, Any]]:
    """Train (or resume, or reuse) every point; one row per run (per measured row if a
    ``measurement`` is given): the point's keys, ``activation``, ``seed``, ``diverged``,
    ``diverged_step``, the final metrics (accuracies in %), where the training data was read from
    and the run directory.

    A finished program leaves a record of its final metrics in the records store
    (:mod:`experiments.core.records`, keyed by :func:`record_key`) and, if measured, one of its
    final metrics and measured rows under the measurement's key; a record that is there is used
    instead of training. Records can be committed, so a long sweep can be done in parts across
    machines or sessions that do not keep the (large) run directories, and a program trained by
    one experiment and measured by another is trained once.

    It first prints how many of the grid's programs already have their record, so that a sweep
    done in parts says how much is left."""
    store = RecordStore(output_root)
    print(progress_line(points, store, vmap_seeds, measurement, description), flush=True)
    rows = []
    for point in progress_bar(points, desc=description, unit="point"):
        for train in programs(point, vmap_seeds):
            workdir = run_dir(output_root, train)
            record = recorded_or_trained(train, workdir, store, measurement)
            measured = (
                record["measured"]
                if measurement
                else [{"run": r} for r in range(len(record["runs"]))]
            )
            for extra in measured:
                extra = dict(extra)
                run = extra.pop("run")
                final = record["runs"][run]
                rows.append(
                    {
                        **point.keys,
                        "activation": point.activation,
                        "seed": train.seed + run,
                        "diverged": bool(final["diverged"]),
                        "diverged_step": final["diverged_step"],
                        **_final_metrics(final),
                        **extra,
                        "data_source": record["data_source"],
                        "trained_on": trained_on(record),
                        "workdir": workdir,
                    }
                )
    return rows


def progress_line(
    points: Sequence[Point],
    store: RecordStore,
    vmap_seeds: bool,
    measurement: Measurement | None,
    description: str,
) -> str:
    """``"<description>: k of n programs recorded in <store>; n - k to run"``."""
    keys = [record_key(t) for point in points for t in programs(point, vmap_seeds)]
    if measurement:
        keys = [key.measured(measurement.key) for key in keys]
    done = sum(map(store.has, keys))
    return (
        f"{description}: {done} of {len(keys)} programs recorded in {store.directory}; "
        f"{len(keys) - done} to run"
    )


def recorded_or_trained(
    train: ml_collections.ConfigDict,
    workdir: str,
    store: RecordStore,
    measurement: Measurement | None,
) -> dict[str, Any]:
    """One program's record (of its measurement, if given): read if it is there, else made by
    training (or resuming, or reusing ``workdir``) and measuring."""
    key = record_key(train)
    wanted = key.measured(measurement.key) if measurement else key
    record = store.get(wanted)
    if record is not None:
        return record
    result = train_and_evaluate(train, workdir)
    final = final_record(result)
    plain = store.get(key)
    if plain is None:
        plain = store.put(key, final)
    elif json.dumps(plain["runs"]) != json.dumps(result.runs):  # NaN == NaN
        _log.warning(
            "%s was trained again to be measured and ended unlike its record %s (the record was "
            "trained on %s, this on %s); the measurement and the final metrics beside it are of "
            "the state trained now, the record is kept for the experiments that read only it",
            workdir,
            store.path(key),
            trained_on(plain),
            trained_on(final),
        )
    if measurement is None:
        return plain
    return store.put(wanted, {**final, "measured": list(measurement.measure(train, result))})


def final_record(result: TrainResult) -> dict[str, Any]:
    """What a record keeps of a finished program: its runs' final metrics, where its data was
    found (symbolically) and what it was computed on."""
    return {
        "runs": result.runs,
        "data_source": provenance.symbolic_source(result.data_source),
        "trained_on": result.trained_on,
    }


def trained_on(record: Mapping[str, Any]) -> str:
    """Where a record's program was computed (hardware and JAX version, " + " between the
    machines of a run resumed on another); ``machine.NOT_RECORDED`` for records made before
    records named it (2026-12-01)."""
    return " + ".join(record.get("trained_on", [machine.NOT_RECORDED]))


def record_name(train: ml_collections.ConfigDict) -> str:
    """A program's name in the records store: its run directory's (the fingerprint of its
    computation) and its length, which the fingerprint leaves out where a run can be extended (a
    constant or step schedule): a 10-epoch and a 20-epoch result of one run directory are two
    records."""
    return f"{os.path.basename(run_dir('', train))}-{train.num_epochs}ep"


def record_key(train: ml_collections.ConfigDict) -> RecordKey:
    """Everything that changes a program's record: its computation, the content of its data and
    starting weights, and the device kind it runs on."""
    return RecordKey(
        program=record_name(train),
        data=provenance.data_identity(train),
        init=provenance.init_identity(train.init_from),
        device=provenance.device_kind(),
    )


def _final_metrics(final: Mapping[str, Any]) -> dict[str, float]:
    values = {}
    for key in FINAL_METRICS:
        value = float(final[key]) if not final["diverged"] else math.nan
        values[key if "top1" not in key else f"{key}_percent"] = (
            100 * value if "top1" in key else value
        )
    return values


def select(rows: Sequence[Mapping[str, Any]], **where: Any) -> list[Mapping[str, Any]]:
    """The rows whose keys equal ``where``'s values, in row order."""
    return [row for row in rows if all(row[key] == value for key, value in where.items())]


def values_of(rows: Sequence[Mapping[str, Any]], metric: str, **where: Any) -> list[float]:
    """``metric`` of every run matching ``where`` (NaN for diverged runs), in row order."""
    return [
        float(row[metric]) if not row["diverged"] else math.nan for row in select(rows, **where)
    ]


def diverged_count(rows: Sequence[Mapping[str, Any]], **where: Any) -> tuple[int, int]:
    """(diverged runs, all runs) among the rows matching ``where``."""
    matching = select(rows, **where)
    return sum(bool(row["diverged"]) for row in matching), len(matching)


def at_epochs(epochs: Sequence[int]) -> Measurement:
    """Each run's test metrics after each of ``epochs``, read from its history (one
    constant-schedule run read at 50, 100 and 150 epochs is three budgets of the same seed). A run
    that diverged by then, or stopped before, is a diverged row."""

    def measure(train: ml_collections.ConfigDict, result: TrainResult) -> list[dict[str, Any]]:
        history = {(row["run"], row["epoch"]): row for row in read_rows(result.workdir, "epochs")}
        rows = []
        for run in range(train.num_runs):
            for epoch in epochs:
                row = history.get((run, epoch))
                finished = row is not None and not row.get("diverged", False)
                rows.append(
                    {
                        "run": run,
                        "epochs": epoch,
                        "diverged": not finished,
                        **{
                            f"{key}_percent" if "top" in key else key: (
                                (100 * row[key] if "top" in key else row[key])
                                if finished
                                else math.nan
                            )
                            for key in (*FINAL_METRICS, "test_top5")
                        },
                    }
                )
        return rows

    return Measurement(measurement_key("at_epochs", 1, epochs=list(epochs)), measure)
