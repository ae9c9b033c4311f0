"""ECG beats from WFDB records: AAMI classes, windows, filtering, RR features, splits, user folders and downloads."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import asdict
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import meddl.data.ecg as ecg
from meddl.data import load_dataset
from meddl.data.ecg_features import MORPHOLOGY_NAMES, RHYTHM_NAMES
from meddl.data.ecg import DS1, DS2, PACED, EcgOptions, load_user_records, read_beats, read_record
from meddl.data.ecg_beats import AAMI_CLASSES, bandpass, beat_classes, beat_windows, record_beats, rr_features
from meddl.errors import ConfigError, DataError, DownloadError

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")  # wfdb 4.3 with pandas 3
SHARED_MITDB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mitdb"
FS = 360


def write_record(
    folder: Path, name: str, peaks, symbols, n_samples: int = 20 * FS, leads: int = 2, custom_labels=None
) -> Path:
    """A synthetic WFDB record: Gaussian 'QRS' bumps at `peaks` on a slow baseline, with its annotations.
    A symbol outside WFDB's table needs `custom_labels` (else wfdb silently writes '"')."""
    import wfdb

    rng = np.random.default_rng(len(peaks))
    t = np.arange(n_samples)
    signal = 0.3 * np.sin(2 * np.pi * 0.2 * t / FS)[:, None] + 0.01 * rng.standard_normal((n_samples, leads))
    for peak, symbol in zip(peaks, symbols):
        width = 12 if symbol == "V" else 4
        signal += np.exp(-0.5 * ((t - peak) / width) ** 2)[:, None]
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=FS, units=["mV"] * leads, sig_name=["MLII", "V1"][:leads], p_signal=signal,
                fmt=["212"] * leads, write_dir=str(folder))  # fmt: skip
    wfdb.wrann(name, "atr", np.asarray(peaks), symbol=list(symbols), custom_labels=custom_labels,
               write_dir=str(folder))
    return folder


def regular_beats(n_samples: int = 20 * FS, step: int = 300, start: int = 150):
    peaks = list(range(start, n_samples - 100, step))
    symbols = ["V" if i % 4 == 3 else "N" for i in range(len(peaks))]
    return peaks, symbols


@pytest.mark.parametrize(
    ("symbols", "aami"),
    [("NLRej", "N"), ("AaJS", "S"), ("VE", "V"), ("F", "F"), ("/fQ", "Q")],
)
def test_aami_mapping_of_mitbih_beat_symbols(symbols, aami):
    assert all(AAMI_CLASSES[symbol] == aami for symbol in symbols)


