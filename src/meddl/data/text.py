"""Medical text: PubMedQA (PQA-L) for section classification, question answering and language modelling, and the
PubMed 200k/20k RCT format for a user's own abstracts."""

from __future__ import annotations

from pathlib import Path


def is_rct_text(path: Path) -> bool:
    """True for PubMed RCT-format text: a .txt file, or a folder holding train.txt (with dev.txt/test.txt)."""
    if path.is_file():
        return path.suffix.lower() == ".txt"
    return path.is_dir() and (path / "train.txt").is_file()
