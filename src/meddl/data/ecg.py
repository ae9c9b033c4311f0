"""ECG beats from PhysioNet WFDB records: the MIT-BIH Arrhythmia Database and a user's own folder of records."""

from __future__ import annotations

from pathlib import Path


def is_wfdb_folder(path: Path) -> bool:
    """True for a folder holding WFDB record headers (*.hea): the user's own ECG records."""
    return path.is_dir() and any(path.glob("*.hea"))
