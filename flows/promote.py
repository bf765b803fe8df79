"""The promotion flow: promote (or roll back) one prompt into an environment."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from promptrail import promote as promotion
from promptrail.identity import current_actor
from promptrail.workspace import Workspace


@flow(name="promote", log_prints=False, validate_parameters=False)
def promote_flow(
    target: str,
    to: str,
    workspace: str = ".",
    actor: str | None = None,
    approved_by: list[str] | None = None,
    reason: str = "",
    rollback: bool = False,
    approvals_from: str | None = None,
    repo: str | None = None,
) -> dict[str, Any]:
    """``target`` is NAME@VERSION (or NAME with ``rollback``); ``to`` the environment;
    ``approvals_from`` is ``github:PR`` (reviews of the PR's head that holds the content);
    ``actor`` defaults to the worker's (``PROMPTRAIL_ACTOR``, then git's user.email)."""
    ws = Workspace(workspace)
    actor = actor or current_actor(cwd=workspace)
    if rollback:
        back = task(name="rollback", cache_policy=NONE)(promotion.rollback)
        return back(
            ws,
            target.partition("@")[0],
            to,
            actor,
            approved_by or [],
            reason,
            approvals_from=approvals_from,
            repo=repo,
        )
    name, version = promotion.parse_target(target)
    forward = task(name="promote", cache_policy=NONE)(promotion.promote)
    return forward(
        ws,
        name,
        version,
        to,
        actor,
        approved_by or [],
        reason,
        approvals_from=approvals_from,
        repo=repo,
    )
