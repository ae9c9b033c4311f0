"""A user's own images as a dataset: a folder of class sub-folders, or a CSV of path,label.

Without a split given by the user, a seeded stratified 70/10/20 split is made once and saved as a CSV beside the
data, so every later run (and every colleague) trains and tests on the same images, and the split can be read,
shared and edited by hand.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from meddl.atomic import open_temporary
from meddl.data.dicom_series import is_series_folder
from meddl.data.download import default_cache_dir
from meddl.data.imageio import IMAGE_SUFFIXES, is_image_file, read_image, resize_image
from meddl.data.types import SPLITS, WHOLE_SPLIT, DatasetInfo, ImageSplits
from meddl.errors import ConfigError, DataError

SPLIT_FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}
SPLIT_FILE = "meddl_split.csv"
LABEL_SEPARATORS = re.compile(r"[|;]")
_IGNORED_DIRS = {"__MACOSX"}  # resource forks left by unzipping a macOS archive


@dataclass(frozen=True)
class _Sample:
    path: Path
    key: str  # how the split file names the sample: the CSV's path cell, or the path relative to the root
    labels: tuple[str, ...]
    split: str | None = None


def load_user_images(path: Path, size: int, seed: int, whole: bool = False, record_split: bool = True) -> ImageSplits:
    """Load a folder of class sub-folders (optionally inside train/ val/ test/) or a CSV of path,label[,split].

    A CSV label cell holding several labels separated by '|' or ';' makes the task multi-label. Every image is
    resized to size x size; all must have the same channel count. An existing split file listing the same files
    and labels is reused whatever the seed; delete it to split anew.

    `whole` puts every image into one split, "all" (an external test set: no split is read, made or written);
    without `record_split` a new split is kept in memory only (evaluation never writes beside the data).
    """
    path = Path(path).expanduser()
    if size < 1:
        raise ConfigError(f"image size must be a positive number of pixels; got {size}")
    if path.is_dir():
        samples, multi_label = _scan_folder(path), False
        split_file, name = path / SPLIT_FILE, path.name
    elif path.is_file() and path.suffix.lower() == ".csv":
        samples, multi_label = _read_csv(path)
        split_file, name = path.with_name(f"{path.stem}.{SPLIT_FILE}"), path.stem
    elif not path.exists():
        raise DataError(f"{path}: no such folder or CSV file")
    else:
        raise DataError(f"{path}: expected a folder of class sub-folders or a CSV file with columns path,label")
    classes = _sort_labels({label for sample in samples for label in sample.labels})
    if len(classes) < 2:
        raise DataError(f"{path}: found the label(s) {list(classes)}; a classifier needs at least 2 classes")
    record = None
    if whole:
        samples = [replace(s, split=WHOLE_SPLIT) for s in samples]
    elif samples[0].split is None:
        samples, record = _with_split(samples, split_file, seed)
    names = (WHOLE_SPLIT,) if whole else SPLITS
    by_split = {split: [s for s in samples if s.split == split] for split in names}
    for split, members in by_split.items():
        if not members:
            raise DataError(f"{path}: the {split} split holds no images; each of {', '.join(SPLITS)} needs some")
    ordered = [s for split in names for s in by_split[split]]
    volumes = _are_volumes(ordered, path)
    pixels = _read_volumes(ordered, size, name) if volumes else _read_all(ordered, size, name)
    if record is not None and record_split:  # only once every image was read: a failed load leaves nothing behind
        record()
    task = "multi-label" if multi_label else ("binary" if len(classes) == 2 else "multi-class")
    counts = {split: len(by_split[split]) for split in names}
    info = DatasetInfo(
        name=name, task=task, n_channels=int(pixels.shape[-1]), labels=classes, splits=counts,
        license="user data", description=str(path), sizes=(size,), spatial_dims=3 if volumes else 2,
        default_preset="volume" if volumes else "", default_model="fast-cnn-3d" if volumes else "",
    )  # fmt: skip
    bounds = np.cumsum([0, *counts.values()])
    splits = ImageSplits(
        info=info,
        images={split: pixels[bounds[i] : bounds[i + 1]] for i, split in enumerate(names)},
        labels={split: _encode(by_split[split], classes, multi_label) for split in names},
        sources={split: [str(s.path) for s in by_split[split]] for split in names},
    )
    splits.groups = image_groups(splits.sources, path) or {}
    return splits


def _sort_labels(labels: set[str]) -> tuple[str, ...]:
    # Numeric class names sort as numbers, so that folders 0..10 map to indices 0..10 rather than 0, 1, 10, 2.
    if all(label.isdecimal() for label in labels):
        return tuple(sorted(labels, key=int))
    return tuple(sorted(labels))


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(
        d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name not in _IGNORED_DIRS
    )


def _scan_folder(root: Path) -> list[_Sample]:
    subdirs = _visible_dirs(root)
    split_dirs = [d for d in subdirs if d.name in SPLITS]
    if not split_dirs:
        return _scan_classes(root, root, None)
    others = [d.name for d in subdirs if d.name not in SPLITS]
    missing = [split for split in SPLITS if not (root / split).is_dir()]
    if others or missing:
        raise DataError(
            f"{root}: holds split folders ({', '.join(d.name for d in split_dirs)}) but also "
            f"{'other folders ' + str(others) if others else 'lacks ' + ', '.join(missing)}; expected either "
            "class sub-folders only, or exactly train/ val/ test/ each holding class sub-folders"
        )
    return [sample for d in split_dirs for sample in _scan_classes(d, root, d.name)]


def _scan_classes(folder: Path, root: Path, split: str | None) -> list[_Sample]:
    class_dirs = _visible_dirs(folder)
    if not class_dirs:
        loose = sum(1 for f in folder.iterdir() if f.is_file() and is_image_file(f))
        found = f"{loose} image(s) directly inside it but no" if loose else "no images and no"
        raise DataError(f"{folder}: found {found} class sub-folders; expected {folder}/<class name>/<image files>")
    samples = []
    for class_dir in class_dirs:
        files = _image_files(class_dir)
        if not files:
            raise DataError(f"{class_dir}: class folder holds no images ({', '.join(IMAGE_SUFFIXES)} or DICOM)")
        samples += [_Sample(f, f.relative_to(root).as_posix(), (class_dir.name,), split) for f in files]
    return samples


def _image_files(folder: Path) -> list[Path]:
    """Image files anywhere below `folder` (e.g. one sub-folder per patient), skipping hidden files and folders; a
    sub-folder holding a DICOM series (slices with positions in the patient) is one item, the volume."""
    return list(_walk_images(folder))


def _walk_images(folder: Path) -> Iterator[Path]:
    """`_image_files` one at a time, in order, so that a caller wanting only the first walks no further."""
    for directory, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _IGNORED_DIRS)
        if Path(directory) != folder and is_series_folder(Path(directory)):
            dirnames[:] = []
            yield Path(directory)
            continue
        yield from (Path(directory, f) for f in sorted(filenames) if is_image_file(Path(directory, f)))


def _read_csv(csv_path: Path) -> tuple[list[_Sample], bool]:
    try:
        text = csv_path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often write a byte-order mark
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{csv_path}: cannot read this CSV file ({error})") from error
    reader = csv.DictReader(io.StringIO(text))
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    absent = [column for column in ("path", "label") if column not in columns]
    if absent:
        raise DataError(
            f"{csv_path}: missing column(s) {', '.join(absent)}; found {sorted(columns)}; "
            "expected a header line path,label (and optionally split)"
        )
    rows, first_line, missing, multi_label = [], {}, [], False
    for row in reader:
        line = reader.line_num
        cell = (row[columns["path"]] or "").strip()
        label_cell = (row[columns["label"]] or "").strip()
        split_cell = (row[columns["split"]] or "").strip().lower() if "split" in columns else ""
        if not cell:
            raise DataError(f"{csv_path}, line {line}: empty path")
        if cell in first_line:
            raise DataError(f"{csv_path}, line {line}: {cell} is listed again (first on line {first_line[cell]})")
        first_line[cell] = line
        file = Path(cell).expanduser()
        file = file if file.is_absolute() else csv_path.parent / file
        if not (file.is_file() or is_series_folder(file)):
            missing.append(f"line {line}: {file}")
        multi_label |= bool(LABEL_SEPARATORS.search(label_cell))
        labels = tuple(part.strip() for part in LABEL_SEPARATORS.split(label_cell) if part.strip())
        rows.append((line, _Sample(file, cell, labels, split_cell or None)))
    if not rows:
        raise DataError(f"{csv_path}: lists no images")
    if missing:
        raise DataError(f"{csv_path}: {len(missing)} listed file(s) do not exist, e.g. {missing[0]}")
    split_given = any(sample.split for _, sample in rows)  # an empty split column means: make one
    for line, sample in rows:
        if not multi_label and not sample.labels:
            raise DataError(f"{csv_path}, line {line}: empty label")
        if split_given and sample.split not in SPLITS:
            raise DataError(
                f"{csv_path}, line {line}: split {sample.split or '(empty)'!r}; expected one of {', '.join(SPLITS)}"
            )
    return [sample for _, sample in rows], multi_label


def _with_split(samples: list[_Sample], split_file: Path, seed: int):
    """(samples with their split, None) where a split is recorded for them, or (samples with a new seeded split, a
    function that records it), to be called once the images have loaded."""
    current = {s.key: "|".join(s.labels) for s in samples}
    cached = _cache_location(split_file)
    outdated = [existing for existing in (split_file, cached) if existing.is_file()]
    for existing in outdated:
        recorded = _read_split_file(existing)
        if {key: label for key, (label, _) in recorded.items()} == current:
            return [replace(s, split=recorded[s.key][1]) for s in samples], None
    if outdated:
        warnings.warn(f"{outdated[0]} lists other files or labels than the data now holds; making a new split")
    splits = assign_splits([s.labels[0] if s.labels else "" for s in samples], [s.key for s in samples], seed)
    samples = [replace(s, split=split) for s, split in zip(samples, splits)]
    rows = [(s.key, current[s.key], s.split) for s in sorted(samples, key=lambda s: s.key)]

    def record() -> None:
        try:
            _write_csv_atomically(split_file, rows)
        except OSError:
            _write_csv_atomically(cached, rows)
            warnings.warn(f"cannot write {split_file}; saved the split to {cached} instead")

    return samples, record


def assign_splits(strata: list[str], keys: list[str], seed: int) -> list[str]:
    """A seeded 70/10/20 train/val/test split, stratified on `strata`, even when a stratum has one member.

    Each stratum's members take evenly spaced positions in [0, 1) after a seeded shuffle and a random offset
    (systematic sampling); the lowest 20% of positions overall go to test, the next 10% to val. So every stratum
    is split in proportion, and a stratum of 3 contributes to test with probability 0.6 rather than making
    stratification fail as it does in scikit-learn. Only the sorted keys matter, not the order of the lists.
    """
    n = len(keys)
    if n < len(SPLITS):
        raise DataError(f"found {n} image(s); at least {len(SPLITS)} are needed for train, val and test splits")
    rng = np.random.default_rng(seed)
    by_key = sorted(range(n), key=lambda i: keys[i])
    groups: dict[str, list[int]] = {}
    for i in by_key:
        groups.setdefault(strata[i], []).append(i)
    position = np.empty(n)
    for stratum in sorted(groups):
        members = groups[stratum]
        ranks = rng.permutation(len(members)) + rng.random()
        position[members] = ranks / len(members)
    order = np.lexsort((rng.random(n), position))  # position first; exact ties broken at random
    n_test = max(1, int(n * SPLIT_FRACTIONS["test"] + 0.5))
    n_val = max(1, int(n * SPLIT_FRACTIONS["val"] + 0.5))
    splits = np.full(n, "train", dtype=object)
    splits[order[:n_test]] = "test"
    splits[order[n_test : n_test + n_val]] = "val"
    return list(splits)


def _cache_location(split_file: Path) -> Path:
    digest = hashlib.sha1(str(split_file.resolve()).encode()).hexdigest()[:12]
    return default_cache_dir() / "splits" / f"{digest}-{split_file.name}"


def _read_split_file(path: Path) -> dict[str, tuple[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        recorded = {row["path"]: (row["label"], row["split"]) for row in rows}
    except (OSError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise DataError(f"{path}: not a readable split file ({error!r}); delete it to make a new split") from error
    bad = [split for _, split in recorded.values() if split not in SPLITS]
    if bad:
        raise DataError(f"{path}: split {bad[0]!r}; expected one of {', '.join(SPLITS)} (or delete the file)")
    return recorded


def _write_csv_atomically(target: Path, rows: list[tuple[str, str, str]]) -> None:
    """Write path,label,split rows so that a reader never sees a half-written file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = open_temporary(target)  # mode 0666 less the umask, as any file the user writes
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(("path", "label", "split"))
            writer.writerows(rows)
        os.replace(temp_name, target)
    finally:
        Path(temp_name).unlink(missing_ok=True)


