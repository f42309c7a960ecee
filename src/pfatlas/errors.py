"""Error and warning classes of pfatlas.

Every error a user can cause is an :class:`InputError`. It is raised once, where the bad input is
found, with the file, the row or band and the field named, so the CLI can print the message alone
and exit non-zero. The classes also subclass the matching builtins so library users can catch
``ValueError`` or ``FileNotFoundError`` as they would anywhere else.
"""

from __future__ import annotations

from os import PathLike


class PfatlasError(Exception):
    """Base class of every error pfatlas raises on purpose."""


class InputError(PfatlasError, ValueError):
    """An input (file, row, field, band, config value) is wrong.

    Parameters
    ----------
    message
        What is wrong, in words a user understands.
    path
        The file (or folder) the problem is in.
    row
        The row as a spreadsheet shows it for CSV tables (the header is row 1, the first data row
        is row 2), or the 1-based position of the feature in a vector file.
    field
        The column, attribute, band or config key.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike | None = None,
        row: int | None = None,
        field: str | None = None,
    ):
        self.path = None if path is None else str(path)
        self.row = row
        self.field = field
        self.detail = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class MissingInputError(InputError, FileNotFoundError):
    """An input file or folder does not exist or cannot be read."""


class ConfigError(InputError):
    """The configuration file is invalid."""


class CRSError(InputError):
    """A dataset has no coordinate reference system, or one that cannot be used."""


class CoverageError(InputError):
    """A dataset does not cover the study area."""


class NoClearPixelError(InputError):
    """An epoch has no clear (cloud-free, valid) observation."""


class GridMismatchError(PfatlasError, ValueError):
    """An array is not on the run's target grid (stages never resample silently)."""


class PfatlasWarning(UserWarning):
    """The run can go on, but the user should know (e.g. boreholes dropped)."""
