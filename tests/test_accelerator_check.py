"""scripts/accelerator_check.sh --cpu-smoke: the device check's whole path, tiny, on the CPU."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "accelerator_check.sh"
TITLES = (
    "## CIFAR-10 study: smoke variant, timed",
    "## Activation benchmark",
    "## Model benchmark",
    "## Seeds: vmapped against sequential",
)


def test_cpu_smoke_writes_one_report_with_every_step(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "NISH_PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(SCRIPT), "--cpu-smoke"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = (tmp_path / "accelerator_check.md").read_text()
    assert report.startswith("# Accelerator check (cpu-smoke)")
    assert "Stopped after" not in report and "Failed with exit status" not in report
    for title in TITLES:
        assert title in report, title
    starts = [report.index(title) for title in TITLES]
    assert starts == sorted(starts)
    study, activation, models, seeds = (
        report[start:end] for start, end in zip(starts, [*starts[1:], None], strict=True)
    )
    assert "2 vmapped" in study and "The smoke variant: 4 runs in " in study
    assert "[SMOKE run: reduced protocol" in study
    # The activation benchmark: every activation and pass, ratios to SiLU, and the A/B of Nish's
    # two float32 sine paths with its verdict for this backend.
    assert "| relu | silu | gelu | mish | nish | nish (jnp sin) | naive nish |" in activation
    for row in ("forward", "grad", "fwd+bwd (vjp)", "16-layer MLP step, temp memory"):
        assert re.search(rf"^\| {re.escape(row)} \|", activation, re.M), row
    assert "(1.00x)" in activation
    assert re.search(
        r"^Sine path on cpu: .* faster in fwd\+bwd: (polynomial|jnp)\.$", activation, re.M
    )
    # The model benchmark (--quick, squeezenet1_1, nish only, batch 4): its table, its memory
    # and its ratios, to the first activation when relu was not measured.
    assert "| squeezenet1_1 | 32x32 | 4 | " in models and "| squeezenet1_1 temp memory |" in models
    assert "1.00x" in models and "nish temporary memory <= silu's" not in models
    assert '"benchmark": "mnist_mlp"' in seeds and "speedup_vmapped" in seeds
    # The study's outputs, where a committer finds them.
    results = tmp_path / "results" / "cifar10_study" / "smoke"
    with open(results / "runs.csv", newline="") as file:
        assert len(list(csv.DictReader(file))) == 4
    for name in ("comparisons.csv", "table.md", "figure.png", "meta.json", "config.json"):
        assert (results / name).is_file(), name
    assert (tmp_path / "accelerator_check.log").stat().st_size > 0
