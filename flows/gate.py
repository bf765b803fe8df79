"""The gate flow: lint -> schema -> regression -> cost for every candidate prompt.

The flow run's final state is the verdict: Completed when the gate passed, Failed when it
failed or errored (an operational error raised mid-run fails it too), so `prefect deployment
run --watch` and Prefect automations see a red gate. Each run publishes two markdown
artifacts linked from the flow run: the gate table and the report (the PR comment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from flows.hooks import PrefectHooks
from promptrail import pipeline
from promptrail.identity import current_actor


def gate_table(result: dict[str, Any]) -> str:
    """The gate results as a markdown table (the `gate` command's table)."""
    lines = [
        f"**promptrail gate {result['status']}** — run `{result['run_id']}` against "
        f"`{result['env']}` (cache {result['cache_mode']})",
        "",
        "| prompt | version | gate | status | summary |",
        "|---|---|---|---|---|",
    ]
    for p in result["prompts"]:
        for g in p["gates"]:
            summary = str(g["summary"]).replace("|", "\\|").replace("\n", " ")
            lines.append(
                f"| {p['name']} | {p['version']} | {g['gate']} | {g['status']} | {summary} |"
            )
    return "\n".join(lines) + "\n"


def publish(workspace: str, result: dict[str, Any]) -> None:
    create_markdown_artifact(
        key="promptrail-gate-table",
        markdown=gate_table(result),
        description=f"promptrail gate {result['status']}: {result['run_id']}",
    )
    report = result.get("reports", {}).get("md")
    if report:
        create_markdown_artifact(
            key="promptrail-gate-report",
            markdown=(Path(workspace) / report).read_text(encoding="utf-8"),
            description=f"promptrail report of {result['run_id']}",
        )


def final_state(result: dict[str, Any]) -> State:
    """Completed for a passed gate; Failed (carrying the result) for a failed or errored one."""
    if result["status"] == "passed":
        return Completed(message="gate passed", data=result)
    return Failed(message=f"gate {result['status']}: run {result['run_id']}", data=result)


@flow(name="gate", log_prints=False, validate_parameters=False)
def gate_flow(
    workspace: str = ".",
    names: list[str] | None = None,
    env: str | None = None,
    changed_since: str | None = None,
    cache_mode: str | None = None,
    keep_going: bool = False,
    actor: str | None = None,
) -> State:
    """``actor`` defaults to whoever runs the flow: ``PROMPTRAIL_ACTOR`` of the worker, then
    git's user.email (promptrail.identity), so a shared store shows which worker gated."""
    who = actor or current_actor(cwd=workspace)
    result = pipeline.run_gate(
        workspace, names, env, changed_since, cache_mode, keep_going, who, hooks=PrefectHooks()
    )
    publish(workspace, result)
    return final_state(result)
