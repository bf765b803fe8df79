"""Plan and apply: a reviewed release of many prompts to one environment.

``plan --to ENV`` lists every prompt whose candidate differs from what ENV runs. The candidate
is what is live in the environment ENV ``requires``, else in the environment before ENV in
promotion order. For each: old → new version, the bump, a diff summary, gate evidence for
ENV, the approvals needed, and whether it is ready with every reason it is not (the same
checks ``promote`` runs, approvals aside: those are given to ``apply``).

``plan --out FILE`` writes a plan file: the changes, the state of ENV's lock it was made
against, the workspace it is for, and a digest of all of it. ``apply FILE`` refuses a plan
that was edited or is for another workspace (exit 2) and one whose starting state no longer
holds (exit 1: something was promoted since), then promotes every ready change with the
same rules as ``promote``, each one all or nothing, and audits the release.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promptrail.errors import OperationalError, UsageError
from promptrail.hashing import content_hash
from promptrail.lock import read_lock

PLAN_VERSION = 1


def candidate_env(ws: Any, env: str) -> str:
    environment = ws.config.environment(env)
    if environment.requires:
        return str(environment.requires)
    names = [e.name for e in ws.config.environments]
    at = names.index(env)
    if at == 0:
        raise UsageError(
            f"{env!r} is the first environment: it follows the working tree through "
            "`promptrail lock`; plan a release to a later environment",
            file="promptrail.yaml",
        )
    return str(names[at - 1])


def workspace_id(ws: Any) -> str:
    """Who a plan is for: the repository (its first commit) and the workspace's place in it;
    the same in every clone, different for any other workspace."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(ws.root), *args], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    roots = sorted(git("rev-list", "--max-parents=0", "HEAD").split())
    top = git("rev-parse", "--show-toplevel")
    where = str(Path(ws.root).resolve().relative_to(Path(top).resolve())) if top else ""
    basis = {"roots": roots, "path": where} if roots else {"root": str(Path(ws.root).resolve())}
    return content_hash(basis)


def plan(
    ws: Any, env: str, names: list[str] | None = None, actor: str = "unknown"
) -> dict[str, Any]:
    from promptrail import snapshots
    from promptrail.approvals import Decision
    from promptrail.promote import Candidate, enough_approvals, reasons_not_to

    environment = ws.config.environment(env)
    source = candidate_env(ws, env)
    store = ws.store()
    current = read_lock(ws.lock_path(env))
    candidates = read_lock(ws.lock_path(source))
    for n in names or []:
        if n not in candidates and n not in current:
            raise UsageError(f"{n} is neither live in {source} nor in {env}")
    changes = []
    for name in sorted(names or candidates):
        new, old = candidates.get(name), current.get(name)
        if new is None or (old is not None and old.content_hash == new.content_hash):
            continue
        change: dict[str, Any] = {
            "name": name,
            "from": old.version if old else None,
            "to": new.version,
            "from_hash": old.content_hash if old else None,
            "to_hash": new.content_hash,
            "bump": _bump(old.version if old else None, new.version),
            "approvals_needed": environment.approvals,
        }
        resolved = snapshots.find(ws, name, content_hash=new.content_hash)
        if resolved is None:
            reasons = [
                f"the content of {name} {new.version} ({new.content_hash[:19]}…) is neither "
                "in the store nor in git history"
            ]
            change.update(diff=None, evidence=None)
        else:
            before = snapshots.find(ws, name, content_hash=old.content_hash) if old else None
            change["diff"] = _diff_summary(before, resolved)
            c = Candidate(ws, store, environment, resolved, actor, Decision(), "promote")
            reasons = reasons_not_to(c, skip=(enough_approvals,))
            gates = environment.gate_names()
            change["evidence"] = {
                "gates": gates,
                "run_id": c.run_id,
                "status": "present" if c.run_id or not gates else "missing",
            }
        change.update(ready=not reasons, reasons=reasons)
        changes.append(change)
    return {
        "env": env,
        "source": source,
        "changes": changes,
        "ready": sum(c["ready"] for c in changes),
        "state": {n: e.content_hash for n, e in sorted(current.items())},
        "workspace": workspace_id(ws),
        "made_at": datetime.now(UTC).isoformat(),
        "made_by": actor,
    }


def _bump(old: str | None, new: str) -> str:
    from promptrail.semver import bump_between, parse_version

    if old is None:
        return "new"
    kind = bump_between(old, new)
    if kind == "none" and parse_version(new).compare(parse_version(old)) < 0:
        return "downgrade"
    return kind


def _diff_summary(old: Any, new: Any) -> dict[str, Any]:
    from promptrail.diff import compare

    if old is None:
        return {"interface": [], "added_lines": None, "removed_lines": None, "bump_needed": None}
    d = compare(old, new)
    lines = d["rendered_diff"].splitlines()
    return {
        "interface": [f"{c['path']}: {c['detail']} ({c['bump']})" for c in d["changes"]],
        "added_lines": sum(1 for x in lines if x.startswith("+") and not x.startswith("+++")),
        "removed_lines": sum(1 for x in lines if x.startswith("-") and not x.startswith("---")),
        "bump_needed": d["bump"],
    }


