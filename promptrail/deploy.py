"""Deploy: make every target of an environment hold exactly what its lock pins.

``sync_targets`` is the one way bundles reach targets. ``deploy`` converges an environment's
targets on its lockfile; a promotion converges them on the entries it is about to commit; the
recovery of a torn promotion converges them back on the lock (or forward on the committed
entries). A bundle already deployed that passes ``runtime.check_bundle`` for the wanted hash is
left alone; a missing, edited or different one is written; one that is not wanted is removed;
afterwards every target is read back and verified with the same check. Read-only targets
(``http``: an application reporting what it serves) are checked by ``drift``, not written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from promptrail.errors import OperationalError
from promptrail.lock import LockEntry, read_lock

Wanted = dict[str, LockEntry | None]  # name -> the entry a target must hold, None: no bundle


def writable_targets(ws: Any, env: str) -> list[Any]:
    from promptrail.targets import load_target

    targets = [load_target(t.model_dump(), ws) for t in ws.config.environment(env).targets]
    return [t for t in targets if t.writes]


def bundle_source(
    ws: Any, store: Any, env: str, contents: list[Any] | None = None
) -> Callable[[str, LockEntry], dict[str, Any]]:
    """A function building the bundle of ``name`` at ``entry``: its content from ``contents``
    (resolved prompts), else the store or git history; who promoted it and when from the
    store. (Two prompts can share a content hash: content is looked up by name and hash.)"""
    from promptrail import snapshots
    from promptrail.targets import make_bundle

    known = {(r.name, r.content_hash): r for r in contents or []}
    promoted: dict[tuple[str, str], tuple[str, str]] | None = None

    def meta(name: str, content_hash: str) -> tuple[str, str]:
        nonlocal promoted
        if promoted is None:
            promoted = {}
            rows = store.query_dicts(
                "SELECT name, content_hash, promoted_at, actor FROM promotions "
                "WHERE env = ? ORDER BY promoted_at",
                [env],
            )
            for r in rows:  # the newest promotion of each content wins
                at = r["promoted_at"]
                promoted[(r["name"], r["content_hash"])] = (
                    at.astimezone(UTC).isoformat() if isinstance(at, datetime) else str(at),
                    str(r["actor"]),
                )
        return promoted.get((name, content_hash), ("", "promptrail deploy"))

    def build(name: str, entry: LockEntry) -> dict[str, Any]:
        resolved = known.get((name, entry.content_hash))
        if resolved is None:
            resolved = snapshots.find(ws, name, content_hash=entry.content_hash)
            if resolved is None:
                raise OperationalError(
                    f"cannot deploy {name} {entry.version}: its content "
                    f"({entry.content_hash}) is neither in the store nor in git history",
                    kind="deploy",
                )
            known[(name, entry.content_hash)] = resolved
        at, by = meta(name, entry.content_hash)
        return make_bundle(resolved, env, at, by, ws.config.providers)

    return build


def sync_targets(
    ws: Any,
    env: str,
    wanted: Wanted,
    build: Callable[[str, LockEntry], dict[str, Any]],
    remove_extra: bool = False,
    on_write: Callable[[], None] | None = None,
    undoing: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Converge every writable target of ``env`` on ``wanted``; returns what each did.

    ``remove_extra`` also removes bundles of names not in ``wanted``. Any target failure
    (unreachable, a folder that is a file, a full disk) is an ``OperationalError`` — except
    when ``undoing`` (the hashes of a promotion being rolled back) and the failing target
    holds none of them: there is nothing of that promotion to undo there."""
    from promptrail.runtime import check_bundle
    from promptrail.targets import TargetError

    report = []
    for target in writable_targets(ws, env):
        done: dict[str, Any] = {"target": target.label, "written": [], "removed": [], "kept": []}
        try:
            deployed = target.deployed()
            for name, entry in sorted(wanted.items()):
                if entry is None:
                    if name in deployed:
                        target.remove(name)
                        done["removed"].append(name)
                    continue
                if check_bundle(deployed.get(name), entry.content_hash).ok:
                    done["kept"].append(name)
                    continue
                target.deploy(build(name, entry))
                done["written"].append(name)
                if on_write is not None:
                    on_write()
            if remove_extra:
                for name in sorted(set(deployed) - set(wanted)):
                    target.remove(name)
                    done["removed"].append(name)
            after = target.deployed()
        except (TargetError, OSError, OperationalError) as exc:  # writes fail as exit 3 errors
            if undoing is not None and not _holds_any(target, set(wanted), undoing):
                done["error"] = f"{exc} (nothing of the rolled-back promotion there)"
                report.append(done)
                continue
            raise OperationalError(
                f"target {target.label} of {env} failed: {exc}", kind="deploy"
            ) from None
        for name, entry in sorted(wanted.items()):
            if entry is None:
                if name in after:
                    raise OperationalError(
                        f"target {target.label}: {name} is still there after removing it",
                        kind="deploy",
                    )
                continue
            verdict = check_bundle(after.get(name), entry.content_hash)
            if not verdict.ok:
                raise OperationalError(
                    f"target {target.label}: {name} does not verify after deploying it "
                    f"({verdict.detail or 'missing'})",
                    kind="deploy",
                )
        report.append(done)
    return report


def _holds_any(target: Any, names: set[str], hashes: set[str]) -> bool:
    """Whether ``target`` (still) serves one of ``hashes`` for one of ``names``."""
    from promptrail.targets import TargetError

    try:
        deployed = target.deployed()
    except (TargetError, OSError):
        return False  # unreadable: nothing can be served from it
    return any(
        isinstance(b, dict) and b.get("content_hash") in hashes
        for n, b in deployed.items()
        if n in names
    )


def deploy(
    ws: Any, env: str, names: list[str] | None = None, actor: str = "unknown"
) -> dict[str, Any]:
    """``promptrail deploy``: every target of ``env`` holds exactly what the lock pins."""
    from promptrail.recovery import recover_locked

    ws.config.environment(env)
    store = ws.store()
    with store.promotion_lock(env):
        recovered = recover_locked(ws, env, store, actor)
        entries = read_lock(ws.lock_path(env))
        wanted: Wanted = {n: entries.get(n) for n in names} if names else dict(entries)
        report = sync_targets(
            ws, env, wanted, bundle_source(ws, store, env), remove_extra=not names
        )
        written = sorted({n for r in report for n in r["written"]})
        removed = sorted({n for r in report for n in r["removed"]})
        store.append_audit(
            "deploy",
            actor,
            env,
            {
                "env": env,
                "names": names or None,
                "written": written,
                "removed": removed,
                "targets": [r["target"] for r in report],
            },
        )
    return {
        "env": env,
        "status": "deployed",
        "targets": report,
        "written": written,
        "removed": removed,
        "recovered": recovered,
    }
