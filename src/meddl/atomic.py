"""Writing result files so that a crash never leaves a half-written one behind, and turning results into plain data.

Files get the permissions a plain `open()` would give them (0666 less the umask, or the folder's default ACL), so
collaborators on a shared server can read a run's results: `tempfile.mkstemp` would make every one of them 0600.
`plain` is the one conversion of results (numpy values, paths, tuples) into what JSON and `yaml.safe_load` read.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

if TYPE_CHECKING:
    import numpy as np

_ATTEMPTS = 100


def open_temporary(path: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """(descriptor, name) of a new hidden file beside `path`, open for writing. The kernel applies the umask to the
    0666 asked for, as for any `open()`; reading the umask instead would need `os.umask`, which sets it process-wide
    for a moment and so races with other threads creating files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_ATTEMPTS):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path} after {_ATTEMPTS} tries")


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Let `write` fill a temporary file beside `path`, then rename it into place; on any error nothing is left."""
    handle, temporary = open_temporary(path)
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    return write_atomic(path, lambda out: out.write(text.encode("utf-8")))


def write_npz_atomic(path: Path, arrays: dict[str, np.ndarray], compressed: bool = False) -> Path:
    import numpy as np

    save = np.savez_compressed if compressed else np.savez
    return write_atomic(path, lambda out: save(out, **arrays))


def write_json_atomic(path: Path, payload: Any) -> Path:
    return write_text_atomic(path, json.dumps(plain(payload), indent=2) + "\n")


def plain(value: Any) -> Any:
    """`value` as plain data (dicts, lists, str, int, float, bool, None): tuples and sets become lists, numpy and
    torch values Python numbers or lists, paths strings, dataclasses dicts. A TypeError names anything else."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):  # subclasses (a str enum) as their text
        return str.__str__(value)
    if isinstance(value, (int, float)):  # subclasses: numpy.float64, an int enum
        return int(value) if isinstance(value, int) else float(value)
    if isinstance(value, Mapping):
        return {key if isinstance(key, (str, int, float, bool)) or key is None else str(key): plain(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if isinstance(value, PurePath):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if hasattr(value, "tolist"):  # numpy arrays and scalars (bool_ included), torch tensors
        return plain(value.tolist())
    raise TypeError(f"cannot write {type(value).__name__} as plain data")