def write_plan(result: dict[str, Any], path: str | Path) -> None:
    from promptrail.fsutil import write_atomic

    doc = {"plan_version": PLAN_VERSION, **result}
    doc["digest"] = content_hash(doc)
    write_atomic(path, json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def load_plan(ws: Any, path: str | Path) -> dict[str, Any]:
    """A plan file, refusing (exit 2) one edited by hand or made for another workspace."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the plan: {exc.strerror}", file=shown) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"not a plan file: {exc.msg}", file=shown, line=exc.lineno) from None
    if not isinstance(doc, dict) or doc.get("plan_version") != PLAN_VERSION:
        raise UsageError(
            f"not a plan file of version {PLAN_VERSION} (make one with `promptrail plan --out`)",
            file=shown,
        )
    claimed = doc.pop("digest", None)
    if claimed != content_hash(doc):
        raise UsageError(
            "the plan was edited after `promptrail plan` wrote it (its digest does not "
            "match); make a new plan",
            file=shown,
            kind="plan-edited",
        )
    if doc.get("workspace") != workspace_id(ws):
        raise UsageError(
            f"the plan is for another workspace, not {ws.root}; make one here",
            file=shown,
            kind="plan-workspace",
        )
    doc["digest"] = claimed
    return doc


def apply(
    ws: Any,
    path: str | Path,
    actor: str,
    approvals: list[str] | None = None,
    reason: str = "",
    approvals_from: str | None = None,
    repo: str | None = None,
) -> dict[str, Any]:
    from promptrail import snapshots
    from promptrail.approvals import decide
    from promptrail.promote import promote_locked
    from promptrail.recovery import recover_locked

    doc = load_plan(ws, path)
    env = doc["env"]
    environment = ws.config.environment(env)
    store = ws.store()
    reason = reason or f"apply {Path(path).name} ({doc['digest'][:19]}…)"
    out: dict[str, Any] = {"env": env, "plan": doc["digest"], "changes": []}
    with store.promotion_lock(env):
        out["recovered"] = recover_locked(ws, env, store, actor)
        now = {n: e.content_hash for n, e in sorted(read_lock(ws.lock_path(env)).items())}
        moved = _moved(doc["state"], now)
        if moved:
            out.update(
                status="refused",
                reason=f"the plan's starting state no longer holds ({'; '.join(moved)}): "
                f"something was promoted to {env} since; make a new plan",
            )
            return out
        failed = None
        approvers: set[str] = set()
        promoted: list[dict[str, Any]] = []
        for change in doc["changes"]:
            name = change["name"]
            row: dict[str, Any] = {"name": name, "from": change["from"], "to": change["to"]}
            out["changes"].append(row)
            if failed is not None:
                row.update(status="untouched", reason=f"not attempted after {failed} failed")
                continue
            if not change["ready"]:
                row.update(
                    status="skipped",
                    reason="not ready when planned: " + "; ".join(change["reasons"]),
                )
                continue
            resolved = snapshots.find(ws, name, content_hash=change["to_hash"])
            if resolved is None:
                row.update(status="refused", reason="its content is no longer in the store")
                continue
            try:
                decision = decide(ws, environment, actor, resolved, approvals, approvals_from, repo)
                approvers |= set(decision.counted)
                r = promote_locked(
                    ws, store, environment, resolved, actor, decision, reason, "promote"
                )
            except OperationalError as exc:
                failed = name
                row.update(status="failed", reason=str(exc))
                continue
            row.update(status=r["status"], reason=r["reason"], promotion_id=r.get("promotion_id"))
            if r.get("promotion_id"):
                promoted.append(r)
        by = {s: [c["name"] for c in out["changes"] if c["status"] == s] for s in STATUSES}
        store.append_audit(
            "apply",
            actor,
            env,
            {
                "env": env,
                "plan": doc["digest"],
                "reason": reason,
                "approvals": sorted(approvers),
                **by,
            },
        )
    out["status"] = "failed" if failed else "refused" if by["refused"] else "applied"
    out["reason"] = reason
    _announce(ws, store, actor, out, promoted)
    return out


def _announce(
    ws: Any, store: Any, actor: str, out: dict[str, Any], promoted: list[dict[str, Any]]
) -> None:
    """Webhooks, once the environment's lock is released: one ``promote`` per prompt that
    went live and one ``apply`` for the release."""
    from promptrail.promote import event_data
    from promptrail.webhooks import notify

    for r in promoted:
        notify(ws, "promote", event_data(r), store, actor)
    notify(
        ws,
        "apply",
        {k: out[k] for k in ("env", "plan", "status", "reason", "changes")},
        store,
        actor,
    )


STATUSES = ("promoted", "refused", "skipped", "failed", "untouched")


def _moved(planned: dict[str, str], now: dict[str, str]) -> list[str]:
    moved = []
    for name in sorted(set(planned) | set(now)):
        if planned.get(name) != now.get(name):
            was = (planned.get(name) or "nothing")[:19]
            is_ = (now.get(name) or "nothing")[:19]
            moved.append(f"{name}: planned against {was}…, now {is_}…")
    return moved
