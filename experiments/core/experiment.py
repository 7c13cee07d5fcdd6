"""The contract every experiment module keeps, and the ending they share: train, then publish.

An experiment module declares ``EXPERIMENT`` (its name: the command and the results folder) and
``TITLE``, and these functions:

- ``check_config(config)``: reject a bad value before anything trains (ValueError naming it);
- ``points(config)`` (the grid of training programs, :mod:`experiments.core.grid`) and
  ``measurement(config)`` (what is measured on each trained program, or None); or, for an
  experiment with its own trainer, ``train(config) -> rows``;
- ``comparisons(config, rows)``: the numbers (paired comparisons, :mod:`experiments.core.stats`);
- ``make_table(config, rows, compared)``, ``make_figure(config, rows, compared)`` and
  ``summary_lines(config, rows, compared, table)``: their presentation.

Everything after ``train`` reads only ``rows``, so a committed ``runs.csv`` republishes.
:func:`run` and :func:`publish` are the one ending of every experiment; the registry
(:mod:`experiments.registry`) finds the modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import ml_collections
from matplotlib.figure import Figure

from experiments.core import grid, report


@dataclass(frozen=True)
class Analysis:
    """What an experiment derives from its rows: the comparisons, then their presentation."""

    comparisons: Sequence[Mapping[str, Any]]
    table: report.Table
    figure: Figure
    summary: Sequence[str]


class ExperimentModule(Protocol):
    """The module contract (see the module doc)."""

    EXPERIMENT: str
    TITLE: str

    def check_config(self, config: ml_collections.ConfigDict) -> None: ...

    def points(self, config: ml_collections.ConfigDict) -> list[grid.Point]: ...

    def measurement(self, config: ml_collections.ConfigDict) -> grid.Measurement | None: ...

    def comparisons(
        self, config: ml_collections.ConfigDict, rows: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]: ...

    def make_table(
        self, config: ml_collections.ConfigDict, rows: Sequence[Mapping[str, Any]], compared: Any
    ) -> report.Table: ...

    def make_figure(
        self, config: ml_collections.ConfigDict, rows: Sequence[Mapping[str, Any]], compared: Any
    ) -> Figure: ...

    def summary_lines(
        self,
        config: ml_collections.ConfigDict,
        rows: Sequence[Mapping[str, Any]],
        compared: Any,
        table: report.Table,
    ) -> list[str]: ...


def analyse(
    module: ExperimentModule, config: ml_collections.ConfigDict, rows: Sequence[Mapping[str, Any]]
) -> Analysis:
    """The comparisons of finished ``rows``, then their table, figure and summary."""
    compared = module.comparisons(config, rows)
    table = module.make_table(config, rows, compared)
    return Analysis(
        compared,
        table,
        module.make_figure(config, rows, compared),
        module.summary_lines(config, rows, compared, table),
    )


def run(module: ExperimentModule, config: ml_collections.ConfigDict) -> report.Results:
    """Check ``config``, train (or read) every run, and publish the outputs."""
    module.check_config(config)
    report.enable_compilation_cache(config.output_root)
    return publish(module, config, train(module, config))


def train(module: ExperimentModule, config: ml_collections.ConfigDict) -> list[dict[str, Any]]:
    """Every run's row: the module's own trainer, or its grid of programs (trained, resumed or
    read from the records store, and measured)."""
    if hasattr(module, "train"):
        return module.train(config)
    return grid.train_grid(
        module.points(config),
        output_root=config.output_root,
        vmap_seeds=config.vmap_seeds,
        measurement=module.measurement(config),
        description=f"{module.EXPERIMENT} [{config.name}]",
    )


def publish(
    module: ExperimentModule,
    config: ml_collections.ConfigDict,
    rows: Sequence[Mapping[str, Any]],
    meta: Mapping[str, Any] | None = None,
) -> report.Results:
    """Analyse finished ``rows`` and write every output (``meta``: a committed result's own
    machine record, kept when it is republished)."""
    analysis = analyse(module, config, rows)
    return report.publish(
        config,
        experiment=module.EXPERIMENT,
        title=module.TITLE,
        runs=rows,
        comparisons=analysis.comparisons,
        table=analysis.table,
        figure=analysis.figure,
        summary=analysis.summary,
        meta=meta,
    )
