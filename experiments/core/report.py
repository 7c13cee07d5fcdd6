"""What every experiment writes, in one place: :func:`publish` and the :class:`Results` it returns.

An experiment's outputs go to ``<config.output_root>/<experiment>/<config.name>/``:

- ``runs.csv``: one row per run (point keys, ``activation``, ``seed``, ``diverged``, metrics);
- ``comparisons.csv``: Nish against every other activation, per cell, paired by seed
  (:data:`experiments.core.stats.COMPARISON_COLUMNS`);
- ``table.md`` / ``table.csv``: the experiment's table (each "±" says what it is);
- ``figure.png``, ``summary.md`` (also printed);
- ``config.json`` (the resolved config) and ``meta.json`` (date, machine, versions, git commit),
  so that every number can be traced to what produced it.

A config named ``quick``, ``smoke`` or ``cpu`` is a reduced protocol: :func:`label` marks every
title with it so that its numbers are never mistaken for a full-scale run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib
import ml_collections

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after selecting the Agg backend)
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from experiments.core import provenance, stats  # noqa: E402
from nish_jax.train.metrics import plain_number  # noqa: E402

REDUCED_CONFIGS = ("quick", "smoke", "cpu")
# What a "±" means, by the spread names the configs use.
SPREADS = {"std": "± 1 standard deviation", "ci": "± the 95% CI half-width of the mean"}


@dataclass(frozen=True)
class Table:
    """A Markdown table (``columns``, string ``cells``) and its numeric rows for the CSV."""

    columns: Sequence[str]
    cells: Sequence[Sequence[Any]]
    numeric: Sequence[Mapping[str, Any]]
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class Results:
    """What ``run(config)`` returns: where its outputs are and what they say."""

    directory: str
    files: dict[str, str]  # output name (runs, comparisons, table, figure, ...) -> path
    runs: list[dict[str, Any]]  # the rows of runs.csv
    comparisons: list[dict[str, Any]]  # the rows of comparisons.csv
    summary: list[str] = field(default_factory=list)  # the lines of summary.md


def label(title: str, config_name: str, separator: str = " ") -> str:
    """``title`` marked with its config; a reduced config says it is not a full-scale run."""
    if config_name in REDUCED_CONFIGS:
        return (
            f"{title}{separator}[{config_name.upper()} run: reduced protocol, not the paper's "
            "scale]"
        )
    return f"{title}{separator}[{config_name} config]"


def results_dir(root: str, experiment: str, config_name: str) -> str:
    """``<root>/<experiment>/<config_name>/``, created if missing."""
    for name, value in (("experiment", experiment), ("config name", config_name)):
        if not value or os.sep in value or value in (".", ".."):
            raise ValueError(f"the {name} must be a plain directory name, got {value!r}")
    path = os.path.join(root, experiment, config_name)
    os.makedirs(path, exist_ok=True)
    return path


def spread_width(summary: stats.Summary, spread: str) -> float:
    """The half-width that ``spread`` ("std" or "ci") names: the band, bar and "±" of every
    output (NaN below two runs)."""
    return summary.std if spread == "std" else summary.ci_half_width


def format_mean_spread(summary: stats.Summary, spread: str, digits: int = 2) -> str:
    """``"97.31 ± 0.50"`` (the spread named by ``spread``), the mean alone for a single run, or
    "diverged" when no run finished."""
    if summary.n == 0:
        return "diverged"
    width = spread_width(summary, spread)
    mean = f"{summary.mean:.{digits}f}"
    return mean if np.isnan(width) else f"{mean} ± {width:.{digits}f}"


def format_interval(row: Mapping[str, Any], digits: int = 2) -> str:
    """A comparison's paired mean difference and its 95% CI, ``"+0.12 [-0.30, +0.54]"``; "n/a"
    where there was no finished pair to compute them from."""
    values = [row["mean_diff"], row["ci_low"], row["ci_high"]]
    if any(value is None or not math.isfinite(value) for value in values):
        return "n/a"
    spec = f"{{:+.{digits}f}}"
    return f"{spec.format(values[0])} [{spec.format(values[1])}, {spec.format(values[2])}]"


def versus_best_other(
    comparisons: Sequence[Mapping[str, Any]], higher_is_better: bool, digits: int = 2
) -> list[str]:
    """The two table cells "Nish - best other [95% CI] vs <activation>" and its Holm p, for the
    comparisons of one cell (``["-", "-"]`` when there are none). The best other activation is
    the one Nish's difference is least favourable against; an untestable (NaN) difference is
    never the best."""
    if not comparisons:
        return ["-", "-"]
    sign = 1 if higher_is_better else -1

    def advantage(row: Mapping[str, Any]) -> float:
        return math.inf if math.isnan(row["mean_diff"]) else sign * row["mean_diff"]

    best = min(comparisons, key=advantage)
    return [f"{format_interval(best, digits)} vs {best['baseline']}", f"{best['p_holm']:.3g}"]


def versus(comparisons: Sequence[Mapping[str, Any]], digits: int = 2, **where: Any) -> list[str]:
    """The two table cells "difference [95% CI]" and its Holm p of the one comparison whose
    keys equal ``where`` (e.g. ``cell=..., baseline="mish"``); ``["-", "-"]`` if there is none."""
    found = [c for c in comparisons if all(c[key] == value for key, value in where.items())]
    if not found:
        return ["-", "-"]
    (row,) = found
    return [format_interval(row, digits), f"{row['p_holm']:.3g}"]


def primary_lines(
    comparisons: Sequence[Mapping[str, Any]], unit: str = "", digits: int = 2, diverged=False
) -> list[str]:
    """A summary's lines for the primary comparisons: each difference (``unit``: e.g.
    " points") with its 95% CI, Holm p and pairs (and diverged runs, where asked)."""
    lines = []
    for row in comparisons:
        if row["primary"]:
            tail = (
                f"; diverged {row['diverged_activation']} {row['activation']}, "
                f"{row['diverged_baseline']} {row['baseline']}"
                if diverged
                else ""
            )
            lines.append(
                f"  - {row['cell']}: vs {row['baseline']} {format_interval(row, digits)}{unit} "
                f"[95% CI], p_holm {row['p_holm']:.3g} (n = {row['n_pairs']}{tail})"
            )
    return lines


def beside_paper_columns(keys: Sequence[str], activations: Sequence[str], ours: str) -> list[str]:
    """The columns of a table with the paper's numbers beside ours: ``keys``, then per
    activation ``"<act> <ours> (ours)"`` and ``"<act> (paper)"``, then Nish - Mish and its p."""
    columns = list(keys)
    for act in activations:
        columns += [f"{act} {ours} (ours)", f"{act} (paper)"]
    return [*columns, "Nish - Mish [95% CI] (ours)", "p (Holm)"]


def check_spread(spread: str) -> None:
    if spread not in SPREADS:
        raise ValueError(
            f"config.spread={spread!r} is not valid; valid choices: {', '.join(SPREADS)}"
        )


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = ()) -> str:
    """``rows`` as CSV text (columns: ``columns``, else in first-seen order)."""
    names = list(columns)
    for row in rows:
        names.extend(key for key in row if key not in names)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: plain_number(value) for key, value in row.items()})
    return buffer.getvalue()


def write_csv(rows: Sequence[Mapping[str, Any]], path: str, columns: Sequence[str] = ()) -> str:
    """Write ``rows`` as CSV (:func:`csv_text`); return the path."""
    with open(path, "w", newline="") as file:
        file.write(csv_text(rows, columns))
    return path


def published_meta(directory: str, runs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The machine record of the result in ``directory`` if it was published from these very
    runs (its runs.csv is theirs), else None: running a finished experiment again republishes it
    without dating it anew."""
    try:
        with open(os.path.join(directory, "runs.csv"), newline="") as file:
            published = file.read()
        with open(os.path.join(directory, "meta.json")) as file:
            meta = json.load(file)
    except FileNotFoundError:
        return None
    return meta if published == csv_text(runs) else None


