"""Retention: ``promptrail store prune --outputs-older-than 90d``.

Case results keep the model's input (``vars``) and output, which may hold personal data.
Pruning clears them (and the assertion details and metric reasons that may quote them) for
case results created before the cutoff. It keeps every other row: runs, gate results, scores,
prompt versions, promotions, and every audit row, so ``at``, ``history`` and ``audit
verify`` answer as before. The prune itself is appended to the audit log.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from promptrail.errors import UsageError

_AGE = re.compile(r"^(\d+)([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``90d``, ``12h``, ``2w``."""
    m = _AGE.match(text.strip())
    if not m:
        raise UsageError(
            f"--outputs-older-than takes an age like 90d, 12h or 2w, got {text!r}", kind="age"
        )
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def prune_outputs(store: Any, older_than: str, actor: str) -> dict[str, Any]:
    cutoff = datetime.now(UTC) - parse_age(older_than)
    old = "created_at < ? AND (output IS NOT NULL OR vars IS NOT NULL OR assertions IS NOT NULL)"
    with store.transaction() as con:
        [(cases, runs)] = con.execute(
            f"SELECT count(*), count(DISTINCT run_id) FROM case_results WHERE {old}", [cutoff]
        ).fetchall()
        con.execute(
            "UPDATE scores SET reason = NULL WHERE reason IS NOT NULL AND run_id IN "
            f"(SELECT DISTINCT run_id FROM case_results WHERE {old})",
            [cutoff],
        )
        con.execute(
            f"UPDATE case_results SET output = NULL, vars = NULL, assertions = NULL WHERE {old}",
            [cutoff],
        )
        result = {
            "outputs_older_than": older_than,
            "cutoff": cutoff.isoformat(),
            "case_results": int(cases),
            "runs": int(runs),
        }
        store.append_audit("store-prune", actor, "case_results", result, con=con)
    return result
