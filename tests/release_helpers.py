"""Test helpers: record a passing gate run for some content without calling a model.

This is data setup for promotion tests (the gate flow itself is tested end to end elsewhere):
it inserts the same rows a passing gate run writes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from promptrail.store import Store
from promptrail.store.rows import version_rows

GATES = ["lint", "schema", "regression", "cost"]


def record_gate_run(
    store: Store, env: str, resolved: Any, status: str = "passed", gates: list[str] | None = None
) -> str:
    run_id = f"gate-test-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    store.write(
        {
            "runs": [
                {
                    "run_id": run_id,
                    "kind": "gate",
                    "status": status,
                    "env": env,
                    "actor": "ci",
                    "started_at": now,
                    "finished_at": now,
                }
            ],
            "gate_results": [
                {
                    "run_id": run_id,
                    "prompt": resolved.name,
                    "version": resolved.version,
                    "content_hash": resolved.content_hash,
                    "gate": g,
                    "status": status if g == "regression" else "passed",
                    "started_at": now,
                    "finished_at": now,
                }
                for g in gates or GATES
            ],
            "prompt_versions": version_rows([resolved]),
        }
    )
    return run_id
