"""The promotion journal, and recovery from a promotion that did not finish.

A promotion (see ``promptrail.promote``) writes its intent here before it touches anything:
``.promptrail/pending/<env>.json``, one file per environment, written atomically, naming
every change (prompt, promotion id, the entry it replaces and the entry it installs). The
journal is deleted only once the lockfile holds the promotion, so a journal that is still
there means the process died (or failed and could not clean up) somewhere in between.

``recover`` settles it, under the environment's promotion lock. The store decides: the
promotion rows and their audit rows commit in one transaction, so either all of the
journal's promotion ids are in the store or none is.

- committed → **completed**: the lock gets the new entries and the targets converge on them;
- not committed → **rolled back**: the lock was never written (it is written after the
  commit), so the targets converge back on it.

Either way an audit row (``promotion-completed`` / ``promotion-rolled-back``) records it, and
the journal is deleted last, so recovery can itself be interrupted and run again. Every verb
that reads or changes an environment's release state (promote, rollback, apply, deploy,
drift, lock) recovers first; with no journal on disk that costs one directory listing.

``PROMPTRAIL_CRASH_AFTER=<step>`` kills the process (SIGKILL) right after that step of a
promotion: ``intent``, ``target`` (the first bundle written), ``deploy``, ``commit``,
``lock``. The test suite uses it to check that every crash point recovers.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from promptrail.lock import LockEntry

STEPS = ("intent", "target", "deploy", "commit", "lock")


def crashpoint(step: str) -> None:
    """Die here, as a power cut would, when the test hook names this step."""
    if os.environ.get("PROMPTRAIL_CRASH_AFTER") == step:
        os.kill(os.getpid(), signal.SIGKILL)


def journal_dir(ws: Any) -> Path:
    return Path(ws.root) / ".promptrail" / "pending"


def journal_path(ws: Any, env: str) -> Path:
    return journal_dir(ws) / f"{env}.json"


def write_journal(ws: Any, env: str, journal: dict[str, Any]) -> None:
    from promptrail.fsutil import write_atomic

    path = journal_path(ws, env)
    if path.exists():  # callers recover first, under the same lock
        raise RuntimeError(f"{path} exists: an unsettled promotion")
    write_atomic(path, json.dumps(journal, indent=2, sort_keys=True) + "\n")


def read_journal(ws: Any, env: str) -> dict[str, Any] | None:
    from promptrail.errors import UsageError

    path = journal_path(ws, env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("changes"), list):
            raise ValueError("not a promotion journal")
    except ValueError as exc:
        raise UsageError(
            f"unreadable promotion journal ({exc}); it is written only by promptrail",
            file=path,
        ) from None
    return data


def clear_journal(ws: Any, env: str) -> None:
    journal_path(ws, env).unlink(missing_ok=True)


def entry(data: dict[str, Any] | None) -> LockEntry | None:
    if data is None:
        return None
    return LockEntry(data["version"], data["content_hash"], dict(data.get("components") or {}))


def pending_envs(ws: Any) -> list[str]:
    """Environments with a journal on disk (cheap: no store, no lock)."""
    folder = journal_dir(ws)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json"))


def recover(ws: Any, envs: list[str] | None = None, actor: str = "unknown") -> list[dict[str, Any]]:
    """Settle the torn promotions of ``envs`` (default: all); returns what was done."""

    todo = [e for e in pending_envs(ws) if envs is None or e in envs]
    out: list[dict[str, Any]] = []
    for env in todo:
        ws.config.environment(env)
        store = ws.store()
        with store.promotion_lock(env):
            out += recover_locked(ws, env, store, actor)
    return out


def recover_locked(ws: Any, env: str, store: Any, actor: str) -> list[dict[str, Any]]:
    """``recover`` for one environment whose promotion lock the caller holds."""
    journal = read_journal(ws, env)
    if journal is None:
        return []
    return [settle(ws, env, store, journal, actor)]


def settle(ws: Any, env: str, store: Any, journal: dict[str, Any], actor: str) -> dict[str, Any]:
    """Complete or roll back one journalled promotion; the journal goes last."""
    from promptrail.deploy import bundle_source, sync_targets
    from promptrail.lock import read_lock

    changes = journal["changes"]
    ids = [c["promotion_id"] for c in changes]
    found = store.query_dicts(
        f"SELECT promotion_id FROM promotions WHERE promotion_id IN "
        f"({', '.join('?' for _ in ids)})",
        ids,
    )
    committed = len(found) > 0
    names = [c["name"] for c in changes]
    what = ", ".join(f"{c['name']} {c['to']['version']}" for c in changes)
    if committed:
        from promptrail.lock import anchored

        rows = store.query_dicts(
            "SELECT p.promotion_id, a.seq, a.hash, a.hmac FROM promotions p "
            "JOIN audit_log a ON a.seq = p.audit_seq WHERE p.promotion_id IN "
            f"({', '.join('?' for _ in ids)})",
            ids,
        )
        audit_rows = {r["promotion_id"]: r for r in rows}
        entries = read_lock(ws.lock_path(env))
        for c in changes:
            new = entry(c["to"])
            assert new is not None
            row = audit_rows.get(c["promotion_id"])
            entries[c["name"]] = anchored(new, row) if row else new
        write_lock_for(ws, env, entries, store)
        wanted = {c["name"]: entry(c["to"]) for c in changes}
        action = "completed"
        message = (
            f"completed the interrupted {journal.get('kind', 'promotion')} of {what} to {env} "
            "(the store had committed it; lock and targets now match)"
        )
    else:
        locked = read_lock(ws.lock_path(env))
        wanted = {n: locked.get(n) for n in names}
        action = "rolled-back"
        message = (
            f"rolled back the interrupted {journal.get('kind', 'promotion')} of {what} to "
            f"{env} (it never committed; targets restored to the lock)"
        )
    undoing = None if committed else {c["to"]["content_hash"] for c in changes}
    report = sync_targets(ws, env, wanted, bundle_source(ws, store, env), undoing=undoing)
    skipped = [f"{r['target']}: {r['error']}" for r in report if r.get("error")]
    if skipped:
        message += "; " + "; ".join(skipped)
    store.append_audit(
        f"promotion-{action}",
        actor,
        env,
        {
            "journal": journal.get("id"),
            "env": env,
            "kind": journal.get("kind"),
            "started_by": journal.get("actor"),
            "started_at": journal.get("started_at"),
            "changes": changes,
            "reason": journal.get("failure") or "interrupted",
        },
    )
    clear_journal(ws, env)
    return {"env": env, "action": action, "names": names, "message": message}


def write_lock_for(ws: Any, env: str, entries: dict[str, LockEntry], store: Any) -> None:
    """The one place a promotion's lockfile is written (a promotion and its recovery)."""
    from promptrail.lock import write_lock

    write_lock(ws.lock_path(env), env, entries)
