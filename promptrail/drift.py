"""Drift: what is deployed against the lockfile, the lockfile against the store, and (with a
sweep) the live behaviour of each locked prompt against the scores it was promoted with.

Every finding goes to ``drift_findings`` and the audit log; a finding that was not already
open in the previous check of the environment is "new" and is sent once as a ``drift``
webhook event (``promptrail.webhooks``).
A target or provider that cannot be reached is a finding of its own kind and makes the check
an operational error (exit 3), never "clean".
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from promptrail.lock import read_lock
from promptrail.runtime import check_bundle

OPERATIONAL_KINDS = {"unreachable", "provider-error", "sweep-error"}


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
            verdict = check_bundle(bundle, entry.content_hash, content=target.holds_bundles)
            if verdict.problem in ("modified", "garbage"):
                findings.append(
                    Finding(
                        env,
                        label,
                        name,
                        "modified",
                        entry.content_hash,
                        verdict.actual,
                        f"the deployed bundle was edited: {verdict.detail}",
                    )
                )
            elif verdict.problem == "mismatch":
                findings.append(
                    Finding(
                        env,
                        label,
                        name,
                        "version-mismatch",
                        entry.content_hash,
                        verdict.claimed,
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


def recorded_cases(
    store: Any, name: str, content_hash: str
) -> tuple[str | None, list[dict[str, Any]]]:
    """The case results recorded for this content in the newest gate run that ran it, as
    candidate or as baseline (a PR gated against the live version records it as baseline)."""
    runs = store.query_dicts(
        "SELECT r.run_id FROM runs r WHERE r.kind = 'gate' AND r.run_id IN (SELECT run_id "
        "FROM case_results WHERE prompt = ? AND content_hash = ? AND role IN "
        "('candidate', 'baseline')) ORDER BY r.started_at DESC LIMIT 1",
        [name, content_hash],
    )
    if not runs:
        return None, []
    run_id = runs[0]["run_id"]
    rows = store.query_dicts(
        "SELECT role, case_id, passed, error, latency_ms, cached, assertions FROM case_results "
        "WHERE run_id = ? AND prompt = ? AND content_hash = ? AND role IN "
        "('candidate', 'baseline')",
        [run_id, name, content_hash],
    )
    role = "candidate" if any(r["role"] == "candidate" for r in rows) else "baseline"
    out = [r for r in rows if r["role"] == role]  # one side when it ran as both
    for r in out:
        if isinstance(r["assertions"], str):
            r["assertions"] = json.loads(r["assertions"])
    return run_id, out


def behaviour_drift(
    ws: Any,
    env: str,
    store: Any,
    evaluator: Any,
    swept: list[dict[str, Any]],
    runs: list[Any],
) -> list[Finding]:
    """Re-run every locked prompt's suite live and compare it, with the regression gate's
    statistics, with the results recorded when that exact content was gated. Appends what it
    did for each locked version to ``swept`` and each live suite run to ``runs``."""
    from promptrail import snapshots
    from promptrail.regression import compare, observe

    entries = read_lock(ws.lock_path(env))
    findings: list[Finding] = []
    for name, entry in sorted(entries.items()):
        item: dict[str, Any] = {
            "env": env,
            "name": name,
            "version": entry.version,
            "content_hash": entry.content_hash,
        }
        swept.append(item)

        def finding(kind: str, detail: str, item: dict[str, Any] = item, **extra: Any) -> None:
            item.update(status=kind, detail=detail)
            findings.append(
                Finding(
                    env,
                    "suite" if kind != "provider-error" else "provider",
                    item["name"],
                    kind,
                    item["content_hash"],
                    item["content_hash"] if kind == "behaviour" else None,
                    detail,
                    extra=extra,
                )
            )

        if not ws.exists(f"suites/{name}.yaml"):
            item.update(status="no-suite", detail="no suite: nothing to re-run")
            continue
        resolved = snapshots.find(ws, name, content_hash=entry.content_hash)
        if resolved is None:
            finding("provider-error", "the locked content is neither in the store nor git")
            continue
        baseline_run, recorded = recorded_cases(store, name, entry.content_hash)
        if not recorded:
            finding(
                "no-baseline",
                f"{name} {entry.version} has no recorded gate results to compare with: "
                f"gate it (promptrail gate {name} --env {env}) so the sweep can judge it",
            )
            continue
        run = evaluator.evaluate(resolved, role="sweep")
        runs.append(run)
        if run.operational_errors:
            finding("provider-error", run.operational_errors[0].error or "provider failed")
            continue
        shared = {r["case_id"] for r in recorded} & {c.case_id for c in run.cases}
        if not shared:
            finding(
                "no-baseline",
                f"none of the suite's cases ran when {name} {entry.version} was gated "
                f"({baseline_run}): gate it again",
            )
            continue
        base = observe(r for r in recorded if r["case_id"] in shared)
        live = observe(c for c in run.cases if c.case_id in shared)
        prompt = ws.prompt(name).model if ws.exists(f"prompts/{name}.yaml") else None
        settings = ws.config.gate_settings("regression", env, prompt)
        max_drop = float(settings.get("max_drop", 0.05))
        budget = settings.get("max_latency_increase")
        result = compare(
            base,
            live,
            max_drop,
            run.repeat,
            float(budget) if budget is not None else None,
            f"the results recorded when it was gated ({baseline_run})",
        )
        item.update(
            baseline_run=baseline_run,
            baseline_pass_rate=base.pass_rate,
            pass_rate=live.pass_rate,
            errors=live.errors,
        )
        if live.errors > run.max_errors:
            first = next(c for c in run.cases if c.status == "error")
            finding(
                "sweep-error",
                f"{live.errors} of {run.total} cases errored now "
                f"(the suite tolerates {run.max_errors}): {first.error}",
            )
        elif result.problems:
            finding(
                "behaviour",
                "; ".join(result.problems).replace(
                    f"({base.pass_rate:.1%} -> {live.pass_rate:.1%})",
                    f"({base.pass_rate:.1%} when gated -> {live.pass_rate:.1%} live now)",
                ),
                baseline=base.pass_rate,
                live=live.pass_rate,
            )
        else:
            item.update(
                status="ok",
                detail=f"{live.pass_rate:.1%} live now, {base.pass_rate:.1%} when gated",
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
    run_id = new_run_id("sweep" if sweep else "drift")
    started = now()
    findings: list[Finding] = []
    swept: list[dict[str, Any]] = []
    suite_runs: list[Any] = []
    evaluator = None
    if sweep:
        from promptrail.evaluate import Evaluator

        evaluator = Evaluator(ws, cache_mode="off", progress=progress)
    try:
        for e in envs:
            findings += config_drift(ws, e)
            findings += lock_drift(ws, e, store)
            if evaluator is not None:
                findings += behaviour_drift(ws, e, store, evaluator, swept, suite_runs)
    finally:
        if evaluator is not None:
            evaluator.close()
    _mark_new(store, envs, findings)
    from promptrail.store.rows import case_rows

    # a content locked in two environments runs once: store its results once
    unique = list({r.content_hash: r for r in suite_runs}.values())
    cases, scores = case_rows(run_id, unique)
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
                "case_results": cases,
                "scores": scores,
            },
            con=con,
        )
        for f in findings:
            store.append_audit("drift-finding", actor, f"{f.env}/{f.name}", f.to_dict(), con=con)
        store.append_audit(
            "drift-check",
            actor,
            ",".join(envs),
            {
                "run_id": run_id,
                "status": status,
                "findings": len(findings),
                "sweep": sweep,
                "swept": [
                    {k: i.get(k) for k in ("env", "name", "version", "content_hash", "status")}
                    for i in swept
                ],
            },
            con=con,
        )
    new = [f for f in findings if f.new]
    alerted = alert(ws, run_id, new, store) if new else 0
    return {
        "run_id": run_id,
        "status": status,
        "operational": operational,
        "envs": envs,
        "alerts_sent": alerted,
        "findings": [f.to_dict() for f in findings],
        "swept": swept,
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


def alert(ws: Any, run_id: str, findings: list[Finding], store: Any = None) -> int:
    """Send one ``drift`` webhook event per new finding; returns how many hook deliveries
    succeeded (``alerts.webhook``, the older setting, is one of the hooks)."""
    from promptrail.webhooks import notify

    sent = 0
    for f in findings:
        sent += notify(
            ws, "drift", {"run_id": run_id, "env": f.env, "finding": f.to_dict()}, store
        )["sent"]
    return sent
