"""Exceptions that say what was wrong and where."""

from __future__ import annotations


class MmtsError(Exception):
    """Base class for every error mmts raises on purpose."""


class DataFormatError(MmtsError):
    """Input could not be parsed: names the file, the line and what was expected."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line
        self.reason = message


class DataIntegrityError(MmtsError):
    """Data parsed but violates an invariant (gap, crossed book, out-of-order time)."""


class UnknownSymbolError(MmtsError, KeyError):
    """A symbol, timeframe or kind is not in the store."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""