def _read_all(samples: list[_Sample], size: int, name: str) -> np.ndarray:
    """All images as one uint8 (N, size, size, C) array; refuses to mix grey and colour images.

    Files are decoded in threads (Pillow, zlib and NumPy release the GIL), which makes large folders several
    times faster; results arrive in order, so the first bad file in the list is the one reported.
    """
    batch: np.ndarray | None = None
    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    try:
        images = pool.map(lambda sample: resize_image(read_image(sample.path), size), samples)
        progress = tqdm(images, total=len(samples), desc=f"reading {name}", unit="image", leave=False, disable=None)
        for i, (sample, image) in enumerate(zip(samples, progress)):
            if batch is None:
                batch = np.empty((len(samples), size, size, image.shape[2]), dtype=np.uint8)
            elif image.shape[2] != batch.shape[3]:
                raise DataError(
                    f"mixed channel counts: {samples[0].path} has {batch.shape[3]} channel(s) but {sample.path} "
                    f"has {image.shape[2]}; convert the images to all grey or all colour"
                )
            batch[i] = image
    finally:
        pool.shutdown(cancel_futures=True)  # after an error, do not wait for the files still queued
    assert batch is not None  # load_user_images has checked that every split holds images
    return batch


def _are_volumes(samples: list[_Sample], root: Path) -> bool:
    """True when every sample is a 3D volume (NIfTI), False when none is; a mix is refused, naming one of each."""
    from meddl.data.volumes import is_volume_file

    kinds = [is_volume_file(sample.path) for sample in samples]
    if all(kinds):
        return True
    if any(kinds):
        volume = next(s.path for s, is_volume in zip(samples, kinds) if is_volume)
        flat = next(s.path for s, is_volume in zip(samples, kinds) if not is_volume)
        raise DataError(f"{root}: mixes {sum(kinds)} 3D volume(s) (e.g. {volume}) with {kinds.count(False)} 2D "
                        f"image(s) (e.g. {flat}); a dataset is one or the other: put them in separate folders")
    return False


