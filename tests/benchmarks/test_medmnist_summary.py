"""benchmarks/medmnist.py over several seeds: mean ± sd of the seeds, the best published figure over every column
(the 224-px ResNets included) and the goal verdict at the published precision."""

import statistics
import sys
from pathlib import Path

import pytest
import yaml

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from medmnist import BASELINES, parse_args, published_rows, rows_for, summarise  # noqa: E402


def _run(seed: int, auc: float, acc: float) -> dict:
    return {"seed": seed, "test_auc": auc, "test_acc": acc, "test_acc_tuned": acc + 0.01, "wall_time_s": 60.0 + seed,
            "train_images_per_s": 500.0, "test_auc_ci95": [auc - 0.02, auc + 0.01],
            "test_acc_ci95": [acc - 0.03, acc + 0.02]}


def test_summary_is_the_mean_and_sample_sd_over_seeds_against_the_best_of_every_column():
    baselines = yaml.safe_load(BASELINES.read_text())
    runs = [_run(0, 0.990, 0.950), _run(1, 0.999, 0.960), _run(2, 0.996, 0.955)]
    summary = summarise("organamnist", runs, baselines)
    assert summary["test_auc"]["mean"] == pytest.approx(statistics.fmean([0.990, 0.999, 0.996]))
    assert summary["test_acc"]["sd"] == pytest.approx(statistics.stdev([0.950, 0.960, 0.955]))
    # organamnist's best ACC is a 224-px column (ResNet-18 (224), 0.951), above every 28-px one (0.935)
    assert summary["best_published_acc"] == {"value": 0.951, "methods": ["resnet18_224"]}
    assert summary["best_published_auc"]["value"] == 0.998
    assert summary["goal_acc_met"] and not summary["goal_auc_met"]  # 0.955 >= 0.951; 0.995 < 0.998
    assert summary["test_auc_ci95"] == pytest.approx([0.9750, 1.0050], abs=1e-4)
    row = rows_for([summary])[0]
    assert row[0] == "organamnist" and "0.995 ± 0.005" in row[1] and row[9].endswith("met")
    assert len(published_rows([summary])[0]) == 8  # dataset + seven published columns


def test_every_staged_set_has_all_seven_published_columns():
    datasets = yaml.safe_load(BASELINES.read_text())["datasets"]
    assert len(datasets) == 12
    assert all(len(columns) == 7 and all(len(pair) == 2 for pair in columns.values()) for columns in datasets.values())


def test_seeds_are_parsed_and_bad_ones_refused():
    assert parse_args(["--seeds", "0,1,2"]).seeds == [0, 1, 2]
    with pytest.raises(SystemExit):
        parse_args(["--seeds", "zero"])


def test_the_3d_benchmark_compares_against_all_eight_columns_of_the_3d_table():
    from medmnist3d import SPEC_3D

    baselines = yaml.safe_load(SPEC_3D.baselines.read_text())
    datasets = baselines["datasets"]
    assert sorted(datasets) == ["adrenalmnist3d", "fracturemnist3d", "nodulemnist3d", "organmnist3d",
                                "synapsemnist3d", "vesselmnist3d"]
    assert all(len(columns) == 8 for columns in datasets.values())
    summary = summarise("adrenalmnist3d", [_run(0, 0.85, 0.80), _run(1, 0.84, 0.81)], baselines)
    # adrenal's best AUC is ResNet-18 + ACS (0.839), its best ACC auto-sklearn (0.802)
    assert summary["best_published_auc"] == {"value": 0.839, "methods": ["resnet18_acs"]}
    assert summary["best_published_acc"] == {"value": 0.802, "methods": ["auto_sklearn"]}
    assert summary["goal_auc_met"] and summary["goal_acc_met"]
    row = rows_for([summary], SPEC_3D.short)[0]
    assert "R18 ACS" in row[6] and "auto-sklearn" in row[8]
    assert len(published_rows([summary], SPEC_3D.short)[0]) == 9
