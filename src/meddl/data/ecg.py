"""ECG beats from PhysioNet WFDB records: the MIT-BIH Arrhythmia Database and a user's own folder of records.

Beats are R-peak-centred windows labelled with the AAMI EC57 classes N, S, V, F (Q kept on request). MIT-BIH is split
inter-patient as de Chazal et al. (2004) did (train on DS1, test on DS2, paced records left out), because beats of
one patient in both train and test make accuracy look far better than it is on a new patient; an intra-patient
(stratified beat) split is an option. Options are checked by `EcgOptions` and kept in `SignalSplits.options`.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from meddl.data.ecg_beats import RR_FEATURE_NAMES, RecordBeats, record_beats
from meddl.data.ecg_features import MORPHOLOGY_NAMES, RHYTHM_NAMES
from meddl.data.ecg_options import EcgOptions
from meddl.data.registry import register_dataset
from meddl.data.types import SPLITS, DatasetInfo, SignalSplits
from meddl.errors import ConfigError, DataError, DownloadError

# Bytes per sample of each WFDB storage format, to tell a truncated .dat file before wfdb fails obscurely.
FORMAT_BYTES = {"8": 1, "16": 2, "61": 2, "80": 1, "160": 2, "212": 1.5, "24": 3, "32": 4, "310": 4 / 3, "311": 4 / 3}
# Record-level validation splits are drawn this many times and the draw whose per-class share is closest to the
# asked fraction is kept, so validation does not, say, take the one record holding most fusion beats.
RECORD_DRAWS = 200
FEW_RECORDS = 5  # a user's folder with fewer records is split by beats: too few patients to hold some out


def read_record(folder: Path, name: str, leads: tuple[int, ...], mlii_first: bool = False):
    """One WFDB record: (signal (samples, leads) float64 in physical units, sampling rate, annotation samples,
    annotation symbols). `mlii_first` moves an MLII lead to index 0 (MIT-BIH record 114 stores it second)."""
    with warnings.catch_warnings():  # wfdb 4.3 trips over pandas deprecations on every read
        warnings.filterwarnings("ignore", message="The inplace keyword", module="wfdb")
        return _read_record(folder, name, leads, mlii_first)


def _read_record(folder: Path, name: str, leads: tuple[int, ...], mlii_first: bool):
    import wfdb

    path = folder / name
    if not (folder / f"{name}.atr").is_file():
        raise DataError(f"record {name} in {folder}: no annotation file {name}.atr; beats need reference labels")
    try:
        header = wfdb.rdheader(str(path))
    except Exception as error:  # wfdb raises many kinds for a malformed header
        raise DataError(f"record {name} in {folder}: unreadable header {name}.hea ({error})") from None
    _check_signal_files(folder, name, header)
    order = list(range(header.n_sig))
    if mlii_first and "MLII" in header.sig_name:
        order.insert(0, order.pop(header.sig_name.index("MLII")))
    if max(leads) >= header.n_sig:
        raise DataError(f"record {name}: lead {max(leads)} asked for, but it has {header.n_sig} signal(s) "
                        f"({', '.join(header.sig_name)})")  # fmt: skip
    try:
        record = wfdb.rdrecord(str(path), channels=[order[lead] for lead in leads])
        annotation = wfdb.rdann(str(path), "atr")
    except Exception as error:  # wfdb's errors (ValueError, struct errors...) say little about which file is bad
        raise DataError(f"record {name} in {folder}: could not read its signals or annotations ({error})") from None
    return record.p_signal, float(record.fs), annotation.sample, list(annotation.symbol)


def _check_signal_files(folder: Path, name: str, header) -> None:
    """A missing or truncated .dat file, reported plainly (wfdb would fail with a broadcasting error)."""
    expected: dict[str, float] = {}
    for file_name, fmt, offset in zip(header.file_name, header.fmt, header.byte_offset or [0] * header.n_sig):
        expected[file_name] = expected.get(file_name, offset or 0) + FORMAT_BYTES.get(fmt, 0) * (header.sig_len or 0)
    for file_name, size in expected.items():
        path = folder / file_name
        if not path.is_file():
            raise DataError(f"record {name} in {folder}: signal file {file_name} is missing")
        if path.stat().st_size < int(size):
            raise DataError(f"record {name} in {folder}: {file_name} is truncated: {header.sig_len} samples need "
                            f"{int(size)} bytes, the file has {path.stat().st_size}")  # fmt: skip


def read_beats(
    folder: Path, names: list[str], options: EcgOptions, mlii_first: bool = False
) -> tuple[list[RecordBeats], float]:
    """Every named record in `folder` as beats, and their sampling rate, which all must share (windows align)."""
    beats, rates = [], {}
    for name in names:
        signal, fs, samples, symbols = read_record(folder, name, options.leads, mlii_first)
        rates[name] = fs
        beats.append(record_beats(name, signal, fs, samples, symbols, options.before_s, options.after_s,
                                  options.bandpass, options.normalise, options.morphology))  # fmt: skip
    if len(set(rates.values())) > 1:
        raise DataError(f"{folder}: records have different sampling rates {rates}; resample them to one rate")
    return beats, rates[names[0]]


def choose_records(records: np.ndarray, labels: np.ndarray, pool: list[str], fraction: float,
                   rng: np.random.Generator) -> list[str]:  # fmt: skip
    """About `fraction` of the `pool` records, drawn so that each class's share of beats is near `fraction`."""
    n = max(1, round(fraction * len(pool)))
    if n >= len(pool):
        raise ConfigError(f"cannot hold out {fraction:.0%} of {len(pool)} record(s) by patient and keep some for "
                          "training; use more records or split=intra-patient")  # fmt: skip
    counts = np.stack([np.bincount(labels[records == name], minlength=labels.max() + 1) for name in pool])
    present = counts.sum(axis=0) > 0
    best, best_score = None, np.inf
    for _ in range(RECORD_DRAWS):
        pick = rng.choice(len(pool), n, replace=False)
        score = np.abs(counts[pick].sum(axis=0)[present] / counts.sum(axis=0)[present] - fraction).mean()
        if score < best_score:
            best, best_score = pick, score
    return sorted(pool[i] for i in best)


