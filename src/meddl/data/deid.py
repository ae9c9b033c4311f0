"""De-identify a folder of DICOM files with the PS3.15 Annex E Basic Profile, keeping pixel data bit for bit.

The output tree mirrors the input; files that are not DICOM are skipped, and so is a corrupt one, each reported by its
path relative to the folders (the names are copied as they are: rename any that carry identifiers first). Each
output file is written whole to a temporary file and then renamed, never over an input. The CSV log says which
attribute of which output file got which action, never a value. pydicom's warnings quote the values they complain
about, so they are silenced while files are read and written.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import MediaStorageDirectoryStorage
from tqdm import tqdm

from meddl.atomic import open_temporary
from meddl.atomic import write_text_atomic
from meddl.data.deid_profile import Keyed, ProfileCleaner, mark_deidentified
from meddl.errors import DataError

LOG_NAME = "meddl_deid_log.csv"
NOT_DICOM = "not a DICOM file (no DICM marker)"
BURNED_IN_WARNING = "BurnedInAnnotation is YES: the pixels may show identifiers (meddl does not scrub pixels)"


@dataclass(frozen=True)
class SkippedFile:
    path: str  # relative to the input folder, as the output would have been named
    reason: str


@dataclass(frozen=True)
class DeidResult:
    """What `deidentify_folder` wrote, skipped and warned about; paths are relative to the folders."""

    output_dir: Path
    log: Path
    written: tuple[str, ...]
    skipped: tuple[SkippedFile, ...]
    burned_in: tuple[str, ...]
    random_key: bool

    def summary(self) -> str:
        not_dicom = sum(s.reason == NOT_DICOM for s in self.skipped)
        text = (f"de-identified {len(self.written)} DICOM files into {self.output_dir}; skipped {not_dicom} "
                f"non-DICOM and {len(self.skipped) - not_dicom} unusable; {len(self.burned_in)} with burned-in "
                f"annotation; log: {self.log}")
        if self.random_key:
            text += " (random key: a later run maps UIDs and dates differently; pass a key to repeat them)"
        return text

    def warnings(self) -> list[str]:
        """One line per skipped file and per file with burned-in annotation, for the user to see."""
        return ([f"skipped {skipped.path}: {skipped.reason}" for skipped in self.skipped]
                + [f"warning: {path}: {BURNED_IN_WARNING}" for path in self.burned_in])


class _Unusable(Exception):
    """A DICOM file that reads without error but cannot be de-identified as it is; the message says why."""


def _check_usable(dataset: Dataset) -> None:
    if dataset.file_meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
        raise _Unusable("DICOMDIR (its record offsets would break; build a new one from the output)")
    if "SOPInstanceUID" not in dataset:
        raise _Unusable("corrupt DICOM (no SOP Instance UID; truncated?)")
    for tag in list(dataset.keys()):  # pydicom reads a cut-off file without complaint; the lengths tell
        raw = dataset.get_item(tag)
        if isinstance(raw, RawDataElement) and raw.length != 0xFFFFFFFF and len(raw.value or b"") != raw.length:
            raise _Unusable("corrupt DICOM (truncated)")


def _deidentify_file(path: Path, output: str, keys: Keyed, shift_dates: bool) -> tuple[bytes, ProfileCleaner, bool]:
    """The de-identified file as bytes, its change notes, and whether it says its pixels hold burned-in text."""
    dataset = dcmread(path, force=True)  # force: files without the preamble were accepted by _not_dicom
    _check_usable(dataset)
    offset = keys.day_offset(str(dataset.get("PatientID", ""))) if shift_dates else None
    cleaner = ProfileCleaner(output, keys, offset)
    burned_in = str(dataset.get("BurnedInAnnotation", "")).strip().upper() == "YES"
    cleaner.clean(dataset.file_meta)
    cleaner.clean(dataset)
    mark_deidentified(dataset, cleaner)
    if burned_in:
        cleaner.rows.append((output, "(0028,0301)", "BurnedInAnnotation", "warning", BURNED_IN_WARNING))
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue(), cleaner, burned_in


def _check_folders(input_dir: Path, output_dir: Path) -> None:
    if not input_dir.is_dir():
        raise DataError(f"{input_dir}: no such folder; expected a folder of DICOM files")
    if output_dir.exists() and not output_dir.is_dir():
        raise DataError(f"{output_dir}: is a file; expected a folder for the de-identified copies")
    source, target = input_dir.resolve(), output_dir.resolve()
    if target == source or source in target.parents or target in source.parents:
        raise DataError(f"output folder {output_dir} overlaps input folder {input_dir}; expected two separate "
                        "folders, so that no input file is ever overwritten")


def _list_files(folder: Path) -> list[Path]:
    """Every file under `folder`, in a fixed order so that logs of two runs compare line by line."""
    found = []
    for root, folders, names in os.walk(folder):
        folders.sort()
        found.extend(Path(root) / name for name in sorted(names) if (Path(root) / name).is_file())
    return found


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _not_dicom(path: Path) -> str | None:
    """None for a DICOM file, else why the file is skipped: a Part 10 file (128 bytes of preamble, then "DICM"), or
    one that scanners write without the preamble and that the image readers accept (it starts with a data element
    of group 0x0002 or 0x0008 and reads as a dataset that names a patient, study or SOP class)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(132)
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if head[128:] == b"DICM":
        return None
    if head[:2] not in (b"\x02\x00", b"\x08\x00"):
        return NOT_DICOM
    try:
        dataset = dcmread(path, force=True, stop_before_pixels=True)
    except Exception:  # pydicom raises many types for a file that only looked like DICOM
        return NOT_DICOM
    named = any(keyword in dataset for keyword in ("SOPClassUID", "PatientID", "StudyInstanceUID", "Modality"))
    return None if named else NOT_DICOM


