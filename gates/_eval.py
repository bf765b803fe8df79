"""What the eval-based gates share: getting the suite runs, and the verdict when they can't."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptrail.gating import GateContext, GateResult

if TYPE_CHECKING:
    from promptrail.evaluate import SuiteRun


def candidate_or_verdict(ctx: GateContext, gate: str) -> tuple[Any, GateResult | None]:
    """The candidate's suite run, or the result to return instead (no suite, provider down)."""
    if not ctx.ws.exists(f"suites/{ctx.resolved.name}.yaml"):
        return None, GateResult(gate, "skipped", summary=f"no suite for {ctx.resolved.name}")
    run = ctx.candidate_eval()
    verdict = operational(run, gate)
    return run, verdict


def operational(run: SuiteRun | None, gate: str) -> GateResult | None:
    if run is None or not run.operational_errors:
        return None
    errors = run.operational_errors
    return GateResult(
        gate,
        "error",
        summary=f"{len(errors)} of {run.total} calls failed ({run.role}): {errors[0].error}",
        details={"errors": [c.error for c in errors[:20]]},
    )


def errored(run: Any, gate: str) -> GateResult | None:
    """The gate's error when more cases errored than the suite tolerates (``max_errors``,
    default 0): an error is never a failure and never a pass, so it cannot be outvoted."""
    errors = [c for c in run.errors if not c.operational]
    if len(errors) <= run.max_errors:
        return None
    first = errors[0]
    return GateResult(
        gate,
        "error",
        summary=(
            f"{len(errors)} of {run.total} cases errored (the suite tolerates "
            f"{run.max_errors}; set max_errors to tolerate more): {first.error}"
        ),
        details={"errors": [{"case": c.case_id, "error": c.error} for c in errors[:20]]},
    )
