"""User-facing errors: one line that names the file and line, or the flag, at fault."""

from __future__ import annotations


class RankError(Exception):
    """An error caused by the user's input; the CLI prints it on one line and exits non-zero."""


class InputError(RankError):
    def __init__(self, path: object, line: int | None, message: str):
        self.path, self.line = str(path), line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
