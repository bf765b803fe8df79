"""The sweep flow: config drift of every target, and with ``sweep`` the live re-run of each
locked prompt's suite. ``prefect.yaml``'s ``nightly-sweep`` deployment schedules it.

New findings go to the webhook in ``promptrail.yaml`` (``alerts.webhook``) and, when
``alerts.prefect_block`` names one (``"<block-type>/<name>"``, e.g. ``slack-webhook/ops``), to
that Prefect notification block.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.blocks.core import Block
from prefect.cache_policies import NONE

from promptrail import drift
from promptrail.identity import current_actor
from promptrail.workspace import Workspace


@flow(name="sweep", log_prints=False, validate_parameters=False)
def sweep_flow(
    workspace: str = ".",
    env: str | None = None,
    sweep: bool = True,
    actor: str | None = None,
) -> dict[str, Any]:
    """``actor`` defaults to the worker's (``PROMPTRAIL_ACTOR``, then git's user.email)."""
    actor = actor or current_actor(cwd=workspace)
    check = task(name="drift-check", cache_policy=NONE)(drift.run_drift)
    result = check(workspace, env, sweep, actor)
    block = Workspace(workspace).config.alerts.prefect_block
    new = [f for f in result["findings"] if f.get("new")]
    if block and new:
        task(name="notify", cache_policy=NONE)(notify)(block, result["run_id"], new)
        result["block_notified"] = len(new)
    return result


def notify(slug: str, run_id: str, findings: list[dict[str, Any]]) -> None:
    lines = [
        f"- {f['env']}/{f['name']}: {f['kind']} at {f['target']}: {f['detail']}" for f in findings
    ]
    from promptrail.secrets import redact_text

    body = f"promptrail drift run {run_id}: {len(findings)} new finding(s)\n" + "\n".join(lines)
    Block.load(slug).notify(  # type: ignore[union-attr]
        body=redact_text(body),
        subject=redact_text(f"promptrail: drift in {findings[0]['env']}"),
    )