def read_csv(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def markdown_table(columns: Sequence[str], cells: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table of string cells."""
    for row in cells:
        if len(row) != len(columns):
            raise ValueError(f"row {list(row)} has {len(row)} cells; expected {len(columns)}")
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in cells)
    return "\n".join(lines) + "\n"


def plot_with_spread(
    ax: Axes,
    x: Sequence[float],
    samples: Sequence[Sequence[float]],
    *,
    label: str,
    spread: str,
    **line_options: Any,
) -> Line2D:
    """The mean of ``samples[i]`` (the finished runs at ``x[i]``) with a band of ``spread``
    ("std" or "ci"); points without a finished run are left out, single runs get no band.
    Returns the line (its colour marks the same series elsewhere)."""
    check_spread(spread)
    summaries = [stats.summarize(values) for values in samples]
    keep = [i for i, s in enumerate(summaries) if s.n]
    xs = np.asarray(x, dtype=float)[keep]
    means = np.array([summaries[i].mean for i in keep])
    widths = np.array([spread_width(summaries[i], spread) for i in keep])
    (line,) = ax.plot(xs, means, marker="o", label=label, **line_options)
    ax.fill_between(xs, means - widths, means + widths, color=line.get_color(), alpha=0.2)
    return line


def save_figure(figure: Figure, path: str) -> str:
    figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return path


def publish(
    config: ml_collections.ConfigDict,
    *,
    experiment: str,
    title: str,
    runs: Sequence[Mapping[str, Any]],
    comparisons: Sequence[Mapping[str, Any]],
    table: Table,
    figure: Figure,
    summary: Sequence[str],
    meta: Mapping[str, Any] | None = None,
) -> Results:
    """Write an experiment's outputs (module doc) and return them as :class:`Results`.

    ``meta`` is the record of the machine that published the runs (default: the record already
    there if it was published from the same runs, else this machine, now, with ``trained_on``:
    how many runs each machine computed, where the runs say); a republication from committed
    files keeps the original's."""
    directory = results_dir(config.output_root, experiment, config.name)
    meta = meta if meta is not None else published_meta(directory, runs)
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    files = {
        "runs": write_csv(runs, path("runs.csv")),
        "comparisons": write_csv(comparisons, path("comparisons.csv"), stats.COMPARISON_COLUMNS),
        "table": path("table.md"),
        "table_csv": write_csv(
            [{"config": config.name, **row} for row in table.numeric], path("table.csv")
        ),
        "figure": save_figure(figure, path("figure.png")),
        "config": path("config.json"),
        "meta": path("meta.json"),
        "summary": path("summary.md"),
    }
    with open(files["table"], "w") as file:
        file.write(f"### {label(title, config.name)}\n\n")
        file.write(markdown_table(table.columns, table.cells))
        if table.notes:
            file.write("\n" + "\n".join(table.notes) + "\n")
    with open(files["config"], "w") as file:
        file.write(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")
    with open(files["meta"], "w") as file:
        json.dump(
            dict(meta) if meta is not None else provenance.machine_record(runs), file, indent=2
        )
        file.write("\n")
    lines = [
        *summary,
        *(f"- {name}: {where}" for name, where in files.items() if name != "summary"),
    ]
    text = "\n".join([f"## {label(title, config.name)}", "", *lines]) + "\n"
    with open(files["summary"], "w") as file:
        file.write(text)
    print(text, flush=True)
    return Results(
        directory, files, [dict(row) for row in runs], [dict(r) for r in comparisons], list(summary)
    )


def enable_compilation_cache(root: str) -> None:
    """Keep compiled XLA programs in ``<root>/.xla_cache`` (unless a cache is already set): a
    sweep compiles one program per point, and reruns and other activations reuse many."""
    import jax

    if not jax.config.jax_compilation_cache_dir:
        jax.config.update(
            "jax_compilation_cache_dir", os.path.abspath(os.path.join(root, ".xla_cache"))
        )
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
