"""Point-in-time answers from the store alone: ``at`` and ``history``.

"What exact prompt was live in production at 2:47 PM on March 15th?" is the newest promotion
of each prompt into that environment at or before that moment, joined to the resolved text
recorded with it. No git, no workspace files.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from promptrail.errors import UsageError

if TYPE_CHECKING:
    from promptrail.store import Store


def parse_time(text: str) -> datetime:
    """ISO 8601; without a zone it means UTC. ``now`` is the current time."""
    raw = text.strip()
    if raw.lower() == "now":
        return datetime.now(UTC)
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-03-15T14:47:00Z) or `now`", kind="time"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def at(store: Store, env: str, when: datetime, name: str | None = None) -> dict[str, Any]:
    params: list[Any] = [env, when]
    only = ""
    if name:
        only, params = " AND name = ?", [env, when, name]
    rows = store.query_dicts(
        "WITH live AS (SELECT *, row_number() OVER (PARTITION BY name ORDER BY promoted_at "
        "DESC, promotion_id DESC) AS rn FROM promotions WHERE env = ? AND promoted_at <= ?"
        f"{only}) SELECT l.name, l.version, l.content_hash, l.promoted_at, l.actor, l.kind, "
        "l.approvals, l.reason, l.audit_seq, a.hash AS audit_hash, v.resolved FROM live l "
        "LEFT JOIN prompt_versions v ON v.name = l.name AND v.content_hash = l.content_hash "
        "LEFT JOIN audit_log a ON a.seq = l.audit_seq WHERE l.rn = 1 ORDER BY l.name",
        params,
    )
    prompts = []
    for r in rows:
        resolved = _json(r["resolved"]) or {}
        prompts.append(
            {
                "name": r["name"],
                "version": r["version"],
                "content_hash": r["content_hash"],
                "messages": resolved.get("messages"),
                "model": resolved.get("model"),
                "promoted_at": r["promoted_at"].isoformat(),
                "promoted_by": r["actor"],
                "kind": r["kind"],
                "approvals": _json(r["approvals"]),
                "reason": r["reason"],
                "audit": (
                    {"seq": r["audit_seq"], "hash": r["audit_hash"]}
                    if r["audit_seq"] is not None
                    else None
                ),
            }
        )
    return {"env": env, "time": when.isoformat(), "prompts": prompts}


def history(store: Store, name: str) -> dict[str, Any]:
    events: list[dict[str, Any]] = []
    for r in store.query_dicts(
        "SELECT version, content_hash, first_seen_at, source FROM prompt_versions WHERE name = ?",
        [name],
    ):
        events.append(
            {
                "at": r["first_seen_at"],
                "event": "version",
                "version": r["version"],
                "content_hash": r["content_hash"],
                "detail": f"first seen ({r['source']})",
            }
        )
    runs: dict[str, dict[str, Any]] = {}
    for r in store.query_dicts(
        "SELECT g.run_id, g.version, g.content_hash, g.gate, g.status, g.score, "
        "r.env, r.started_at, r.status AS run_status FROM gate_results g JOIN runs r "
        "USING (run_id) WHERE g.prompt = ? ORDER BY r.started_at",
        [name],
    ):
        run = runs.setdefault(
            r["run_id"],
            {
                "at": r["started_at"],
                "event": "gate-run",
                "version": r["version"],
                "content_hash": r["content_hash"],
                "run_id": r["run_id"],
                "env": r["env"],
                "gates": {},
                "status": "passed",
            },
        )
        run["gates"][r["gate"]] = {"status": r["status"], "score": r["score"]}
        if r["status"] in ("failed", "error"):
            run["status"] = r["status"] if run["status"] != "error" else "error"
    for run in runs.values():
        run["detail"] = f"{run['status']} for {run['env']}: " + ", ".join(
            f"{g} {v['status']}" + (f" {v['score']:.3g}" if v["score"] is not None else "")
            for g, v in run["gates"].items()
        )
        events.append(run)
    for r in store.query_dicts("SELECT * FROM promotions WHERE name = ?", [name]):
        events.append(
            {
                "at": r["promoted_at"],
                "event": r["kind"],
                "version": r["version"],
                "content_hash": r["content_hash"],
                "env": r["env"],
                "detail": f"to {r['env']} by {r['actor']} (from "
                f"{r['from_version'] or 'nothing'}; approvals: "
                f"{', '.join(_json(r['approvals']) or []) or 'none'})"
                + (f": {r['reason']}" if r["reason"] else ""),
            }
        )
    for r in store.query_dicts("SELECT * FROM drift_findings WHERE name = ?", [name]):
        events.append(
            {
                "at": r["found_at"],
                "event": "drift",
                "env": r["env"],
                "version": None,
                "content_hash": r["actual_hash"],
                "detail": f"{r['kind']} at {r['target']}: {r['detail']}",
            }
        )
    events.sort(key=lambda e: e["at"])
    for e in events:
        e["at"] = e["at"].isoformat()
    return {"name": name, "events": events}
