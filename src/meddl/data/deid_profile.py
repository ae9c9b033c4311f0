"""The DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile, applied to one data set.

The attribute table (Table E.1-1, "Basic Prof." column) is not kept by hand: it comes from `dicom-anonymizer`
(Kitware), which regenerates it from the standard's own pages for each edition. meddl only reads that table; its own
engine (`meddl.data.deid`) applies it, because the library's engine replaces UIDs with random ones held in a
module-global dictionary (not repeatable across runs), applies the table to top-level attributes only, and has no
date shifting or change log.

The Basic Profile column holds the codes D, Z, X, U and their combinations; K (keep, cleaning sequences) is what
happens to every attribute the table does not list, and C (clean) appears only in the option columns, which meddl
does not implement. With dates shifted, meddl follows the Retain Longitudinal Temporal Information Modified Dates
Option instead for dates and times (M).

New UIDs, the Patient ID pseudonym and the per-patient date offset are keyed hashes (HMAC-SHA256) of the original
value: every file of a study, and every later run with the same key, maps one value to one result with no state
shared between files, and without the key nobody can test a guess of an original value against the output.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.tag import BaseTag, Tag

from meddl import __version__

EDITION = "2026c"  # the edition of PS3.15 the table was taken from; named in DeidentificationMethod

# A combined code resolves to its last choice, the one the profile requires of Type 1 attributes, so that every
# output stays a valid instance of its IOD whatever the attribute's type there: Z/D -> D, X/Z -> Z, X/D -> D,
# X/Z/D -> D, X/Z/U* -> U (keep the sequence, replace the UIDs inside it).
_ACTION_OF_CATEGORY = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "D",
    "X_Z_TAGS": "Z",
    "X_D_TAGS": "D",
    "X_Z_D_TAGS": "D",
    "X_Z_U_STAR_TAGS": "U",
}

# File meta attributes that name the sending and receiving stations or carry private data; the table has no rows
# for group 0002 apart from Media Storage SOP Instance UID, and the Basic Profile removes device identity.
META_REMOVED = frozenset({0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102})
_PATIENT_ID = Tag("PatientID")
# The birth date follows the profile (Z) even when dates shift: beside shifted study dates it would give the exact
# age, which the Basic Profile removes (Patient's Age is X).
_BIRTH_DATE = Tag("PatientBirthDate")
_OFFSET_DAYS = (365, 3652)  # dates move back by one to ten years: far enough that a shifted date is no clue
_TEXT_VRS = {"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UR", "UT"}
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
_DUMMY = {"PN": "ANONYMOUS", "DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000Y",
          "DS": "0", "IS": "0"}


@cache
def _table() -> tuple[dict[int, str], tuple[tuple[int, int, int, int, str], ...]]:
    """Exact tags -> action, and the repeating groups (curves 50xx, overlays 60xx) as (group, element, masks)."""
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    database = dicom_anonymization_database_selector(f"dicomfields_{EDITION}")
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, int, int, str]] = []
    for category, action in _ACTION_OF_CATEGORY.items():
        for entry in database[category]:
            if len(entry) == 2:
                exact[(entry[0] << 16) | entry[1]] = action
            else:
                masked.append((*entry, action))
    return exact, tuple(masked)


def action_for(tag: BaseTag) -> str | None:
    """The Basic Profile action for a public attribute (D, Z, X or U), or None when the profile keeps it."""
    exact, masked = _table()
    action = exact.get(int(tag))
    if action is not None:
        return action
    for group, element, group_mask, element_mask, masked_action in masked:
        if tag.group & group_mask == group and tag.element & element_mask == element:
            return masked_action
    return None


@dataclass(frozen=True)
class Keyed:
    """Keyed, one-way replacements: the same value and key always give the same result, in any file or run."""

    key: bytes = field(repr=False)  # a secret: never printed

    def _digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self.key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()

    def uid(self, old: str) -> str:
        """A `2.25.<128-bit integer>` UID (PS3.5 B.2), at most 44 characters."""
        return "2.25." + str(int.from_bytes(self._digest("uid", old)[:16], "big"))

    def patient_id(self, old: str) -> str:
        return "ANON" + self._digest("patient", old).hex()[:16].upper()

    def day_offset(self, patient_id: str) -> int:
        low, high = _OFFSET_DAYS
        return -(low + int.from_bytes(self._digest("days", patient_id)[:4], "big") % (high - low + 1))


@dataclass
class ProfileCleaner:
    """Applies the profile to one file's data set, recursively, and notes each change (never a value)."""

    output: str
    keys: Keyed
    day_offset: int | None
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def note(self, element: DataElement, where: str, action: str, note: str = "") -> None:
        tag = f"({element.tag.group:04X},{element.tag.element:04X})"
        self.rows.append((self.output, tag, where + _name(element), action, note))

    def clean(self, dataset: Dataset, where: str = "") -> None:
        for tag in list(dataset.keys()):
            element = dataset[tag]
            if tag.is_private or tag in META_REMOVED:
                del dataset[tag]
                self.note(element, where, "X", "private" if tag.is_private else "")
            elif element.VR == "SQ":
                self._sequence(dataset, element, action_for(tag), where)
            else:
                self._element(dataset, element, action_for(tag), where)

    def _sequence(self, dataset: Dataset, element: DataElement, action: str | None, where: str) -> None:
        if action in (None, "U"):  # kept (K) or X/Z/U*: each item is de-identified, which replaces its UIDs
            for index, item in enumerate(element.value):
                self.clean(item, f"{where}{_name(element)}[{index}]>")
            return
        if action == "X":
            del dataset[element.tag]
        elif action == "Z":
            if not element.value:
                return
            element.value = Sequence()
        else:  # D: one empty dummy item; none of the original content is kept
            element.value = Sequence([Dataset()])
        self.note(element, where, action)

    def _element(self, dataset: Dataset, element: DataElement, action: str | None, where: str) -> None:
        if self.day_offset is not None and action != "X" and element.tag != _BIRTH_DATE:
            if element.VR == "TM":  # whole-day shifts leave times of day true, so intervals hold to the second
                return
            if element.VR in ("DA", "DT"):  # every date moves, listed or not: one left behind gives the offset away
                action = "M" if self._shift(element) else "Z"
        if action is None or (element.is_empty and action != "X"):
            return
        if action == "X" or (action == "U" and element.VR != "UI"):
            del dataset[element.tag]
            action = "X"
        elif action == "Z":
            element.value = None
        elif action in ("U", "D") and element.VR == "UI":
            element.value = [self.keys.uid(v) for v in element.value] if element.VM > 1 \
                else self.keys.uid(element.value)
            action = "U"
        elif action == "D":
            element.value = self._dummy(element)
        self.note(element, where, action)

    def _shift(self, element: DataElement) -> bool:
        """Move a DA or DT value by the patient's offset; False where it is not a full date."""
        if element.is_empty:
            return True
        values = list(element.value) if element.VM > 1 else [element.value]
        shifted = [_shift_date(str(value), self.day_offset) for value in values]
        if None in shifted:
            return False
        element.value = shifted if element.VM > 1 else shifted[0]
        return True

    def _dummy(self, element: DataElement) -> object:
        if element.tag == _PATIENT_ID:  # a pseudonym keeps one patient's files together, e.g. for patient splits
            return self.keys.patient_id(str(element.value))
        if element.VR in _TEXT_VRS:
            return "ANONYMIZED"
        if element.VR in _BINARY_VRS:
            return bytes(8)
        return _DUMMY.get(element.VR, 0)


