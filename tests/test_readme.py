"""The generated pages (the README's claims table, docs/results.md): regenerated from the
committed runs, and checked against them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from experiments import readme

ROOT = Path(__file__).resolve().parents[1]


def test_the_pages_match_the_committed_results(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert readme.committed(), "no committed results under docs/results"
    assert readme.main(["--check"]) == 0, "run `python -m experiments.readme`"


def test_the_readme_is_a_front_page_whose_claims_link_to_their_results(monkeypatch):
    monkeypatch.chdir(ROOT)
    pages = readme.generated_pages()
    front = pages[readme.README]
    assert front.count("\n| Fig. ") + front.count("\n| Table ") == len(readme.CLAIMS)
    assert "](docs/results/depth_sweep/full/summary.md)" in front
    assert "![" not in front  # figures and tables live on the results page
    assert "](results/depth_sweep/full/summary.md)" in pages[readme.RESULTS_PAGE]
    assert len((ROOT / readme.README).read_text().splitlines()) < 200


def test_committed_tables_are_recomputed_from_their_runs(tmp_path, monkeypatch):
    """Every committed comparisons.csv and table.md follows from its runs.csv and config.json
    alone: republishing a copy gives the same files."""
    monkeypatch.chdir(ROOT)
    copy = tmp_path / "results"
    shutil.copytree(readme.RESULTS_ROOT, copy, ignore=shutil.ignore_patterns("runs", ".xla_cache"))
    republished = readme.republish(str(copy))
    assert republished
    for (experiment, name), results in republished.items():
        original = Path(readme.RESULTS_ROOT, experiment, name)
        for file in ("comparisons.csv", "table.md", "runs.csv"):
            assert Path(results.directory, file).read_text() == (original / file).read_text(), (
                f"{experiment}/{name}/{file} does not follow from its runs"
            )


def test_a_study_under_way_is_not_a_committed_result(tmp_path):
    """Only a published result (with its config.json) enters the README; the finished/ records
    of a study that is still running or was stopped part way do not."""
    study = tmp_path / "cifar10_study" / "cpu"
    (study / "finished").mkdir(parents=True)
    (study / "finished" / "relu-seed0-0123456789.json").write_text("{}")
    assert readme.committed(str(tmp_path)) == []
    (study / "config.json").write_text("{}")
    assert readme.committed(str(tmp_path)) == [("cifar10_study", "cpu")]


def comparison(
    baseline: str, diff: float, p: float, primary: bool = True, diverged: int = 0
) -> dict:
    return {
        "baseline": baseline,
        "mean_diff": diff,
        "p_holm": p,
        "primary": primary,
        "cell": "depth=20, lr_factor=1.0",
        "diverged_activation": diverged,
    }


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([comparison("relu", 5.0, 0.001), comparison("mish", 1.0, 0.01)], "supported"),
        ([comparison("relu", 5.0, 0.001), comparison("mish", 1.0, 0.2)], "not supported"),
        ([comparison("relu", 5.0, 0.001), comparison("mish", -1.0, 0.01)], "contradicted"),
        ([comparison("relu", 5.0, 0.001, primary=False)], "not tested"),
        ([comparison("relu", 5.0, 0.001, diverged=1)], "not supported (Nish diverged in 1 "),
        # one diverged Nish run, compared against two activations, is one run
        (
            [comparison("relu", 5.0, 0.001, diverged=1), comparison("silu", 4.0, 0.001, 1)],
            "not supported (Nish diverged in 1 of its runs)",
        ),
    ],
)
def test_verdicts_rest_on_the_primary_comparisons(rows, expected):
    assert readme.verdict(readme.CLAIMS[0], rows).startswith(expected)


def test_table2_claims_point_both_ways():
    scratch, pretrained = readme.CLAIMS[-2], readme.CLAIMS[-1]
    mish_ahead = {**comparison("mish", -0.5, 0.01), "cell": "network=tinynet_b"}
    assert readme.verdict(pretrained, [mish_ahead]).startswith("supported")
    assert readme.verdict(scratch, [mish_ahead]).startswith("not tested")
    nish_ahead = {**comparison("mish", 0.5, 0.01), "cell": "network=mobilenetv2"}
    assert readme.verdict(scratch, [nish_ahead]).startswith("supported")


def test_rewrite_needs_the_generated_block():
    with pytest.raises(ValueError, match="no generated results block"):
        readme.rewrite("# a README without markers\n", "block")
    text = f"head\n{readme.BEGIN}\nold\n{readme.END}\ntail\n"
    assert readme.rewrite(text, "new") == "head\nnew\ntail\n"


def test_runs_csv_values_parse_back():
    assert [readme.parse_cell(v) for v in ("True", "3", "0.5", "", "nish")] == [
        True,
        3,
        0.5,
        None,
        "nish",
    ]


def test_a_result_names_the_machines_its_runs_were_trained_on():
    meta = {
        "machine": "x86_64, 2 CPU cores, Linux",
        "devices": "1 x cpu (AMD EPYC)",
        "date": "2026-12-02T10:00:00+00:00",
        "versions": {"jax": "0.10.2"},
    }
    published = "x86_64, 2 CPU cores, Linux, 1 x cpu (AMD EPYC), 2026-12-02, jax 0.10.2"
    assert readme.provenance(meta) == f"Run on {published}"
    meta["trained_on"] = {"machine not recorded": 12, "1 x NVIDIA H200, jax 0.10.2": 3}
    assert readme.provenance(meta) == (
        "Trained on: machine not recorded (12 runs); 1 x NVIDIA H200, jax 0.10.2 (3 runs); "
        f"published on {published}"
    )
