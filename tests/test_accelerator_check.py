"""experiments/accelerator_check.sh --cpu-smoke: the device check's whole path, tiny, on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "accelerator_check.sh"


def test_cpu_smoke_writes_one_report_with_every_step(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "NISH_PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(SCRIPT), "--cpu-smoke"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = (tmp_path / "accelerator_check.md").read_text()
    assert report.startswith("# Accelerator check (cpu-smoke)")
    for title in (
        "## Activation benchmark",
        "## Model benchmark",
        "## Vmapped seeds: CIFAR-10 squeezenet1_1, bfloat16, Mish vs Nish",
    ):
        assert title in report
    assert "Stopped after" not in report and "Failed with exit status" not in report
    activation = report.split("## Activation benchmark")[1].split("## Model benchmark")[0]
    models = report.split("## Model benchmark")[1].split("## Vmapped seeds")[0]
    seeds = report.split("## Vmapped seeds")[1]
    assert "| mish | nish |" in activation
    assert "squeezenet1_1" in models and "nish" in models
    assert "[ACCELERATOR_CHECK_CPU_SMOKE run: reduced protocol" in seeds
    assert "- squeezenet1_1, 2 epochs: mish " in seeds and "; p = " in seeds
    for job in ("squeezenet1_1-mish", "squeezenet1_1-nish"):
        assert f"- {job}: epoch 1 (with compilation)" in report
    assert (tmp_path / "accelerator_check.log").stat().st_size > 0
    assert (tmp_path / "accelerator_check_figure.png").is_file()
