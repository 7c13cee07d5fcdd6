"""Fig. 1 and the activation benchmark run end to end (their outputs, not their speed)."""

import re

from benchmarks import activation as bench_activation
from experiments.paper import fig1_activations


def test_fig1_writes_the_png_and_reports_the_true_minimum(tmp_path, capsys):
    path = fig1_activations.main(["--out", str(tmp_path / "fig1.png")])
    assert path.endswith("fig1.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "Nish: minimum -0.4974 at x = -1.0829" in printed
    assert "Mish: minimum -0.3088" in printed


def test_activation_benchmark_prints_every_activation_and_pass():
    report = bench_activation.main(["--size", "4096", "--repeats", "1"])
    for name in ["relu", "silu", "gelu", "mish", "nish", "nish (jnp sin)", "naive nish"]:
        assert f"| {name} " in report or f" {name} |" in report
    for row in ["forward", "grad", "fwd+bwd (vjp)", "16-layer MLP step, temp memory"]:
        assert re.search(rf"^\| {re.escape(row)} \|", report, re.M), row
    assert "(1.00x)" in report  # ratios are to silu
    # the A/B of nish's two float32 sine paths, and its verdict for this backend
    assert re.search(r"^Sine path on cpu: .* faster in fwd\+bwd: (polynomial|jnp)\.$", report, re.M)