def stratified_mask(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A seeded mask selecting `fraction` of the beats of each class."""
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == label))
        mask[index[: round(fraction * len(index))]] = True
    return mask


def assemble(info: DatasetInfo, beats: list[RecordBeats], options: EcgOptions, fs: float, seed: int,
             test_records: list[str] | None) -> SignalSplits:  # fmt: skip
    """Beats of all records into train/val/test. `test_records`: the fixed test patients (inter-patient); None
    draws them (a user's folder split by record); intra-patient splits beats regardless of record."""
    rng = np.random.default_rng(seed)
    classes = np.concatenate([b.classes for b in beats])
    keep = np.isin(classes, options.labels)
    if not keep.any():
        raise DataError(f"{info.name}: no beats of the classes {', '.join(options.labels)} in "
                        f"{', '.join(b.record for b in beats)}")  # fmt: skip
    labels = np.zeros(int(keep.sum()), dtype=np.int64)
    for index, name in enumerate(options.labels):
        labels[classes[keep] == name] = index
    records = np.concatenate([np.full(len(b.classes), b.record) for b in beats])[keep]
    split = np.zeros(len(labels), dtype=np.int64)  # index into SPLITS
    if options.split == "intra-patient":
        split[stratified_mask(labels, options.test_fraction, rng)] = 2
        rest = np.flatnonzero(split == 0)
        split[rest[stratified_mask(labels[rest], options.val_fraction, rng)]] = 1
    else:
        names = [b.record for b in beats]
        if test_records is None:
            test_records = choose_records(records, labels, names, options.test_fraction, rng)
        split[np.isin(records, test_records)] = 2
        pool = [name for name in names if name not in test_records]
        split[np.isin(records, choose_records(records, labels, pool, options.val_fraction, rng))] = 1
    signals = np.concatenate([b.signals for b in beats])[keep]
    features = np.concatenate([b.features for b in beats])[keep]
    parts = {name: split == index for index, name in enumerate(SPLITS)}
    info = replace(info, labels=options.labels, n_channels=len(options.leads),
                   splits={name: int(mask.sum()) for name, mask in parts.items()})  # fmt: skip
    return SignalSplits(
        info=info,
        signals={name: signals[mask] for name, mask in parts.items()},
        labels={name: labels[mask] for name, mask in parts.items()},
        groups={name: records[mask] for name, mask in parts.items()},
        sampling_rate=fs,
        features={name: features[mask] for name, mask in parts.items()} if options.rr_features else {},
        feature_names=feature_names(options),
        options=options,
    )


def feature_names(options: EcgOptions) -> tuple[str, ...]:
    """The per-beat feature columns the options ask for: RR intervals, then local rhythm and morphology."""
    if not options.rr_features:
        return ()
    return RR_FEATURE_NAMES + ((RHYTHM_NAMES + MORPHOLOGY_NAMES) if options.morphology else ())


def is_wfdb_folder(path: Path) -> bool:
    """True for a folder holding WFDB record headers (*.hea): the user's own ECG records."""
    return path.is_dir() and any(path.glob("*.hea"))


def load_user_records(path: str | Path, seed: int = 0, **options) -> SignalSplits:
    """A folder of WFDB records (.hea, .dat, .atr with beat labels) as AAMI-labelled beats.

    Without a `split` option, a folder of fewer than 5 records is split by beats (intra-patient), a larger one by
    record, so that no patient's beats are in two splits.
    """
    folder = Path(path).expanduser()
    names = sorted(p.stem for p in folder.glob("*.hea"))
    if not names:
        raise DataError(f"{folder}: no WFDB records (*.hea with .dat and .atr) found")
    parsed = EcgOptions.parse(options)
    if parsed.records:
        missing = sorted(set(parsed.records) - set(names))
        if missing:
            raise ConfigError(f"option records: {', '.join(missing)} not in {folder}; found {', '.join(names)}")
        names = list(parsed.records)
    if "split" not in options:
        parsed = replace(parsed, split="intra-patient" if len(names) < FEW_RECORDS else "inter-patient")
    beats, fs = read_beats(folder, names, parsed)
    info = DatasetInfo(name=folder.name, task="multi-class", n_channels=len(parsed.leads), labels=parsed.labels,
                       splits={}, license="user data", description=str(folder), kind="ecg",
                       default_model="ecg-boost", default_preset="ecg")  # fmt: skip
    return assemble(info, beats, parsed, fs, seed, test_records=None)


# The inter-patient division of de Chazal et al. (2004): both halves mix the common and the rare arrhythmias.
DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124", "201", "203", "205", "207",
       "208", "209", "215", "220", "223", "230")  # fmt: skip
DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213", "214", "219", "221",
       "222", "228", "231", "232", "233", "234")  # fmt: skip
