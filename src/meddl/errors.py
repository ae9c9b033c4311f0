"""User-facing errors.

Every problem a user can fix (a missing file, a corrupt image, a wrong option) raises a `MeddlError` whose message
names the thing, what was expected and what was found. The CLI prints it on one line without a traceback.
"""


class MeddlError(Exception):
    """A problem the user can fix; the message is shown as is."""


class DataError(MeddlError):
    """A dataset, file or label that cannot be used as given."""


class DownloadError(DataError):
    """A file that could not be fetched or did not match its checksum."""


class ConfigError(MeddlError):
    """An option or combination of options that makes no sense."""
