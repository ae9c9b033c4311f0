"""How benchmarks/vs_keras.py turns per-epoch probes into the reported figures (time to target, ratios)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from vs_keras import TARGET_AUC, summarise  # noqa: E402


def _run(aucs: list[float], seconds_per_epoch: float) -> dict:
    rows = [{"epoch": i + 1, "train_seconds": seconds_per_epoch * (i + 1), "test_auc": auc, "test_acc": 0.8}
            for i, auc in enumerate(aucs)]
    return {"parameters": 10, "epochs": rows}


def test_time_to_target_is_the_first_epoch_at_or_above_it_and_ratios_compare_with_keras():
    keras = summarise("keras", _run([0.90, 0.93, TARGET_AUC, 0.95], 2.0), None)
    assert keras["seconds_to_target"] == 6.0 and keras["epoch_reached"] == 3
    meddl = summarise("meddl", _run([0.92, 0.96, 0.94], 1.0), keras)
    assert meddl["seconds_to_target"] == 2.0 and meddl["epoch_reached"] == 2
    assert meddl["speed_per_epoch_vs_keras"] == pytest.approx(2.0)
    assert meddl["speed_to_target_vs_keras"] == pytest.approx(3.0)
    assert meddl["final_test_auc"] == 0.94 and meddl["best_test_auc"] == 0.96


def test_a_run_that_never_reaches_the_target_has_no_time_and_no_ratio():
    keras = summarise("keras", _run([0.90, 0.95], 2.0), None)
    slow = summarise("slow", _run([0.90, 0.91], 1.0), keras)
    assert slow["seconds_to_target"] is None and slow["epoch_reached"] is None
    assert slow["speed_to_target_vs_keras"] is None