def _write_atomic(path: Path, data: bytes, root: Path) -> None:
    """Write to a temporary file beside `path`, then rename it in; refuse a path that leads out of `root`."""
    parent = path.parent.resolve()
    if parent != root and root not in parent.parents:
        raise DataError(f"{path}: leads outside the output folder {root} (a symbolic link?); expected a path in it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = open_temporary(path)  # mode 0666 less the umask, as any file the user writes
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)
    except OSError as error:
        raise DataError(f"{path}: cannot write the de-identified file ({error.strerror})") from error


@contextmanager
def _quiet_pydicom() -> Iterator[None]:
    """pydicom's warnings and log lines quote the values they complain about; none may reach the screen."""
    logger = logging.getLogger("pydicom")
    was_disabled, logger.disabled = logger.disabled, True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = was_disabled


def _write_log(path: Path, rows: list[tuple[str, ...]]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["file", "tag", "attribute", "action", "note"])
    writer.writerows(rows)
    write_text_atomic(path, text.getvalue())


def deidentify_folder(input_dir: str | Path, output_dir: str | Path, shift_dates: bool = False,
                      key: str | bytes | None = None, progress: bool = True) -> DeidResult:
    """De-identify every DICOM file under `input_dir` into the same relative path under `output_dir`.

    `key` makes the new UIDs, the Patient ID pseudonyms and the date offsets repeat across runs (keep it secret:
    anyone holding it can test guesses of an original value); without one a random key serves this run only.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    _check_folders(input_dir, output_dir)
    reasons = {path: _not_dicom(path) for path in _list_files(input_dir)}
    dicom = [path for path, reason in reasons.items() if reason is None]
    skipped = [SkippedFile(_relative(path, input_dir), reason) for path, reason in reasons.items() if reason]
    if not dicom:
        raise DataError(f"{input_dir}: no DICOM files found (expected files with the DICM marker; "
                        f"found {len(skipped)} other files)")
    keys = Keyed((key.encode() if isinstance(key, str) else key) if key else secrets.token_bytes(32))
    root = output_dir.resolve()
    written, burned_in, rows = [], [], []
    with _quiet_pydicom():
        for path in tqdm(dicom, desc="de-identifying", unit="file", leave=False, disable=None if progress else True):
            output = _relative(path, input_dir)
            try:
                data, cleaner, burned = _deidentify_file(path, output, keys, shift_dates)
            except _Unusable as reason:
                skipped.append(SkippedFile(output, str(reason)))
                continue
            except Exception as error:  # whatever pydicom raises on a broken file; its message may quote values
                skipped.append(SkippedFile(output, f"corrupt DICOM ({type(error).__name__})"))
                continue
            _write_atomic(output_dir / output, data, root)
            written.append(output)
            burned_in.extend([output] if burned else [])
            rows.extend(cleaner.rows)
    rows.extend((skip.path, "", "", "skipped", skip.reason) for skip in skipped)
    log = output_dir / LOG_NAME
    _write_log(log, rows)
    return DeidResult(output_dir, log, tuple(written), tuple(skipped), tuple(burned_in), random_key=not key)