PACED = ("102", "104", "107", "217")  # AAMI leaves out paced records
MITDB_URL = "https://physionet.org/files/mitdb/1.0.0/"
# SHA-256 of the release's SHA256SUMS.txt: one constant pins every file of this immutable PhysioNet release.
MITDB_SUMS_SHA256 = "b61158a96d5f2ca80edfb354a9a66a6324836c390a84e1966dcee2b907d6be43"

MITDB = DatasetInfo(
    name="mitdb",
    task="multi-class",
    n_channels=1,
    labels=("N", "S", "V", "F"),
    splits={"train": 45735, "val": 5259, "test": 49685},  # measured with the default options and seed 0
    license="ODC-By 1.0",
    description="MIT-BIH Arrhythmia Database (PhysioNet, 48 half-hour 2-lead ECGs at 360 Hz): beats in AAMI classes "
    "N/S/V/F (Q with -O include_q=true); inter-patient split DS1 train / DS2 test (de Chazal 2004), paced records "
    "102/104/107/217 left out; -O split=intra-patient for a stratified beat split",
    kind="ecg",
    default_model="ecg-boost",
    default_preset="ecg",
)


def mitdb_records(options: EcgOptions) -> list[str]:
    """The records to load: DS1 and DS2 (44 records), or the `records` option checked against the database."""
    if not options.records:
        return sorted(DS1 + DS2)
    known = set(DS1 + DS2 + PACED)
    unknown = sorted(set(options.records) - known)
    if unknown:
        raise ConfigError(f"option records: {', '.join(unknown)} not in MIT-BIH; expected some of "
                          f"{', '.join(sorted(known))}")  # fmt: skip
    if options.split == "inter-patient":
        paced = sorted(set(options.records) & set(PACED))
        if paced:
            raise ConfigError(f"option records: paced record(s) {', '.join(paced)} are in neither DS1 nor DS2")
        if not set(options.records) & set(DS1) or not set(options.records) & set(DS2):
            raise ConfigError("option records: an inter-patient split needs DS1 records to train on and DS2 records "
                              f"to test on; got {', '.join(options.records)}")  # fmt: skip
    return sorted(set(options.records))


