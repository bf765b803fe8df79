"""What a verb returns: a status, the exit code it maps to, and its JSON document.

The statuses every verb reports map to exit codes here and nowhere else: 0 ok, 1 a check
failed, 2 bad input, 3 an operational failure (``errors.py`` has the codes, and the errors
that carry 2 and 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptrail.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_OPERATIONAL, EXIT_USAGE

STATUS_EXIT = {
    # 0: the verb did what was asked, or the check passed
    "ok": EXIT_OK,
    "passed": EXIT_OK,
    "clean": EXIT_OK,
    "promoted": EXIT_OK,
    # 1: a check failed (the answer is "no", not an error)
    "failed": EXIT_CHECK_FAILED,
    "stale": EXIT_CHECK_FAILED,
    "refused": EXIT_CHECK_FAILED,
    "broken": EXIT_CHECK_FAILED,
    "drift": EXIT_CHECK_FAILED,
    # 2: bad input (a file that does not load, a typo)
    "invalid": EXIT_USAGE,
    # 3: something operational failed (a provider, the store, a target); never a pass
    "error": EXIT_OPERATIONAL,
}


def exit_code_for(status: str) -> int:
    """The exit code of a status; a status not listed is an operational error, never a pass."""
    return STATUS_EXIT.get(status, EXIT_OPERATIONAL)


@dataclass
class Result:
    """A verb's outcome: ``status`` (what ``--json`` says), ``exit_code`` and ``to_json()``."""

    status: str
    document: dict[str, Any] = field(default_factory=dict)
    exit_status: str | None = None  # when the exit code follows another status than shown
    items: list[Any] = field(default_factory=list)  # the objects behind the document (findings)

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.exit_status or self.status)

    def to_json(self) -> dict[str, Any]:
        return self.document