def _name(element: DataElement) -> str:
    return element.keyword or ("private" if element.tag.is_private else "unknown")


def _shift_date(value: str, days: int) -> str | None:
    """`YYYYMMDD...` moved by `days`, the rest (a DT's time and zone) kept; None for a partial or invalid date."""
    digits = value[:8]
    if len(digits) < 8 or not digits.isdigit():
        return None
    try:
        day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:])) + timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{day.year:04d}{day.month:02d}{day.day:02d}{value[8:]}"


def mark_deidentified(dataset: Dataset, cleaner: ProfileCleaner) -> None:
    """PatientIdentityRemoved, DeidentificationMethod (LO: 64 characters a value) and its coded form (CID 7050)."""
    shifted = cleaner.day_offset is not None
    methods = [f"DICOM PS3.15 Annex E Basic Profile ({EDITION} table)",
               f"meddl {__version__}: private removed, UIDs keyed-hash"]
    profile_codes = [codes.DCM.BasicApplicationConfidentialityProfile]
    if shifted:
        methods.append("dates shifted by a per-patient offset")
        profile_codes.append(codes.DCM.RetainLongitudinalTemporalInformationModifiedDatesOption)
    items = []
    for code in profile_codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code.value, code.scheme_designator, code.meaning
        items.append(item)
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = methods
    dataset.DeidentificationMethodCodeSequence = items
    dataset.LongitudinalTemporalInformationModified = "MODIFIED" if shifted else "REMOVED"
    for keyword in ("PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
                    "LongitudinalTemporalInformationModified"):
        cleaner.note(dataset[keyword], "", "set")
