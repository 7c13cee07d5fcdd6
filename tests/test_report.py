"""experiments.core.report: the files every experiment publishes, and how they label their
numbers."""

from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import pytest
from ml_collections import ConfigDict

from experiments.core import report, stats


def test_label_marks_reduced_configs():
    assert report.label("Fig. 2a", "full") == "Fig. 2a [full config]"
    quick = report.label("Fig. 2a", "quick")
    assert "QUICK" in quick and "not the paper's scale" in quick


def test_format_mean_spread_says_nothing_it_does_not_know():
    summary = stats.summarize([1, 2, 3, 4, 5])
    assert report.format_mean_spread(summary, "std", digits=3) == "3.000 ± 1.581"
    assert report.format_mean_spread(summary, "ci", digits=3) == "3.000 ± 1.963"
    assert report.format_mean_spread(stats.summarize([0.97]), "std") == "0.97"
    assert report.format_mean_spread(stats.summarize([math.nan]), "std") == "diverged"
    with pytest.raises(ValueError, match="valid choices: std, ci"):
        report.check_spread("iqr")


def test_publish_writes_every_traceable_file(tmp_path, capsys):
    config = ConfigDict({"name": "quick", "output_root": str(tmp_path), "depths": (1, 2)})
    runs = [
        {
            "depth": 1,
            "activation": act,
            "seed": seed,
            "diverged": act == "relu" and seed == 1,
            "acc": 90.0 + seed + (act == "nish"),
        }
        for act in ("nish", "relu")
        for seed in range(3)
    ]
    compared = stats.compare_activations(
        runs, cell_keys=("depth",), metric="acc", higher_is_better=True
    )
    figure, ax = plt.subplots()
    report.plot_with_spread(ax, [1], [[90.0, 91.0]], label="nish", spread="std")
    table = report.Table(["depth", "nish"], [["1", "91.0 ± 1.0"]], [{"depth": 1}], ["- a note"])
    results = report.publish(
        config,
        experiment="depth_sweep",
        title="Fig. 2a",
        runs=runs,
        comparisons=compared,
        table=table,
        figure=figure,
        summary=["- nish best"],
    )
    assert results.directory == str(tmp_path / "depth_sweep" / "quick")
    assert set(results.files) == {
        "runs",
        "comparisons",
        "table",
        "table_csv",
        "figure",
        "config",
        "meta",
        "summary",
    }
    assert report.read_csv(results.files["runs"])[4]["diverged"] == "True"
    comparison = report.read_csv(results.files["comparisons"])
    assert list(comparison[0]) == list(stats.COMPARISON_COLUMNS)
    assert comparison[0]["diverged_baseline"] == "1"
    table_md = open(results.files["table"]).read()
    assert table_md.startswith("### Fig. 2a [QUICK run") and "- a note" in table_md
    assert json.load(open(results.files["config"]))["depths"] == [1, 2]
    meta = json.load(open(results.files["meta"]))
    assert {"date", "machine", "devices", "versions", "git_commit"} <= set(meta)
    assert open(results.files["figure"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "- nish best" in capsys.readouterr().out
    with pytest.raises(ValueError, match="plain directory name"):
        report.results_dir(str(tmp_path), "a/b", "quick")


def test_an_interval_reads_as_the_tables_print_it():
    row = {"mean_diff": 0.123, "ci_low": -0.3, "ci_high": 0.546}
    assert report.format_interval(row) == "+0.12 [-0.30, +0.55]"
    assert report.format_interval(row, 3) == "+0.123 [-0.300, +0.546]"
    # A comparison without a finished pair has nothing to print but that.
    assert report.format_interval({**row, "ci_low": math.nan}) == "n/a"
    assert report.format_interval({**row, "mean_diff": None}) == "n/a"
