"""The gate flow: lint -> schema -> regression -> cost for every candidate prompt."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.hooks import PrefectHooks
from promptrail import pipeline


@flow(name="gate", log_prints=False, validate_parameters=False)
def gate_flow(
    workspace: str = ".",
    names: list[str] | None = None,
    env: str | None = None,
    changed_since: str | None = None,
    cache_mode: str | None = None,
    keep_going: bool = False,
    actor: str = "prefect",
) -> dict[str, Any]:
    return pipeline.run_gate(
        workspace, names, env, changed_since, cache_mode, keep_going, actor, hooks=PrefectHooks()
    )
