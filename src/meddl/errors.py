"""User-facing errors.

Every problem a user can fix (a missing file, a corrupt image, a wrong option) raises a `MeddlError` whose message
names the thing, what was expected and what was found. The CLI prints it on one line without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MeddlError(Exception):
    """A problem the user can fix; the message is shown as is."""


class DataError(MeddlError):
    """A dataset, file or label that cannot be used as given."""


class DownloadError(DataError):
    """A file that could not be fetched or did not match its checksum."""


class ConfigError(MeddlError):
    """An option or combination of options that makes no sense."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """"did you mean X?" naming the registered names closest to a mistyped `name`, or "" when none is close.
    Only names about as close as the best are kept: "pneumonaimnist" is one letter swap from pneumoniamnist, and
    merely shares "mnist" with the rest."""
    ratio = {other: difflib.SequenceMatcher(None, name.lower(), other).ratio() for other in known}
    best = max(ratio.values(), default=0.0)
    close = sorted((other for other, value in ratio.items() if value >= max(0.6, best - 0.1)), key=lambda o: -ratio[o])
    return f"did you mean {' or '.join(close[:3])}?" if close else ""