def holds_volumes(path: Path) -> bool:
    """Whether a user's folder or CSV holds volumes, judged by its first image file (a mix is refused on loading):
    what `meddl train` needs to choose a 3D model before the data is read."""
    from meddl.data.volumes import is_volume_file

    first = None
    try:
        if path.is_dir():
            first = next(_walk_images(path), None)
        elif path.is_file() and path.suffix.lower() == ".csv":
            first = next((s.path for s in _read_csv(path)[0]), None)
    except (DataError, OSError):
        return False  # loading reports the problem
    try:
        return first is not None and is_volume_file(first)
    except DataError:
        return False


def _read_volumes(samples: list[_Sample], size: int, name: str) -> np.ndarray:
    """All volumes as one uint8 (N, size, size, size, 1) array, each decoded once and cached on disk
    (`meddl.data.volumes.read_volume`), in threads as `_read_all` does."""
    from meddl.data.volumes import read_volume

    batch = np.empty((len(samples), size, size, size, 1), dtype=np.uint8)
    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    try:
        volumes = pool.map(lambda sample: read_volume(sample.path, size), samples)
        progress = tqdm(volumes, total=len(samples), desc=f"reading {name}", unit="volume", leave=False,
                        disable=None)
        for i, volume in enumerate(progress):
            batch[i] = volume
    finally:
        pool.shutdown(cancel_futures=True)
    return batch


