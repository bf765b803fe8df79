"""Promotion and rollback: move content that passed into an environment, deploy, audit.

A promotion is refused (with every reason a release manager can act on) unless the exact
content hash passed every gate of the target environment in a recorded gate run, is live in
the environment it ``requires``, has enough approvals from people other than the promoter,
and the working tree still holds what was gated. Each check is one function in ``CHECKS``;
``plan`` runs the same list. Promotions to one environment are serialised by a lock, so two
at once are both kept and the lockfile is never torn.

All or nothing. Four things change: the targets, the store's promotion rows, the audit log
and the lockfile. They share no transaction, so a promotion is a sequence of steps with one
commit point:

1. decide: under the environment's lock, settle any torn promotion (``recovery``), then run
   the checks. A refusal writes only its audit row.
2. intent: write the journal (``.promptrail/pending/<env>.json``): ids, old and new entries.
3. deploy: converge every writable target on the new entry (``deploy.sync_targets``) and
   verify it.
4. commit: ONE store transaction with the promotion rows, the version and the audit row.
   This is the commit point: before it the promotion did not happen, after it it did.
5. lock: write the lockfile (``recovery.write_lock_for``; the audit anchor goes there too).
6. delete the journal; then notify webhooks (after the fact, never blocking the promotion).

Why this order: the store and the lockfile are what people read (``at``, ``history``, review
diffs, ``lock --check``), so neither may show a promotion that did not commit; the lock is
written last because it is the only part that cannot join the transaction, and the journal
makes its write repeatable. Targets go before the commit because deploying is what usually
fails (full disk, unreachable bucket, a path that is a file): failing there leaves nothing to
undo but the targets themselves. A failure at any step settles the journal at once (restore
the targets, or finish if the store had committed) and exits 3; a kill at any step leaves the
journal for the next command, which does the same and says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from promptrail import snapshots
from promptrail.approvals import Decision, approval_refusal
from promptrail.errors import OperationalError, UsageError
from promptrail.lock import LockEntry, anchored, entry_for, read_lock
from promptrail.resolve import ResolvedPrompt

if TYPE_CHECKING:
    from promptrail.store import Store
    from promptrail.workspace import Workspace


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


@dataclass
class Candidate:
    """What the checks look at: content going to an environment, who promotes, who approved."""

    ws: Any
    store: Any
    environment: Any
    resolved: ResolvedPrompt
    actor: str
    decision: Decision  # which approvals count, and why the others do not
    kind: str = "promote"
    run_id: str | None = None  # the gate run that authorises it (set by gate_evidence)

    @property
    def approvers(self) -> list[str]:
        return list(self.decision.counted)

    @property
    def label(self) -> str:
        r = self.resolved
        return f"{r.name} {r.version} ({r.content_hash[:19]}…)"


def one_version_one_content(c: Candidate) -> str | None:
    from promptrail.gating import version_conflict

    r = c.resolved
    return version_conflict(c.ws, r.name, r.version, r.content_hash, c.store) or None


def gate_evidence(c: Candidate) -> str | None:
    """A finished run that passed every gate, on live calls where the environment requires it."""
    from promptrail.gating import EvidenceRefused, evidence_run

    r = c.resolved
    try:
        c.run_id = evidence_run(c.store, c.environment, r.name, r.content_hash, c.label)
    except EvidenceRefused as exc:
        return str(exc.reason)
    return None


def tree_matches(c: Candidate) -> str | None:
    r = c.resolved
    try:
        tree = c.ws.resolve(r.name)
    except UsageError:
        return None
    if tree.version == r.version and tree.content_hash != r.content_hash:
        return (
            f"prompts/{r.name}.yaml is at {r.version} but no longer hashes to what was "
            f"gated ({r.content_hash[:19]}…): bump the version and gate it again"
        )
    return None


def required_env(c: Candidate) -> str | None:
    requires = c.environment.requires
    if not requires or c.kind == "rollback":
        return None
    there = read_lock(c.ws.lock_path(requires)).get(c.resolved.name)
    if there is not None and there.content_hash == c.resolved.content_hash:
        return None
    live_there = f"{there.version} is live there" if there else "nothing is live there"
    return (
        f"{c.environment.name} requires {requires} first: {c.label} is not live in "
        f"{requires} ({live_there}); promote it to {requires} first"
    )


def enough_approvals(c: Candidate) -> str | None:
    if len(c.decision.counted) >= c.environment.approvals:
        return None
    return approval_refusal(c.environment, c.actor, c.decision)


# Every refusal check, in the order reasons are listed. Add a check here (a function of a
# Candidate returning a reason or None); ``plan`` runs all but the approvals, which are given
# at ``apply`` time.
CHECKS: list[Callable[[Candidate], str | None]] = [
    one_version_one_content,
    gate_evidence,
    tree_matches,
    required_env,
    enough_approvals,
]


def reasons_not_to(c: Candidate, skip: tuple[Callable[..., Any], ...] = ()) -> list[str]:
    """Every reason ``c`` may not be promoted (all of them, not the first)."""
    return [r for check in CHECKS if check not in skip for r in [check(c)] if r]


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
    from promptrail.recovery import recover_locked

    environment = ws.config.environment(env)
    store = ws.store()
    resolved = content or snapshots.content_of(ws, name, version=version)
    decision = decide(ws, environment, actor, resolved, approvals, approvals_from, repo)
    with store.promotion_lock(env):
        recovered = recover_locked(ws, env, store, actor)
        result = promote_locked(ws, store, environment, resolved, actor, decision, reason, kind)
    result["recovered"] = recovered
    if result.get("promotion_id"):  # after the lock is released: never in the way
        from promptrail.webhooks import notify

        notify(ws, kind, event_data(result), store, actor)
    return result


def event_data(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "version", "env", "content_hash", "from_version", "kind", "reason")
    return {k: result.get(k) for k in (*keys, "approvals", "targets", "promoted_at")}


def promote_locked(
    ws: Any,
    store: Any,
    environment: Any,
    resolved: ResolvedPrompt,
    actor: str,
    decision: Decision,
    reason: str,
    kind: str,
) -> dict[str, Any]:
    """One promotion, all or nothing; the caller holds the store's promotion lock for the environment and has recovered."""
    env, name = environment.name, resolved.name
    result: dict[str, Any] = {
        "status": "refused",
        "name": name,
        "version": resolved.version,
        "env": env,
        "content_hash": resolved.content_hash,
        "reason": "",
        "kind": kind,
    }
    candidate = Candidate(ws, store, environment, resolved, actor, decision, kind)
    approvers = candidate.approvers
    reasons = reasons_not_to(candidate)
    if reasons:
        result["reason"] = "; ".join(reasons)
        result["reasons"] = reasons
        result["approvals_ignored"] = decision.ignored
        store.append_audit(
            "promotion-refused", actor, f"{env}/{name}", {**result, "approvals": approvers}
        )
        return result
    entries = read_lock(ws.lock_path(env))
    current = entries.get(name)
    if current is not None and current.content_hash == resolved.content_hash:
        result.update(
            status="promoted",
            reason=f"{name} {resolved.version} is already live in {env}; nothing to do",
        )
        return result
    row = _transition(ws, store, candidate, current, reason)
    result.update(
        status="promoted",
        reason=reason or f"{kind} by {actor}",
        from_version=row["from_version"],
        approvals=approvers,
        approvals_ignored=decision.ignored,
        targets=row["targets"],
        promoted_at=row["promoted_at"].isoformat(),
        promotion_id=row["promotion_id"],
        anchor=row["anchor"],
    )
    return result


