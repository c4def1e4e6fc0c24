"""Errors meant for people: what is wrong, where, and what would be valid."""

from __future__ import annotations


class BayesmetaError(Exception):
    """Base class of every error the library raises on purpose (the CLI exits 2 on these)."""


class InputError(BayesmetaError, ValueError):
    """Bad input data, located by file, row and column.

    ``row`` is the 1-based data row as a spreadsheet shows it (the header is row 1, so the first data row is 2).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        valid: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.valid = valid
        self.reason = message
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        text = (", ".join(where) + ": " if where else "") + message
        if valid:
            text += f" (valid: {valid})"
        super().__init__(text)


class ModelError(BayesmetaError, ValueError):
    """A model that cannot be fitted as specified (an improper posterior, an unknown prior, too few studies)."""


class ReportedValueWarning(UserWarning):
    """Reported numbers that do not hang together beyond rounding (an asymmetric CI, a p-value the CI
    contradicts), issued while reading data with ``checks="warn"``; the message is located like an InputError."""