def _encode(samples: list[_Sample], classes: tuple[str, ...], multi_label: bool) -> np.ndarray:
    index = {label: i for i, label in enumerate(classes)}
    if not multi_label:
        return np.array([index[s.labels[0]] for s in samples], dtype=np.int64)
    encoded = np.zeros((len(samples), len(classes)), dtype=np.int64)
    for row, sample in enumerate(samples):
        encoded[row, [index[label] for label in sample.labels]] = 1
    return encoded


PATIENT_COLUMNS = ("patient_id", "patient", "subject_id", "subject", "record")


def image_groups(sources: dict[str, list[str]], root: Path) -> dict[str, list[str]] | None:
    """The patient of each image of a user's dataset, where its layout says: a CSV column named patient_id (or
    patient, subject_id, subject, record), or one sub-folder per patient inside each class folder."""
    if not any(sources.values()):
        return None
    if root.is_file() and root.suffix.lower() == ".csv":
        with open(root, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            column = next((c for c in reader.fieldnames or [] if c.strip().lower() in PATIENT_COLUMNS), None)
            if column is None:
                return None
            by_path = {str((root.parent / row["path"]).resolve()): row[column].strip() for row in reader}
        return {split: [by_path.get(str(Path(p).resolve()), "") for p in paths]
                for split, paths in sources.items()}
    groups: dict[str, list[str]] = {}
    for split, paths in sources.items():
        names = []
        for path in paths:
            parts = Path(path).resolve().relative_to(root.resolve()).parts
            parts = parts[1:] if parts and parts[0] in SPLITS else parts
            names.append(parts[1] if len(parts) >= 3 else "")  # class/patient/file
        groups[split] = names
    return groups if any(name for names in groups.values() for name in names) else None