def _transition(
    ws: Any, store: Any, c: Candidate, current: LockEntry | None, reason: str
) -> dict[str, Any]:
    """Steps 2-6 of the module docstring: intent, deploy, commit, lock, done."""
    from promptrail.deploy import bundle_source, sync_targets
    from promptrail.recovery import (
        clear_journal,
        crashpoint,
        settle,
        write_journal,
        write_lock_for,
    )
    from promptrail.store.rows import version_rows

    resolved, env, actor, kind = c.resolved, c.environment.name, c.actor, c.kind
    name, now = resolved.name, datetime.now(UTC)
    new = entry_for(resolved)
    row: dict[str, Any] = {
        "promotion_id": uuid.uuid4().hex,
        "name": name,
        "version": resolved.version,
        "content_hash": resolved.content_hash,
        "env": env,
        "from_version": current.version if current else None,
        "from_hash": current.content_hash if current else None,
        "actor": actor,
        "approvals": c.approvers,
        "reason": reason,
        "kind": kind,
        "promoted_at": now,
        "run_id": c.run_id,
    }
    journal: dict[str, Any] = {
        "id": row["promotion_id"],
        "env": env,
        "kind": kind,
        "actor": actor,
        "started_at": now.isoformat(),
        "changes": [
            {
                "promotion_id": row["promotion_id"],
                "name": name,
                "from": current.to_dict() if current else None,
                "to": new.to_dict(),
            }
        ],
    }
    write_journal(ws, env, journal)
    crashpoint("intent")
    step = "deploy"
    try:
        build = bundle_source(ws, store, env, [resolved])

        def fresh(n: str, e: LockEntry) -> dict[str, Any]:
            return {**build(n, e), "promoted_at": now.isoformat(), "promoted_by": actor}

        report = sync_targets(ws, env, {name: new}, fresh, on_write=lambda: crashpoint("target"))
        targets = [r["target"] for r in report]
        crashpoint("deploy")
        step = "commit"
        with store.transaction() as con:  # the commit point: promotion and audit, or neither
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
                    "approvals": c.approvers,
                    "approvals_ignored": c.decision.ignored,
                    "reason": reason,
                    "gate_run": c.run_id,
                    "targets": targets,
                    "promotion_id": row["promotion_id"],
                },
                con=con,
            )
            row["audit_seq"] = audit_row["seq"]
            store.write(
                {"promotions": [row], "prompt_versions": version_rows([resolved], source=kind)},
                con=con,
            )
        crashpoint("commit")
        step = "lock"
        entries = read_lock(ws.lock_path(env))
        entries[name] = anchored(new, audit_row)  # the lock vouches for its audit row
        write_lock_for(ws, env, entries, store)
        crashpoint("lock")
    except Exception as exc:
        journal["failure"] = f"{step} failed: {exc}"
        what = f"promoting {name} {resolved.version} to {env}: {step} failed: {exc}"
        try:
            outcome = settle(ws, env, store, journal, actor)
        except Exception as again:
            raise OperationalError(
                f"{what}; settling it failed too ({again}): the next promptrail command for "
                f"{env} completes or rolls it back",
                kind="promotion",
            ) from None
        raise OperationalError(f"{what}; {outcome['message']}", kind="promotion") from None
    clear_journal(ws, env)
    return {
        **row,
        "targets": targets,
        "anchor": {"seq": audit_row["seq"], "hash": audit_row["hash"]},
    }


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
