"""experiments.report: statistics against hand-computed values, and the files it writes."""

from __future__ import annotations

import csv
import math

import matplotlib.pyplot as plt
import pytest

from experiments import report


def test_summarize_matches_hand_computation():
    # [1..5]: mean 3, s^2 = 10/4 = 2.5, sem = sqrt(2.5/5), t(0.975, df=4) = 2.776445 (t table).
    stats = report.summarize([1, 2, 3, 4, 5])
    assert stats.n == 5
    assert stats.mean == pytest.approx(3.0)
    assert stats.std == pytest.approx(math.sqrt(2.5))
    assert stats.sem == pytest.approx(math.sqrt(0.5))
    assert stats.ci_half_width == pytest.approx(2.776445 * math.sqrt(0.5), rel=1e-6)
    assert (stats.ci_low, stats.ci_high) == pytest.approx((3 - 1.963243, 3 + 1.963243), rel=1e-6)


def test_summarize_other_confidence_and_single_run():
    # Two runs {0, 2}: s = sqrt(2), sem = 1, t(0.95, df=1) = 6.313752 (a 90% interval).
    assert report.summarize([0, 2], confidence=0.9).ci_half_width == pytest.approx(6.313752, 1e-6)
    single = report.summarize([0.97])
    assert single.mean == 0.97 and math.isnan(single.std) and math.isnan(single.ci_half_width)
    assert report.format_mean_spread(single) == "0.97"


@pytest.mark.parametrize("values", [[], [[1, 2]]])
def test_summarize_rejects_bad_input(values):
    with pytest.raises(ValueError, match="non-empty 1-D"):
        report.summarize(values)


def test_welch_p_value_matches_known_value():
    # R: t.test(1:5, c(2,4,6,8,10)) -> t = -1.8974, df = 5.8824, p-value = 0.1075.
    # By hand: t = (3 - 6) / sqrt(2.5/5 + 10/5); df = 2.5^2 / (0.5^2/4 + 2^2/4) = 5.882.
    assert report.welch_p_value([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]) == pytest.approx(
        0.107531, abs=1e-6
    )
    assert report.welch_p_value([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert math.isnan(report.welch_p_value([1.0], [2.0, 3.0]))
    assert math.isnan(report.welch_p_value([1.0, 1.0], [2.0, 2.0]))


def test_format_mean_spread():
    assert report.format_mean_spread(report.summarize([1, 2, 3, 4, 5]), digits=3) == "3.000 ± 1.963"
    assert report.format_mean_spread(report.summarize([0.5, 0.7]), scale=100, digits=1).startswith(
        "60.0 ± "
    )


def test_label_marks_reduced_configs():
    assert report.label("Fig. 2a", "paper") == "Fig. 2a [paper protocol]"
    quick = report.label("Fig. 2a", "quick")
    assert "QUICK" in quick and "not the paper's numbers" in quick


def test_results_layout_tables_figure_and_summary(tmp_path, capsys):
    directory = report.results_dir("depth_sweep", "quick", root=str(tmp_path))
    assert directory == str(tmp_path / "depth_sweep" / "quick")
    with pytest.raises(ValueError, match="plain directory name"):
        report.results_dir("a/b", "quick", root=str(tmp_path))

    runs = report.write_csv(
        [{"act": "relu", "run": 0, "top1": 0.9}, {"act": "nish", "run": 0, "top1": 0.95, "x": 1}],
        f"{directory}/runs.csv",
    )
    with open(runs) as file:
        rows = list(csv.DictReader(file))
    assert [row["act"] for row in rows] == ["relu", "nish"] and rows[1]["x"] == "1"

    md, table_csv = report.write_table(
        directory,
        ["act", "top1"],
        [["relu", "90.0"], ["nish", "95.0"]],
        title="Test accuracy",
        config_name="quick",
    )
    text = open(md).read()
    assert text.startswith("### Test accuracy [QUICK run")
    assert "| act | top1 |" in text and "| nish | 95.0 |" in text
    with open(table_csv) as file:
        assert list(csv.DictReader(file))[0] == {"config": "quick", "act": "relu", "top1": "90.0"}
    with pytest.raises(ValueError, match="has 1 cells; expected 2"):
        report.markdown_table(["a", "b"], [["only one"]])

    figure, ax = plt.subplots()
    report.plot_with_spread(ax, [1, 2], [[0.9, 0.92], [0.8]], label="relu")
    with pytest.raises(ValueError, match="valid choices: ci, std"):
        report.plot_with_spread(ax, [1], [[1.0]], label="x", spread="iqr")
    png = report.save_figure(figure, directory)
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    summary = report.write_summary(directory, ["- nish best"], title="Depth", config_name="quick")
    assert "QUICK run" in open(summary).read() and "- nish best" in capsys.readouterr().out
