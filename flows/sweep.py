"""The sweep flow: config drift of every target, and with ``sweep`` the live re-run of each
locked prompt's suite. ``prefect.yaml``'s ``nightly-sweep`` deployment schedules it."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from promptrail import drift


@flow(name="sweep", log_prints=False, validate_parameters=False)
def sweep_flow(workspace: str = ".", env: str | None = None, sweep: bool = True,
               actor: str = "prefect-schedule") -> dict[str, Any]:
    check = task(name="drift-check", cache_policy=NONE)(drift.run_drift)
    return check(workspace, env, sweep, actor)
