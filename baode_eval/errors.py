"""Errors that the command line reports as one clear line, without a traceback."""
from __future__ import annotations


class BaodeEvalError(Exception):
    """Base class: a user-facing problem (bad input, bad parameter) with a readable message."""


class DataError(BaodeEvalError):
    """A data file is missing, unreadable or does not have the expected shape.

    The message names the file and, where known, the row and column.
    """

    def __init__(self, message: str, *, path=None, row=None, column=None):
        where = []
        if path is not None:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")
        self.path, self.row, self.column = path, row, column


class ParameterError(BaodeEvalError):
    """A parameter (notebook, CLI or function option) has an unknown name or a bad value."""
