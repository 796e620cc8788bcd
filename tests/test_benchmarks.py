"""Smoke test of the training-speed benchmark: it runs, and its JSON has every field."""

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_train_speed_smoke(tmp_path):
    out = tmp_path / "smoke.json"
    # one thread: on a busy 2-core machine, two spinning BLAS threads can make a tiny run crawl
    cmd = [sys.executable, "-m", "benchmarks.train_speed", "--smoke", "--threads", "1",
           "--data", "random", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "nbkit/torch" in proc.stdout and "GEMM/nbkit" in proc.stdout

    result = json.loads(out.read_text())
    assert result["smoke"] is True and result["data"] == "random"
    assert result["n_examples"] == 5000 and result["network"] == "784-200-10"
    assert result["machine"]["threads"] == 1 and result["machine"]["cpu"]
    assert [row["batch_size"] for row in result["rows"]] == [32, 100, 1000]
    for row in result["rows"]:
        for key in ("nbkit_s", "gemm_s", "gemm_over_nbkit", "nbkit_over_torch"):
            assert key in row
        assert len(row["nbkit_epochs_s"]) == 1 and len(row["gemm_epochs_s"]) == 1
        assert row["nbkit_s"] > 0 and row["gemm_s"] > 0
        assert math.isclose(row["gemm_over_nbkit"], row["gemm_s"] / row["nbkit_s"])
        if row["nbkit_over_torch"] is not None:  # torch is optional
            assert math.isclose(row["nbkit_over_torch"], row["nbkit_s"] / row["torch_s"])
    targets = {(t["batch_size"], t["target"]) for t in result["targets"]}
    assert {(100, "gemm/nbkit >= 0.5"), (1000, "gemm/nbkit >= 0.5")} <= targets
    value = result["value_engine"]
    assert "skipped" in value or (value["slowdown"] > 1 and value["value_s"] > value["nbkit_s"])


def test_update_rules_smoke(tmp_path):
    """The in-place vs plain benchmark runs, checks the two versions agree, reports ratios."""
    out = tmp_path / "rules.json"
    cmd = [sys.executable, "-m", "benchmarks.update_rules", "--smoke", "--data", "random",
           "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert {(r["rule"], r["what"]) for r in rows} == {
        (rule, what) for rule in ("adam", "momentum")
        for what in ("step", "epoch 32", "epoch 100", "epoch 1000")}
    for r in rows:
        assert r["plain_s"] > 0 and r["inplace_s"] > 0
        assert math.isclose(r["plain_over_inplace"], r["plain_s"] / r["inplace_s"])
