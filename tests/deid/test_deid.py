"""`meddl deid` as a user meets it: pydicom's example files and a small two-patient study built here, de-identified
with the PS3.15 Annex E Basic Profile; identifiers must be gone from every byte of the output and from the log."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pydicom.examples
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

from meddl.api import deid
from meddl.cli import main
from meddl.data.deid import LOG_NAME

# pydicom's MR example holds an invalid UID; reading the originals here warns about it (meddl itself stays quiet).
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
EXAMPLES = ("ct", "mr", "rgb_color", "jpeg2k", "overlay", "waveform", "rt_plan", "rt_dose", "ybr_color")
PATIENTS = {  # patient ID -> (name, birth date, [(study date, series per study)])
    "PID-A-123": ("Doe^Jane", "19700101", [("20200110", 2), ("20200305", 1)]),
    "PID-B-456": ("Roe^Richard", "19811224", [("20210615", 1)]),
}
TEXT_IDENTIFIERS = ["Doe^Jane", "Roe^Richard", "PID-A-123", "PID-B-456", "19700101", "19811224", "20200110",
                    "20200305", "20210615", "General Hospital", "ACC-998877", "Dr^Who", "Secret^Private"]


def _uid(*parts: int) -> str:
    return "1.2.826.0.1.3680043.99." + ".".join(map(str, parts))


def _image(patient_id: str, study: int, series: int, instance: int, burned_in: bool = False) -> Dataset:
    """One CT slice with the identifiers a real one carries, a private block, and nested sequences."""
    name, birth, studies = PATIENTS[patient_id]
    patient = list(PATIENTS).index(patient_id)
    study_date = studies[study][0]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = _uid(patient, study, series, instance)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = _uid(patient, study, series, instance)
    ds.StudyInstanceUID = _uid(patient, study)
    ds.SeriesInstanceUID = _uid(patient, study, series)
    ds.FrameOfReferenceUID = _uid(patient, study, 0)
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = name, patient_id, birth
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date
    ds.StudyTime = "093000"
    ds.AcquisitionDateTime = f"{study_date}093512.250000"
    ds.InstitutionName, ds.AccessionNumber, ds.ReferringPhysicianName = "General Hospital", "ACC-998877", "Dr^Who"
    ds.Modality, ds.BodyPartExamined = "CT", "CHEST"
    ds.BurnedInAnnotation = "YES" if burned_in else "NO"
    ds.private_block(0x0011, "ACME 1.0", create=True).add_new(0x01, "PN", "Secret^Private")
    if series:  # a later series points back at the first one's first slice, two sequences deep
        reference = Dataset()
        reference.ReferencedSOPClassUID = CTImageStorage
        reference.ReferencedSOPInstanceUID = _uid(patient, study, 0, 0)
        reference.PatientName = name  # not where a name belongs, but the profile must find it anywhere
        reference.private_block(0x0013, "ACME 1.0", create=True).add_new(0x02, "LO", "Secret^Private")
        region = Dataset()
        region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning = "T-D3000", "SRT", "Chest"
        region.ReferencedImageSequence = [reference]
        ds.AnatomicRegionSequence = [region]
        ds.SourceImageSequence = [reference.copy()]
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(64, dtype=np.uint16) * 7 + instance).tobytes()
    return ds


@pytest.fixture(scope="module")
def input_dir(tmp_path_factory) -> Path:
    """pydicom's bundled examples, two patients (one with two studies, one study with two series), a note, a
    truncated copy, a file with garbage after the DICM marker."""
    root = tmp_path_factory.mktemp("deid") / "in"
    (root / "examples").mkdir(parents=True)
    for name in EXAMPLES:
        shutil.copy(pydicom.examples.get_path(name), root / "examples" / f"{name}.dcm")
    for patient_id, (_, _, studies) in PATIENTS.items():
        for study, (_, n_series) in enumerate(studies):
            for series in range(n_series):
                for instance in range(2):
                    patient = list(PATIENTS).index(patient_id)
                    folder = root / f"patient{patient}" / f"study{study}" / f"series{series}"
                    folder.mkdir(parents=True, exist_ok=True)
                    burned = patient_id == "PID-B-456" and instance == 1
                    _image(patient_id, study, series, instance, burned).save_as(
                        folder / f"{instance}.dcm", enforce_file_format=True)
    (root / "notes.txt").write_text("not an image\n")
    data = pydicom.examples.get_path("ct").read_bytes()
    (root / "broken").mkdir()
    (root / "broken" / "truncated.dcm").write_bytes(data[: len(data) - 5000])
    (root / "broken" / "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + bytes(range(256)) * 4)
    return root


def _tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def runs(input_dir) -> dict:
    """The same input de-identified four ways; the input must come out untouched."""
    before = _tree_digest(input_dir)
    base = input_dir.parent
    results = {
        "plain": deid(input_dir, base / "plain", key="k1", progress=False),
        "plain_again": deid(input_dir, base / "plain_again", key="k1", progress=False),
        "other_key": deid(input_dir, base / "other_key", key="k2", progress=False),
        "shifted": deid(input_dir, base / "shifted", shift_dates=True, key="k1", progress=False),
    }
    assert _tree_digest(input_dir) == before
    return results


def _built(output_dir: Path) -> dict[str, Dataset]:
    paths = sorted(output_dir.glob("patient*/**/*.dcm"))
    return {p.relative_to(output_dir).as_posix(): pydicom.dcmread(p) for p in paths}


def _originals(path: Path) -> list[str]:
    """The identifying values of an input file: names, IDs, dates, instance UIDs (file meta and sequences too)."""
    found = []

    def collect(_, element):
        if element.VR in ("PN", "DA", "DT", "UI") or element.keyword == "PatientID":
            values = element.value if element.VM > 1 else [element.value]
            found.extend(str(v) for v in values if str(v) and not str(v).startswith("1.2.840.10008."))

    dataset = pydicom.dcmread(path)
    dataset.file_meta.walk(collect)
    dataset.walk(collect)
    return [v for v in found if v != dataset.file_meta.get("ImplementationClassUID")]


def test_no_identifier_survives_anywhere_in_the_output(input_dir, runs):
    result = runs["plain"]
    assert len(result.written) == len(EXAMPLES) + 8
    for output in result.written:
        data = (result.output_dir / output).read_bytes()
        for value in _originals(input_dir / output) + TEXT_IDENTIFIERS:
            assert value.encode() not in data, f"{value!r} survives in {output}"
        dataset = pydicom.dcmread(result.output_dir / output)
        private = []
        dataset.walk(lambda _, element: private.append(element.tag) if element.tag.is_private else None)
        assert not private, f"private tags left in {output}"
        assert dataset.PatientIdentityRemoved == "YES"
        assert dataset.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert dataset.LongitudinalTemporalInformationModified == "REMOVED"


def test_nested_sequences_are_cleaned_and_references_follow_the_new_uids(runs):
    built = _built(runs["plain"].output_dir)
    later, first = built["patient0/study0/series1/0.dcm"], built["patient0/study0/series0/0.dcm"]
    reference = later.AnatomicRegionSequence[0].ReferencedImageSequence[0]
    assert later.AnatomicRegionSequence[0].CodeMeaning == "Chest"  # kept: the profile does not list it
    assert reference.ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert later.SourceImageSequence[0].ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert reference.PatientName == "" and later.PatientName == ""


def test_uids_are_remapped_consistently_and_repeat_with_the_same_key(runs):
    built = _built(runs["plain"].output_dir)
    for path, ds in built.items():
        for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.FrameOfReferenceUID):
            assert re.fullmatch(r"2\.25\.[1-9]\d*", uid) and len(uid) <= 64 and UID(uid).is_valid
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    study = {p.rsplit("/", 2)[0]: set() for p in built}
    for path, ds in built.items():
        study[path.rsplit("/", 2)[0]].add(ds.StudyInstanceUID)
    assert all(len(uids) == 1 for uids in study.values()) and len(set.union(*study.values())) == 3
    series0 = {built[f"patient0/study0/series0/{i}.dcm"].SeriesInstanceUID for i in range(2)}
    series1 = {built[f"patient0/study0/series1/{i}.dcm"].SeriesInstanceUID for i in range(2)}
    assert len(series0) == len(series1) == 1 and series0 != series1
    assert len({ds.SOPInstanceUID for ds in built.values()}) == len(built)
    assert len({ds.PatientID for ds in built.values()}) == 2  # one pseudonym per patient
    again, other = runs["plain_again"], runs["other_key"]
    for output in runs["plain"].written:
        assert (runs["plain"].output_dir / output).read_bytes() == (again.output_dir / output).read_bytes()
    assert runs["plain"].log.read_text() == again.log.read_text().replace("plain_again", "plain")
    assert _built(other.output_dir)["patient0/study0/series0/0.dcm"].StudyInstanceUID != \
        built["patient0/study0/series0/0.dcm"].StudyInstanceUID


def _day(value: str) -> date:
    return date(int(value[:4]), int(value[4:6]), int(value[6:8]))


def test_dates_shift_by_one_offset_per_patient_and_keep_intervals(input_dir, runs):
    shifted = _built(runs["shifted"].output_dir)
    offsets = {}
    for path, ds in shifted.items():
        original = pydicom.dcmread(input_dir / path)
        for keyword in ("StudyDate", "SeriesDate", "ContentDate", "AcquisitionDateTime"):
            offsets.setdefault(ds.PatientID, set()).add((_day(ds[keyword].value) - _day(original[keyword].value)).days)
        assert ds.AcquisitionDateTime[8:] == original.AcquisitionDateTime[8:]  # the time of day is kept
        assert ds.StudyTime == original.StudyTime
        assert ds.PatientBirthDate == ""  # a shifted birth date would still give the exact age
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
        assert {item.CodeValue for item in ds.DeidentificationMethodCodeSequence} == {"113100", "113107"}
    assert all(len(days) == 1 for days in offsets.values()), offsets
    per_patient = [days.pop() for days in offsets.values()]
    assert all(-3652 <= days <= -365 for days in per_patient) and per_patient[0] != per_patient[1]
    studies = [shifted[f"patient0/study{i}/series0/0.dcm"].StudyDate for i in range(2)]
    assert (_day(studies[1]) - _day(studies[0])).days == (date(2020, 3, 5) - date(2020, 1, 10)).days


def test_pixel_data_is_kept_bit_for_bit(input_dir, runs):
    for name in ("plain", "shifted"):
        result = runs[name]
        for output in result.written:
            original = pydicom.dcmread(input_dir / output)
            if "PixelData" in original:
                assert pydicom.dcmread(result.output_dir / output).PixelData == original.PixelData, output


def test_non_dicom_and_corrupt_files_are_reported_and_skipped(runs):
    result = runs["plain"]
    reasons = {skipped.path: skipped.reason for skipped in result.skipped}
    assert reasons["notes.txt"].startswith("not a DICOM file")
    assert reasons["broken/truncated.dcm"].startswith("corrupt DICOM")
    assert reasons["broken/garbage.dcm"].startswith("corrupt DICOM")
    assert not (result.output_dir / "notes.txt").exists() and not (result.output_dir / "broken").exists()
    assert not list(result.output_dir.rglob("*.tmp"))  # no half-written file left behind
    assert "skipped 1 non-DICOM and 2 unusable" in result.summary()


def test_the_log_says_what_changed_without_any_identifier(input_dir, runs):
    result = runs["plain"]
    text = result.log.read_text()
    for output in result.written:
        for value in _originals(input_dir / output) + TEXT_IDENTIFIERS:
            assert value not in text, f"{value!r} is in the log"
    rows = list(csv.DictReader(text.splitlines()))
    assert set(rows[0]) == {"file", "tag", "attribute", "action", "note"}
    by_file = {}
    for row in rows:
        by_file.setdefault(row["file"], {})[row["attribute"]] = (row["tag"], row["action"], row["note"])
    changes = by_file["patient0/study0/series1/0.dcm"]
    assert changes["PatientName"] == ("(0010,0010)", "Z", "")
    assert changes["StudyInstanceUID"][1] == "U" and changes["MediaStorageSOPInstanceUID"][1] == "U"
    assert changes["AnatomicRegionSequence[0]>ReferencedImageSequence[0]>PatientName"][1] == "Z"
    assert changes["private"][1:] == ("X", "private")
    assert by_file["patient1/study0/series0/1.dcm"]["BurnedInAnnotation"][1] == "warning"
    assert result.burned_in == ("patient1/study0/series0/1.dcm",)
    assert by_file["broken/truncated.dcm"][""][1] == "skipped"


def test_cli_end_to_end(input_dir, tmp_path, capsys):
    with warnings.catch_warnings(record=True) as caught:  # pydicom's warnings quote values: none may get out
        warnings.simplefilter("always")
        assert main(["deid", str(input_dir), str(tmp_path / "out"), "--shift-dates", "--key", "k1"]) == 0
    assert not caught
    captured = capsys.readouterr()
    assert "de-identified 17 DICOM files" in captured.out and LOG_NAME in captured.out
    assert "warning: patient1/study0/series0/1.dcm: BurnedInAnnotation is YES" in captured.err
    assert "skipped broken/truncated.dcm: corrupt DICOM" in captured.err
    # the folders' own names (pytest-NNN/...) may contain digits that happen to equal a DICOM value
    printed = (captured.out + captured.err).replace(str(tmp_path), "<out>").replace(str(input_dir), "<in>")
    for output in (tmp_path / "out").rglob("*.dcm"):
        for value in _originals(input_dir / output.relative_to(tmp_path / "out")) + TEXT_IDENTIFIERS:
            assert value not in printed


def test_without_a_key_uids_repeat_within_a_run_only(input_dir, tmp_path):
    first, second = (deid(input_dir / "patient0", tmp_path / name, progress=False) for name in ("a", "b"))
    assert first.random_key and "random key" in first.summary()
    uids = [{pydicom.dcmread(r.output_dir / f"study0/series{i}/0.dcm").StudyInstanceUID for i in range(2)}
            for r in (first, second)]
    assert len(uids[0]) == len(uids[1]) == 1 and uids[0] != uids[1]


@pytest.mark.parametrize("case", ["missing input", "output inside input"])
def test_cli_refuses_bad_folders_in_one_line(input_dir, tmp_path, capsys, case):
    source = tmp_path / "nowhere" if case == "missing input" else input_dir
    target = tmp_path / "out" if case == "missing input" else input_dir / "deid"
    assert main(["deid", str(source), str(target)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("meddl: error:") and error.count("\n") == 1
    assert not target.exists()


def test_a_dicom_without_the_preamble_is_de_identified_too(tmp_path):
    """Scanners write DICOM without the 128-byte preamble and 'DICM'; the image readers accept such files, so deid
    must not skip them and leave them out of the de-identified copy."""
    ds = _image("PID-A-123", 0, 0, 0)
    del ds.file_meta
    ds.PixelData, ds.Rows, ds.Columns = np.zeros((4, 4), dtype=np.uint16).tobytes(), 4, 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.SamplesPerPixel, ds.PixelRepresentation = 16, 12, 11, 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    source = tmp_path / "in"
    source.mkdir()
    ds.save_as(source / "bare", implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert (source / "bare").read_bytes()[128:132] != b"DICM"
    result = deid(source, tmp_path / "out", key="k", progress=False)
    assert not result.skipped and result.written == ("bare",)
    cleaned = pydicom.dcmread(tmp_path / "out" / "bare", force=True)
    assert str(cleaned.PatientID).startswith("ANON") and "Doe" not in str(cleaned.get("PatientName", ""))
    assert b"Doe^Jane" not in (tmp_path / "out" / "bare").read_bytes()
