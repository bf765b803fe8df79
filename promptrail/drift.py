"""Drift: what is deployed against the lockfile, the lockfile against the store, and (with a
sweep) the live behaviour of each locked prompt against the scores it was promoted with.

Every finding goes to ``drift_findings`` and the audit log; a finding that was not already
open in the previous check of the environment is "new" and is sent to the alert webhook once.
A target or provider that cannot be reached is a finding of its own kind and makes the check
an operational error (exit 3), never "clean".
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from promptrail.lock import read_lock
from promptrail.runtime import bundle_hash

log = logging.getLogger(__name__)

OPERATIONAL_KINDS = {"unreachable", "provider-error"}


@dataclass
class Finding:
    env: str
    target: str
    name: str
    kind: str  # missing | extra | modified | version-mismatch | unrecorded |
    expected_hash: str | None  # garbage | unreachable | behaviour | provider-error
    actual_hash: str | None
    detail: str = ""
    new: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> tuple[str, ...]:
        return (
            self.env,
            self.target,
            self.name,
            self.kind,
            self.expected_hash or "",
            self.actual_hash or "",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "target": self.target,
            "name": self.name,
            "kind": self.kind,
            "expected_hash": self.expected_hash,
            "actual_hash": self.actual_hash,
            "detail": self.detail,
            "new": self.new,
        }


def config_drift(ws: Any, env: str) -> list[Finding]:
    from promptrail.targets import TargetError, load_target

    environment = ws.config.environment(env)
    entries = read_lock(ws.lock_path(env))
    findings: list[Finding] = []
    for spec in environment.targets:
        target = load_target(spec.model_dump(), ws)
        label = target.label
        try:
            deployed = target.deployed()
        except TargetError as exc:
            findings.append(Finding(env, label, "*", exc.kind, None, None, str(exc)))
            continue
        for name, entry in sorted(entries.items()):
            bundle = deployed.get(name)
            if bundle is None:
                findings.append(
                    Finding(
                        env,
                        label,
                        name,
                        "missing",
                        entry.content_hash,
                        None,
                        f"{name} {entry.version} is locked but not deployed",
                    )
                )
                continue
            claimed = bundle.get("content_hash")
            actual = bundle_hash(bundle) if "messages" in bundle else claimed
            if actual != claimed:
                findings.append(
                    Finding(
                        env,
                        label,
                        name,
                        "modified",
                        entry.content_hash,
                        actual,
                        "the deployed bundle was edited: its content "
                        f"hashes to {actual}, not the {claimed} it claims",
                    )
                )
            elif claimed != entry.content_hash:
                findings.append(
                    Finding(
                        env,
                        label,
                        name,
                        "version-mismatch",
                        entry.content_hash,
                        claimed,
                        f"deployed {bundle.get('version')} but the lock has {entry.version}",
                    )
                )
        for name in sorted(set(deployed) - set(entries)):
            findings.append(
                Finding(
                    env,
                    label,
                    name,
                    "extra",
                    None,
                    deployed[name].get("content_hash"),
                    f"{name} is deployed but not in the {env} lock",
                )
            )
    return findings


def lock_drift(ws: Any, env: str, store: Any) -> list[Finding]:
    """Lock entries that no promotion produced: a lockfile edited by hand."""
    environment = ws.config.environment(env)
    if not environment.gate_names():
        return []  # the working environment's lock follows the tree, not promotions
    entries = read_lock(ws.lock_path(env))
    rows = store.query_dicts(
        "SELECT name, content_hash FROM (SELECT name, content_hash, row_number() OVER "
        "(PARTITION BY name ORDER BY promoted_at DESC) AS rn FROM promotions WHERE env = ?) "
        "AS ranked WHERE rn = 1",
        [env],
    )
    live = {r["name"]: r["content_hash"] for r in rows}
    out = []
    for name, entry in sorted(entries.items()):
        if live.get(name) != entry.content_hash:
            out.append(
                Finding(
                    env,
                    f"environments/{env}.lock",
                    name,
                    "unrecorded",
                    live.get(name),
                    entry.content_hash,
                    f"the lock pins {entry.version} ({entry.content_hash[:19]}…) but "
                    "no promotion recorded in the store produced it",
                )
            )
    for name in sorted(set(live) - set(entries)):
        out.append(
            Finding(
                env,
                f"environments/{env}.lock",
                name,
                "unrecorded",
                live[name],
                None,
                f"{name} was promoted but is missing from the lock",
            )
        )
    return out


def behaviour_drift(ws: Any, env: str, store: Any, progress: Any = None) -> list[Finding]:
    """Re-run each locked prompt's suite live and compare with its recorded pass rate."""
    from gates.regression import bootstrap_drop, per_case_rates
    from promptrail import snapshots
    from promptrail.evaluate import Evaluator

    entries = read_lock(ws.lock_path(env))
    findings: list[Finding] = []
    with Evaluator(ws, cache_mode="off", progress=progress) as evaluator:
        for name, entry in sorted(entries.items()):
            if not ws.exists(f"suites/{name}.yaml"):
                continue
            resolved = snapshots.find(ws, name, content_hash=entry.content_hash)
            if resolved is None:
                findings.append(
                    Finding(
                        env,
                        "suite",
                        name,
                        "provider-error",
                        entry.content_hash,
                        None,
                        "the locked content is neither in the store nor git",
                    )
                )
                continue
            recorded = store.query_dicts(
                "SELECT c.case_id, c.passed FROM case_results c JOIN runs r USING (run_id) "
                "WHERE c.prompt = ? AND c.content_hash = ? AND c.role = 'candidate' AND "
                "r.kind = 'gate' AND r.run_id = (SELECT r2.run_id FROM runs r2 JOIN "
                "case_results c2 USING (run_id) WHERE c2.prompt = ? AND c2.content_hash = ? "
                "AND r2.kind = 'gate' ORDER BY r2.started_at DESC LIMIT 1)",
                [name, entry.content_hash, name, entry.content_hash],
            )
            if not recorded:
                continue
            run = evaluator.evaluate(resolved, role="sweep")
            if run.operational_errors:
                findings.append(
                    Finding(
                        env,
                        "provider",
                        name,
                        "provider-error",
                        entry.content_hash,
                        None,
                        run.operational_errors[0].error or "provider failed",
                    )
                )
                continue
            base_rate = sum(bool(r["passed"]) for r in recorded) / len(recorded)
            max_drop = float(
                ws.config.gate_settings(
                    "regression",
                    env,
                    ws.prompt(name).model if ws.exists(f"prompts/{name}.yaml") else None,
                ).get("max_drop", 0.05)
            )
            drop = base_rate - run.pass_rate
            significant = True
            if run.repeat > 1:
                base_cases: dict[str, list[int]] = {}
                for r in recorded:
                    base_cases.setdefault(r["case_id"], []).append(1 if r["passed"] else 0)
                base = {k: sum(v) / len(v) for k, v in base_cases.items()}
                significant = bootstrap_drop(base, per_case_rates(run))[1] > 0
            if drop > max_drop and significant:
                findings.append(
                    Finding(
                        env,
                        "suite",
                        name,
                        "behaviour",
                        entry.content_hash,
                        entry.content_hash,
                        f"pass rate fell {drop:.1%} ({base_rate:.1%} when gated -> "
                        f"{run.pass_rate:.1%} live now); allowed {max_drop:.1%}",
                        extra={"baseline": base_rate, "live": run.pass_rate},
                    )
                )
    return findings


