"""Promotion and rollback: move content that passed into an environment, deploy, audit.

A promotion is refused (with a reason a release manager can act on) unless the exact content
hash passed every gate of the target environment in a recorded gate run, is live in the
environment it ``requires``, has enough approvals from people other than the promoter, and the
working tree still holds what was gated. Promotions to one environment are serialised by the
store's promotion lock (a file lock for DuckDB, an advisory lock on PostgreSQL, so it holds
across hosts), so two at once are both kept and the lockfile is never torn.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from promptrail import snapshots
from promptrail.approvals import approval_refusal
from promptrail.errors import UsageError
from promptrail.lock import LockEntry, anchored, read_lock, write_lock
from promptrail.resolve import ResolvedPrompt

if TYPE_CHECKING:
    from promptrail.store import Store
    from promptrail.workspace import Workspace


@dataclass
class Refused(Exception):
    reason: str


def parse_target(text: str) -> tuple[str, str]:
    name, sep, version = text.partition("@")
    if not sep or not name or not version:
        raise UsageError(f"expected NAME@VERSION, got {text!r}")
    return name, version


def gate_pass(store: Store, env: str, gates: list[str], name: str, content_hash: str) -> str | None:
    """The newest finished gate run for ``env`` in which this content passed every gate."""
    from promptrail.gating import passing_runs

    runs = passing_runs(store, env, gates, name, content_hash)
    return runs[0] if runs else None


def live(store: Store, env: str, name: str) -> list[dict[str, Any]]:
    """Promotions of ``name`` into ``env``, newest first."""
    return store.query_dicts(
        "SELECT * FROM promotions WHERE env = ? AND name = ? ORDER BY promoted_at DESC", [env, name]
    )


def promote(
    ws: Workspace,
    name: str,
    version: str,
    env: str,
    actor: str,
    approvals: list[str] | None = None,
    reason: str = "",
    kind: str = "promote",
    content: ResolvedPrompt | None = None,
    approvals_from: str | None = None,
    repo: str | None = None,
) -> dict[str, Any]:
    """``approvals`` are names (``--approved-by``) or ``approvals.Approval``s;
    ``approvals_from`` (``github:PR``) adds the PR's reviews that approved this content."""
    from promptrail.approvals import decide

    environment = ws.config.environment(env)
    store = ws.store()
    resolved = content or snapshots.content_of(ws, name, version=version)
    result: dict[str, Any] = {
        "status": "refused",
        "name": name,
        "version": resolved.version,
        "env": env,
        "content_hash": resolved.content_hash,
        "reason": "",
        "kind": kind,
    }
    decision = decide(ws, environment, actor, resolved, approvals, approvals_from, repo)
    approvers = decision.counted
    with store.promotion_lock(env):
        lock_path = ws.lock_path(env)
        entries = read_lock(lock_path)
        current = entries.get(name)
        try:
            run_id = _check(ws, store, environment, resolved, actor, decision, kind)
        except Refused as refusal:
            result["reason"] = refusal.reason
            result["approvals_ignored"] = decision.ignored
            store.append_audit(
                "promotion-refused", actor, f"{env}/{name}", {**result, "approvals": approvers}
            )
            return result
        if current is not None and current.content_hash == resolved.content_hash:
            result.update(
                status="promoted",
                reason=f"{name} {resolved.version} is already live in {env}; nothing to do",
            )
            return result
        now = datetime.now(UTC)
        from promptrail.store.rows import version_rows
        from promptrail.targets import load_target, make_bundle

        bundle = make_bundle(
            resolved, env, now.isoformat(), actor, ws.config.providers
        )  # refuses a secret
        deployed = []
        for spec in environment.targets:
            target = load_target(spec.model_dump(), ws)
            target.deploy(bundle)
            deployed.append(target.label)
        row: dict[str, Any] = {
            "promotion_id": uuid.uuid4().hex,
            "name": name,
            "version": resolved.version,
            "content_hash": resolved.content_hash,
            "env": env,
            "from_version": current.version if current else None,
            "from_hash": current.content_hash if current else None,
            "actor": actor,
            "approvals": approvers,
            "reason": reason,
            "kind": kind,
            "promoted_at": now,
            "run_id": run_id,
        }
        with store.transaction() as con:  # the promotion and its audit row, or neither
            audit_row = store.append_audit(
                kind,
                actor,
                f"{env}/{name}",
                {
                    "name": name,
                    "version": resolved.version,
                    "content_hash": resolved.content_hash,
                    "env": env,
                    "from_version": row["from_version"],
                    "from_hash": row["from_hash"],
                    "approvals": approvers,
                    "approvals_ignored": decision.ignored,
                    "reason": reason,
                    "gate_run": run_id,
                    "targets": deployed,
                    "promotion_id": row["promotion_id"],
                },
                con=con,
            )
            row["audit_seq"] = audit_row["seq"]
            store.write(
                {"promotions": [row], "prompt_versions": version_rows([resolved], source=kind)},
                con=con,
            )
            # The lockfile records the anchor: this promotion's own audit row.
            entry = LockEntry(resolved.version, resolved.content_hash, dict(resolved.components))
            entries[name] = anchored(entry, audit_row)
            write_lock(lock_path, env, entries)
    result.update(
        status="promoted",
        reason=reason or f"{kind} by {actor}",
        from_version=row["from_version"],
        approvals=approvers,
        approvals_ignored=decision.ignored,
        targets=deployed,
        promoted_at=now.isoformat(),
        anchor={"seq": audit_row["seq"], "hash": audit_row["hash"]},
    )
    return result