def test_non_beat_annotations_are_skipped_and_unknown_symbols_named():
    samples = np.array([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    peaks, classes = beat_classes("100", samples, ["+", "N", "~", "|", '"', "!", "[", "]", "x", "V"])
    assert peaks.tolist() == [20, 100] and classes.tolist() == ["N", "V"]
    with pytest.raises(DataError, match=r"record 203: unknown annotation symbol 'Z' at sample 30"):
        beat_classes("203", samples[:3], ["N", "N", "Z"])


def test_inter_patient_split_is_de_chazal_ds1_ds2():
    assert len(DS1) == len(DS2) == 22 and not set(DS1) & set(DS2)
    assert not set(PACED) & (set(DS1) | set(DS2)) and set(PACED) == {"102", "104", "107", "217"}
    if (SHARED_MITDB / "RECORDS").is_file():
        assert set(DS1) | set(DS2) | set(PACED) == set((SHARED_MITDB / "RECORDS").read_text().split())


def test_beat_windows_leave_out_beats_too_close_to_either_edge():
    signal = np.arange(1000, dtype=float)[:, None] * np.array([1.0, -1.0])
    peaks = np.array([0, 89, 90, 500, 910, 911, 999])
    windows, inside = beat_windows(signal, peaks, before=90, after=90)
    assert inside.tolist() == [False, False, True, True, True, False, False]
    assert windows.shape == (3, 2, 180)
    assert windows[0, 0, 0] == 0 and windows[-1, 0, -1] == 999  # first and last full windows touch the edges
    assert np.array_equal(windows[1, 1], -np.arange(410, 590))


def test_record_beats_counts_edge_beats_at_both_ends():
    peaks = [30, 400, 800, 1200, 1580]  # 30 < 0.25 s * 360 before; 1580 + 0.45 s * 360 > 1600 after
    signal = np.random.default_rng(0).standard_normal((1600, 1))
    beats = record_beats("r", signal, FS, np.array(peaks), list("NVNSN"), 0.25, 0.45, (0.5, 40.0), True)
    assert beats.skipped_at_edges == 2
    assert beats.classes.tolist() == ["V", "N", "S"] and beats.signals.shape == (3, 1, 252)
    assert beats.features.shape == (3, 7)


def test_bandpass_keeps_shape_and_dtype_and_removes_baseline_wander():
    t = np.arange(20 * FS) / FS
    qrs_band = np.sin(2 * np.pi * 10 * t)
    signal = np.stack([qrs_band + 2 * np.sin(2 * np.pi * 0.1 * t), qrs_band], axis=1)
    filtered = bandpass(signal, FS, 0.5, 40.0)
    assert filtered.shape == signal.shape and filtered.dtype == signal.dtype
    middle = slice(5 * FS, 15 * FS)
    assert np.abs(filtered[middle, 0] - qrs_band[middle]).max() < 0.05  # 0.1 Hz gone, 10 Hz kept
    with pytest.raises(ConfigError, match="bandpass"):
        bandpass(signal, FS, 0.5, 200.0)


def test_windows_are_float32_and_z_scored_per_beat(tmp_path):
    peaks, symbols = regular_beats()
    write_record(tmp_path, "rec", peaks, symbols)
    (beats,), fs = read_beats(tmp_path, ["rec"], EcgOptions(leads=(0, 1)))
    assert fs == FS and beats.signals.dtype == np.float32 and beats.signals.shape[1:] == (2, 252)
    assert np.allclose(beats.signals.mean(axis=-1), 0, atol=1e-4)
    assert np.allclose(beats.signals.std(axis=-1), 1, atol=1e-3)


def test_rr_features_on_a_synthetic_wfdb_record(tmp_path):
    peaks = [200, 500, 750, 1100, 1400, 1650, 1900, 2300, 2600, 2850, 3100, 3500, 3800]
    symbols = ["N", "N", "A", "N", "N", "Q", "N", "N", "V", "N", "N", "N", "N"]
    write_record(tmp_path, "rec", peaks, symbols, n_samples=4000)
    (beats,), _ = read_beats(tmp_path, ["rec"], EcgOptions())
    rr = np.diff(peaks) / FS
    pre = np.concatenate([rr[:1], rr])
    post = np.concatenate([rr, rr[-1:]])
    local_12 = pre[2:12].mean()  # beat 11: the 10 beats 2..11, the Q beat 5 among them
    assert beats.classes.tolist() == symbols[:2] + ["S"] + symbols[3:]
    np.testing.assert_allclose(beats.features[:, 0], pre, rtol=1e-6)
    np.testing.assert_allclose(beats.features[:, 1], post, rtol=1e-6)
    np.testing.assert_allclose(beats.features[11, 2], local_12, rtol=1e-6)
    np.testing.assert_allclose(beats.features[3, 2], pre[:4].mean(), rtol=1e-6)
    np.testing.assert_allclose(beats.features[:, 3], beats.features[:, 0] / beats.features[:, 2], rtol=1e-5)
    # the record is shorter than 5 minutes: every beat's average RR is the mean over all of them
    np.testing.assert_allclose(beats.features[:, 4], pre / pre.mean(), rtol=1e-5)
    np.testing.assert_allclose(beats.features[:, 5], post / pre.mean(), rtol=1e-5)
    rr_names = ("pre_rr_s", "post_rr_s", "local_rr_s", "rr_ratio", "pre_rr_norm", "post_rr_norm", "local_rr_norm")
    data = load_user_records(tmp_path, rr_features="true", include_q="false", morphology="false")
    assert data.feature_names == rr_names
    assert sum(len(f) for f in data.features.values()) == len(peaks) - 1  # the Q beat dropped after RR
    # by default the local-rhythm and morphology features follow the RR ones, one value per name
    data = load_user_records(tmp_path, include_q="false")
    assert data.feature_names == rr_names + RHYTHM_NAMES + MORPHOLOGY_NAMES
    assert data.features["train"].shape[1] == len(data.feature_names)
    assert rr_features(np.array([100]), FS).shape == (1, 7)


@pytest.fixture
def shared_mitdb() -> Path:
    if not (SHARED_MITDB / "100.dat").is_file():
        pytest.skip(f"MIT-BIH records not found at {SHARED_MITDB}")
    return SHARED_MITDB


def test_two_real_records_intra_patient(shared_mitdb):
    data = load_dataset("mitdb", data_dir=shared_mitdb.parent, options={"records": "100,101", "split": "intra-patient"})
    assert data.info.labels == ("N", "S", "V", "F") and data.sampling_rate == 360
    counts = sum(np.bincount(labels, minlength=4) for labels in data.labels.values())
    # MIT-BIH documentation: 100 has N 2239, A 33, V 1; 101 has N 1860, A 3, Q 2 (dropped); beats within 0.25 s
    # of the start or 0.45 s of the end (100's first beat at sample 77) are left out.
    assert counts[1:].tolist() == [36, 1, 0] and 2239 + 1860 - 5 <= counts[0] < 2239 + 1860
    assert {split: set(records) for split, records in data.groups.items()} == {s: {"100", "101"} for s in data.groups}
    assert data.signals["train"].shape[1:] == (1, 252) and data.signals["train"].dtype == np.float32
    assert data.info.splits == {split: len(labels) for split, labels in data.labels.items()}
    assert data.options.split == "intra-patient" and data.options.records == ("100", "101")


def test_real_records_inter_patient_keep_each_patient_in_one_split(shared_mitdb):
    data = load_dataset("mitdb", data_dir=shared_mitdb, options={"records": [101, 106, 100], "leads": "0,1"})
    records = {split: set(names) for split, names in data.groups.items()}
    assert records["test"] == {"100"} and records["train"] | records["val"] == {"101", "106"}
    assert not records["train"] & records["val"] and data.info.n_channels == 2


def test_mlii_is_lead_0_even_where_a_record_stores_it_second(shared_mitdb):
    import wfdb

    signal, fs, _, _ = read_record(shared_mitdb, "114", (0, 1), mlii_first=True)
    stored = wfdb.rdrecord(str(shared_mitdb / "114")).p_signal  # V5, MLII
    assert np.array_equal(signal, stored[:, ::-1]) and fs == 360


# de Chazal et al. (2004), Table 1: beats per AAMI class in DS1 and DS2.
PUBLISHED = {"DS1": {"N": 45866, "S": 944, "V": 3788, "F": 415}, "DS2": {"N": 44259, "S": 1837, "V": 3221, "F": 388}}


def test_all_records_give_de_chazals_class_counts(shared_mitdb):
    data = load_dataset("mitdb", data_dir=shared_mitdb.parent)
    assert data.info.splits == ecg.MITDB.splits  # the registered counts are the measured ones
    halves = {"DS1": np.concatenate([data.labels["train"], data.labels["val"]]), "DS2": data.labels["test"]}
    for half, labels in halves.items():
        for index, name in enumerate(data.info.labels):
            missing = PUBLISHED[half][name] - int((labels == index).sum())
            assert 0 <= missing <= 22, f"{half} {name}: {missing} beats fewer than published"  # edge beats only


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": 1}, r"unknown ECG option\(s\) window; valid options: split, before_s"),
        ({"split": "by-patient"}, "split='by-patient': expected one of inter-patient, intra-patient"),
        ({"leads": "0,0"}, "distinct signal indices"),
        ({"bandpass": "40"}, "low,high"),
        ({"rr_features": "yes"}, "expected true or false"),
        ({"val_fraction": 1.5}, "val_fraction=1.5"),
        ({"records": "100,999"}, "999 not in MIT-BIH"),
        ({"records": "100,102"}, "paced record"),
        ({"records": "100,103"}, "needs DS1 records to train on"),
    ],
)
def test_bad_options_name_the_option(options, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        ecg.load_mitdb(tmp_path, **options)


def test_cli_style_option_values_are_typed():
    parsed = EcgOptions.parse({"leads": "0,1", "bandpass": "none", "include_q": "true", "before_s": "0.2",
                               "records": [100, "101"]})  # fmt: skip
    assert parsed == EcgOptions(leads=(0, 1), bandpass=None, include_q=True, before_s=0.2, records=("100", "101"))
    assert parsed.labels == ("N", "S", "V", "F", "Q")
    saved = json.loads(json.dumps(asdict(parsed)))  # as kept in a checkpoint
    assert EcgOptions.parse(saved) == parsed


def test_user_folder_split_by_record_when_there_are_enough(tmp_path):
    for index in range(6):
        peaks, symbols = regular_beats(start=150 + 10 * index)
        write_record(tmp_path, f"p{index}", peaks, symbols, leads=1)
    data = load_dataset(str(tmp_path), seed=3)
    records = {split: set(names) for split, names in data.groups.items()}
    assert all(records.values()) and not (records["train"] & records["val"] or records["test"] & records["train"])
    assert data.info.kind == "ecg" and data.options.split == "inter-patient"
    small = load_user_records(tmp_path, records="p0,p1")
    assert small.options.split == "intra-patient"


def test_user_folder_errors_are_clear(tmp_path):
    with pytest.raises(DataError, match="no WFDB records"):
        load_user_records(tmp_path)
    peaks, symbols = regular_beats()
    write_record(tmp_path / "no_atr", "r1", peaks, symbols).joinpath("r1.atr").unlink()
    with pytest.raises(DataError, match=r"record r1 .*no annotation file r1\.atr"):
        load_user_records(tmp_path / "no_atr")
    dat = write_record(tmp_path / "short", "r2", peaks, symbols) / "r2.dat"
    dat.write_bytes(dat.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"record r2 .*r2\.dat is truncated: 7200 samples need 21600 bytes, .* 1000"):
        load_user_records(tmp_path / "short")
    custom = pd.DataFrame({"label_store": [42], "symbol": ["Z"], "description": ["not a WFDB code"]})
    write_record(tmp_path / "odd", "r3", peaks, symbols[:5] + ["Z"] + symbols[6:], custom_labels=custom)
    with pytest.raises(DataError, match=rf"record r3: unknown annotation symbol 'Z' at sample {peaks[5]}"):
        load_user_records(tmp_path / "odd")
    with pytest.raises(DataError, match="lead 2 asked for, but it has 2 signal"):
        load_user_records(tmp_path / "odd", leads="0,2")


class QuietHandler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        QuietHandler.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def physionet(tmp_path, monkeypatch) -> Iterator[Path]:
    """A local stand-in for PhysioNet serving two synthetic records and their SHA256SUMS.txt from tmp_path/served;
    the cache is tmp_path/cache."""
    served = tmp_path / "served"
    for name in ("100", "101"):
        write_record(served, name, *regular_beats())
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()} {p.name}\n" for p in sorted(served.iterdir()))
    (served / "SHA256SUMS.txt").write_text(sums)
    QuietHandler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    monkeypatch.setattr(ecg, "MITDB_URL", f"http://127.0.0.1:{httpd.server_address[1]}/")
    monkeypatch.setattr(ecg, "MITDB_SUMS_SHA256", hashlib.sha256(sums.encode()).hexdigest())
    monkeypatch.setenv("MEDDL_CACHE_DIR", str(tmp_path / "cache"))
    yield served
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_every_file_and_then_reads_the_cache(physionet, tmp_path):
    options = {"records": "100,101", "split": "intra-patient"}
    data = ecg.load_mitdb(tmp_path / "empty", **options)
    cache = tmp_path / "cache" / "mitdb"
    assert sorted(p.name for p in cache.iterdir()) == sorted(p.name for p in physionet.iterdir())
    assert len(QuietHandler.requests) == 7 and sum(len(labels) for labels in data.labels.values()) > 0
    ecg.load_mitdb(None, **options)
    assert len(QuietHandler.requests) == 7  # nothing fetched twice


def test_download_with_a_wrong_checksum_leaves_nothing(physionet, tmp_path):
    (physionet / "101.dat").write_bytes(b"tampered" + (physionet / "101.dat").read_bytes()[8:])
    with pytest.raises(DownloadError, match=r"101\.dat .*SHA256 mismatch"):
        ecg.load_mitdb(tmp_path / "empty", records="100,101", split="intra-patient")
    left = {p.name for p in (tmp_path / "cache" / "mitdb").iterdir()}
    assert "101.dat" not in left and not any(name.endswith(".part") for name in left)


def test_sums_file_must_match_the_pinned_hash(physionet, tmp_path, monkeypatch):
    monkeypatch.setattr(ecg, "MITDB_SUMS_SHA256", "0" * 64)
    with pytest.raises(DownloadError, match=r"MIT-BIH is not available: SHA256SUMS\.txt .*SHA256 mismatch"):
        ecg.load_mitdb(tmp_path / "empty", records="100", split="intra-patient")
    assert list((tmp_path / "cache" / "mitdb").iterdir()) == []
