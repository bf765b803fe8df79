"""Rows for the store's tables, built from gate and suite results (no database access here)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from promptrail.resolve import ResolvedPrompt


def _now() -> datetime:
    return datetime.now(UTC)


def gate_rows(
    run_id: str,
    resolved: ResolvedPrompt,
    results: list[Any],
    timings: list[tuple[datetime, datetime]],
) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run_id,
            "prompt": resolved.name,
            "version": resolved.version,
            "content_hash": resolved.content_hash,
            "gate": r.gate,
            "status": r.status,
            "score": r.score,
            "threshold": r.threshold,
            "summary": r.summary,
            "details": r.details,
            "started_at": t[0],
            "finished_at": t[1],
        }
        for r, t in zip(results, timings, strict=True)
    ]


def case_rows(
    run_id: str, suite_runs: list[Any]
) -> tuple[Iterator[dict[str, Any]], Iterator[dict[str, Any]]]:
    """The case_results and scores rows of ``suite_runs``, made as they are consumed (a
    100,000-case run never holds them all)."""
    created = _now()
    return _cases(run_id, suite_runs, created), _scores(run_id, suite_runs)


def _base(run_id: str, run: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "prompt": run.prompt,
        "version": run.version,
        "content_hash": run.content_hash,
        "role": run.role,
    }


def _cases(run_id: str, suite_runs: list[Any], created: datetime) -> Iterator[dict[str, Any]]:
    for run in suite_runs:
        base = _base(run_id, run)
        for c in run.cases:
            yield {
                **base,
                "case_id": c.case_id,
                "repeat": c.repeat,
                "vars": c.vars,
                "output": c.output,
                "passed": c.passed,
                "error": c.error,
                "latency_ms": c.latency_ms,
                "input_tokens": c.input_tokens,
                "output_tokens": c.output_tokens,
                "cached_tokens": c.cached_tokens,
                "cost_usd": c.cost_usd,
                "price_source": c.price_source,
                "cached": c.cached,
                "attempts": c.attempts,
                "assertions": c.assertions,
                "created_at": created,
                "tool_calls": c.tool_calls,
                "structured_output": c.structured_output,
            }


def _scores(run_id: str, suite_runs: list[Any]) -> Iterator[dict[str, Any]]:
    for run in suite_runs:
        base = _base(run_id, run)
        for c in run.cases:
            for a in c.assertions:
                yield {
                    **base,
                    "case_id": c.case_id,
                    "repeat": c.repeat,
                    "metric": a["type"],
                    "score": a["score"],
                    "passed": a["status"] == "passed",
                    "threshold": a["threshold"],
                    "reason": a["reason"],
                    "error": a["reason"] if a["status"] == "error" else None,
                }


def version_rows(
    resolved: list[Any], source: str = "gate", seen_at: datetime | None = None
) -> list[dict[str, Any]]:
    seen, rows = set(), []
    first_seen = seen_at or _now()
    for r in resolved:
        if r.content_hash in seen:
            continue
        seen.add(r.content_hash)
        rows.append(
            {
                "name": r.name,
                "version": r.version,
                "content_hash": r.content_hash,
                "resolved": r.to_dict(),
                "components": r.components,
                "first_seen_at": first_seen,
                "source": source,
            }
        )
    return rows