def _check(
    ws: Workspace,
    store: Store,
    environment: Any,
    resolved: ResolvedPrompt,
    actor: str,
    decision: Any,
    kind: str,
) -> str | None:
    name, env, short = resolved.name, environment.name, resolved.content_hash[:19] + "…"
    label = f"{name} {resolved.version} ({short})"
    from promptrail.gating import EvidenceRefused, evidence_run, version_conflict

    conflict = version_conflict(ws, name, resolved.version, resolved.content_hash, store)
    if conflict:
        raise Refused(conflict)
    try:  # a finished run that passed every gate, on live calls where env requires it
        run_id = evidence_run(store, environment, name, resolved.content_hash, label)
    except EvidenceRefused as exc:
        raise Refused(exc.reason) from None
    try:
        tree = ws.resolve(name)
    except UsageError:
        tree = None
    if (
        tree is not None
        and tree.version == resolved.version
        and tree.content_hash != resolved.content_hash
    ):
        raise Refused(
            f"prompts/{name}.yaml is at {resolved.version} but no longer hashes to "
            f"what was gated ({short}): bump the version and gate it again"
        )
    if environment.requires and kind != "rollback":
        required = read_lock(ws.lock_path(environment.requires)).get(name)
        if required is None or required.content_hash != resolved.content_hash:
            live_there = (
                f"{required.version} is live there" if required else "nothing is live there"
            )
            raise Refused(
                f"{env} requires {environment.requires} first: {label} is not live "
                f"in {environment.requires} ({live_there}); promote it to "
                f"{environment.requires} first"
            )
    if len(decision.counted) < environment.approvals:
        raise Refused(approval_refusal(environment, actor, decision))
    return run_id


def rollback(
    ws: Workspace,
    name: str,
    env: str,
    actor: str,
    approvals: list[str] | None = None,
    reason: str = "",
    approvals_from: str | None = None,
    repo: str | None = None,
) -> dict[str, Any]:
    """Re-promote the version that was live before the current one."""
    ws.config.environment(env)
    history = live(ws.store(), env, name)
    current = read_lock(ws.lock_path(env)).get(name)
    # What each promotion replaced counts too: the lock entry the first recorded promotion
    # replaced may come from git (a fresh store), and is still a version that was live here.
    replaced = [
        {"version": p["from_version"], "content_hash": p["from_hash"]}
        for p in history
        if p.get("from_hash")
    ]
    previous = next(
        (
            p
            for p in [*history, *replaced]
            if current is None or p["content_hash"] != current.content_hash
        ),
        None,
    )
    if previous is None:
        return {
            "status": "refused",
            "name": name,
            "version": None,
            "env": env,
            "content_hash": None,
            "kind": "rollback",
            "reason": f"no earlier version of {name} was live in {env}",
        }
    content = snapshots.content_of(
        ws, name, version=previous["version"], content_hash=previous["content_hash"]
    )
    return promote(
        ws,
        name,
        previous["version"],
        env,
        actor,
        approvals,
        reason or f"rollback from {current.version if current else 'nothing'}",
        kind="rollback",
        content=content,
        approvals_from=approvals_from,
        repo=repo,
    )
