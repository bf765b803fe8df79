"""The errors promptrail reports to users, and the exit code each one maps to.

A user error (bad file, bad flag) is exit 2 and names the file and line; an operational error
(provider or store unreachable after retries) is exit 3 and is never reported as a pass.
Everything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_OPERATIONAL = 3


@dataclass
class PromptrailError(Exception):
    """Base of the errors a user sees as a message, not a traceback."""

    message: str
    file: str | Path | None = None
    line: int | None = None
    kind: str = "error"

    exit_code = EXIT_USAGE

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        return f"{where}{self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "error": {
                "kind": self.kind,
                "message": self.message,
                "file": str(self.file) if self.file is not None else None,
                "line": self.line,
            }
        }


class UsageError(PromptrailError):
    """Bad input or usage: exit 2."""

    def __init__(
        self,
        message: str,
        file: str | Path | None = None,
        line: int | None = None,
        kind: str = "usage",
    ) -> None:
        super().__init__(message, file, line, kind)


class OperationalError(PromptrailError):
    """A provider or the store stayed unreachable after retries: exit 3."""

    exit_code = EXIT_OPERATIONAL

    def __init__(
        self,
        message: str,
        file: str | Path | None = None,
        line: int | None = None,
        kind: str = "operational",
    ) -> None:
        super().__init__(message, file, line, kind)


# The error kinds that mean "a file does not load", with the fix hint lint shows for each: a
# verb meeting one exits 2, and lint lists it as a finding before exiting 2 too.
LOAD_HINTS = {
    "invalid-semver": 'use MAJOR.MINOR.PATCH versions (quote them: version: "1.2.0") and '
    "ranges like ^2.1 or ~1.0",
    "invalid-file": "fix the file so it loads: the message names the key and line",
}
