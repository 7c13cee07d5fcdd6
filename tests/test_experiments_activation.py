"""Fig. 1 end to end (its outputs; the activation benchmark runs in the accelerator check's CPU
smoke test, tests/test_accelerator_check.py)."""

from experiments.paper import fig1_activations


def test_fig1_writes_the_png_and_reports_the_true_minimum(tmp_path, capsys):
    path = fig1_activations.main(["--out", str(tmp_path / "fig1.png")])
    assert path.endswith("fig1.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "Nish: minimum -0.4974 at x = -1.0829" in printed
    assert "Mish: minimum -0.3088" in printed
