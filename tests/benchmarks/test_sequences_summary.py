"""benchmarks/sequences.py over several seeds: the mean ± sd it reports is the seeds' mean and sample sd, and
every table renders from the summary."""

import statistics
import sys
from pathlib import Path

import pytest
import yaml

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import sequence_tables  # noqa: E402
from sequences import nsv_macro_f1, parse_args, summarise_seeds  # noqa: E402


def _scores(f1s: dict, acc: float) -> dict:
    per_class = {name: {"sensitivity": f, "ppv": f, "f1": f, "support": 10} for name, f in f1s.items()}
    test = {"acc": acc, "macro_f1": statistics.fmean(f1s.values()), "per_class": per_class}
    test["macro_f1_nsv"] = nsv_macro_f1(test) if "V" in f1s else None
    return test


def _ecg_row(seed: int, f1s: dict) -> dict:
    test = _scores(f1s, 0.9)
    meddl = {"model": "m", "test": test, "wall_time_s": 100.0 + seed, "epochs_run": 1, "best_epoch": 1}
    row = {"meddl": meddl, "logreg": _scores({k: v / 2 for k, v in f1s.items()}, 0.5)}
    if seed == 0:
        row["timing"] = {"torch_threads": 1, "runs": [{"batch_size": 1, "beats": 5, "seconds": 1.0,
                                                       "beats_per_s": 5.0}]}
    return row


def test_summary_is_the_mean_and_sample_sd_of_the_seeds():
    rows = [_ecg_row(0, {"N": 0.9, "S": 0.6, "V": 0.9, "F": 0.1}),
            _ecg_row(1, {"N": 0.95, "S": 0.7, "V": 0.8, "F": 0.3})]
    summary = summarise_seeds(rows)
    s_f1 = summary["meddl"]["per_class"]["S"]["f1"]
    assert s_f1["mean"] == pytest.approx(0.65) and s_f1["sd"] == pytest.approx(statistics.stdev([0.6, 0.7]))
    nsv = summary["meddl"]["macro_f1_nsv"]
    assert nsv["values"] == pytest.approx([(0.9 + 0.6 + 0.9) / 3, (0.95 + 0.7 + 0.8) / 3])
    assert summary["meddl"]["wall_time_s"] == [100.0, 101.0]
    assert summary["logreg"]["macro_f1"]["mean"] == pytest.approx((0.3125 + 0.34375) / 2)  # halved F1s


def test_ecg_tables_render_mean_sd_and_published_rows():
    rows = [_ecg_row(0, {"N": 0.9, "S": 0.6, "V": 0.9, "F": 0.1}),
            _ecg_row(1, {"N": 0.95, "S": 0.7, "V": 0.8, "F": 0.3})]
    result = {"per_seed": {"0": rows[0], "1": rows[1]}, "summary": summarise_seeds(rows)}
    published = yaml.safe_load((BENCHMARKS / "sequences_published.yaml").read_text())
    payload = {"published": published, "results": {"ecg": result}}
    tables = {title: rows for title, _, rows in sequence_tables.sections(payload)}
    main = next(rows for title, rows in tables.items() if title.startswith("ECG inter-patient"))
    meddl_row = main[0]
    assert meddl_row[1] == "2" and "±" in meddl_row[6]  # seeds, F1 S
    # Shi et al. 2019 is listed, its macro-F1 over N/S/V/F computed from its Se and +P (0.682)
    shi = next(row for row in main if row[0].startswith("Shi et al. 2019"))
    assert shi[8] == "68.2"
    # d NSVF: the measured mean minus the best published macro-F1
    assert float(meddl_row[10]) == pytest.approx(100 * (0.625 + 0.6875) / 2 - 68.2, abs=0.06)


def test_seeds_are_parsed_and_checked():
    assert parse_args(["--seeds", "0,1,2"]).seeds == [0, 1, 2]
    with pytest.raises(SystemExit):
        parse_args(["--seeds", "0,0"])