def run_drift(
    workspace: str,
    env: str | None = None,
    sweep: bool = False,
    actor: str = "unknown",
    progress: Any = None,
) -> dict[str, Any]:
    from promptrail.pipeline import new_run_id, now
    from promptrail.workspace import Workspace

    ws = Workspace(workspace)
    envs = [env] if env else [e.name for e in ws.config.environments if e.gate_names()]
    store = ws.store()
    run_id = new_run_id("drift")
    started = now()
    findings: list[Finding] = []
    for e in envs:
        findings += config_drift(ws, e)
        findings += lock_drift(ws, e, store)
        if sweep:
            findings += behaviour_drift(ws, e, store, progress)
    _mark_new(store, envs, findings)
    operational = any(f.kind in OPERATIONAL_KINDS for f in findings)
    status = "clean" if not findings else "drift"
    rows = [
        {
            "finding_id": uuid.uuid4().hex,
            "run_id": run_id,
            "env": f.env,
            "target": f.target,
            "name": f.name,
            "kind": f.kind,
            "expected_hash": f.expected_hash,
            "actual_hash": f.actual_hash,
            "detail": f.detail,
            "found_at": now(),
        }
        for f in findings
    ]
    with store.transaction() as con:  # findings and their audit rows, or neither
        store.write(
            {
                "runs": [
                    {
                        "run_id": run_id,
                        "kind": "sweep" if sweep else "drift",
                        "status": "error" if operational else status,
                        "env": ",".join(envs),
                        "actor": actor,
                        "started_at": started,
                        "finished_at": now(),
                        "mode": "in-process",
                        "cache_mode": "off",
                        "args": {"sweep": sweep},
                    }
                ],
                "drift_findings": rows,
            },
            con=con,
        )
        for f in findings:
            store.append_audit("drift-finding", actor, f"{f.env}/{f.name}", f.to_dict(), con=con)
        store.append_audit(
            "drift-check",
            actor,
            ",".join(envs),
            {"run_id": run_id, "status": status, "findings": len(findings), "sweep": sweep},
            con=con,
        )
    new = [f for f in findings if f.new]
    alerted = alert(ws, run_id, new) if new else 0
    return {
        "run_id": run_id,
        "status": status,
        "operational": operational,
        "envs": envs,
        "alerts_sent": alerted,
        "findings": [f.to_dict() for f in findings],
    }


def _mark_new(store: Any, envs: list[str], findings: list[Finding]) -> None:
    """A finding is new unless the previous check of its environment found it too."""
    for env in envs:
        prev = store.query_dicts(
            "SELECT run_id FROM drift_findings WHERE env = ? ORDER BY found_at DESC LIMIT 1", [env]
        )
        if not prev:
            continue
        last = store.query_dicts(
            "SELECT env, target, name, kind, expected_hash, actual_hash FROM drift_findings "
            "WHERE run_id = ?",
            [prev[0]["run_id"]],
        )
        seen = {
            (
                r["env"],
                r["target"],
                r["name"],
                r["kind"],
                r["expected_hash"] or "",
                r["actual_hash"] or "",
            )
            for r in last
        }
        for f in findings:
            if f.env == env and f.fingerprint() in seen:
                f.new = False


def alert(ws: Any, run_id: str, findings: list[Finding]) -> int:
    """POST one JSON alert per new finding to the configured webhook; returns how many."""
    url = ws.config.alerts.webhook
    if not url:
        return 0
    from promptrail import net

    sent = 0
    for f in findings:
        try:
            net.post_json(url, {"source": "promptrail", "run_id": run_id, "finding": f.to_dict()})
            sent += 1
        except net.NetError as exc:
            log.warning("drift alert not sent: %s", exc)
            continue
    return sent