def locate_mitdb(data_dir: Path | None, records: list[str], allow_download: bool = True) -> Path:
    """The folder holding every needed record: data_dir/mitdb, data_dir or the cache, else download to the cache."""
    from meddl.data.download import default_cache_dir

    wanted = [f"{name}.{ext}" for name in records for ext in ("hea", "dat", "atr")]
    cache = default_cache_dir() / "mitdb"
    candidates = ([data_dir / "mitdb", data_dir] if data_dir is not None else []) + [cache]
    for folder in candidates:
        if all((folder / file).is_file() for file in wanted):
            return folder
    if not allow_download:
        raise DataError(f"MIT-BIH records not found; looked in {', '.join(str(c) for c in candidates)}")
    try:
        _download_mitdb(cache, wanted)
    except DownloadError as error:
        where = data_dir if data_dir is not None else "a folder named by MEDDL_DATA_DIR"
        raise DownloadError(f"MIT-BIH is not available: {error}. Without network access, put the .hea/.dat/.atr "
                            f"files from {MITDB_URL} into {where}/mitdb or {cache}") from None  # fmt: skip
    return cache


def _download_mitdb(cache: Path, wanted: list[str]) -> None:
    """SHA256SUMS.txt checked against the pinned hash, then each missing file checked against it."""
    from meddl.data.download import download, sha256sum

    sums_path = cache / "SHA256SUMS.txt"
    if not sums_path.is_file() or sha256sum(sums_path) != MITDB_SUMS_SHA256:
        download(MITDB_URL + "SHA256SUMS.txt", sums_path, sha256=MITDB_SUMS_SHA256, progress=False)
    sums = {name: digest for digest, name in (line.split(maxsplit=1) for line in sums_path.read_text().splitlines())}
    for file in wanted:
        if not (cache / file).is_file():
            download(MITDB_URL + file, cache / file, sha256=sums[file])


def load_mitdb(data_dir: Path | None, seed: int = 0, **options) -> SignalSplits:
    """MIT-BIH beats split as the options say (default: inter-patient, DS1 train/val by record, DS2 test)."""
    parsed = EcgOptions.parse(options)
    records = mitdb_records(parsed)
    folder = locate_mitdb(data_dir, records)
    beats, fs = read_beats(folder, records, parsed, mlii_first=True)
    test = [name for name in records if name in DS2] if parsed.split == "inter-patient" else None
    return assemble(MITDB, beats, parsed, fs, seed, test_records=test)


register_dataset(MITDB, load_mitdb)
