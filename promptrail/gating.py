"""The gate interface and the registry that finds gates.

A gate is a class with a ``name`` and ``run(ctx) -> GateResult``. Built-in gates live in the
top-level ``gates`` package and are ``promptrail.gates`` entry points; a team adds one the same
way, or drops a module with a ``Gate`` subclass into its workspace's ``gates/`` folder. All of
them are found by ``promptrail.plugins``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from promptrail.evaluate import Evaluator, SuiteRun
    from promptrail.resolve import ResolvedPrompt
    from promptrail.workspace import Workspace

STATUSES = ("passed", "failed", "error", "skipped")


@dataclass
class GateResult:
    gate: str
    status: str  # passed | failed | error | skipped
    score: float | None = None
    threshold: float | None = None
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "status": self.status,
            "score": self.score,
            "threshold": self.threshold,
            "summary": self.summary,
        }


@dataclass
class GateContext:
    """What a gate sees: the candidate, where it is going, and lazily run evaluations."""

    ws: Workspace
    resolved: ResolvedPrompt  # the candidate
    env: str | None
    settings: dict[str, Any]  # workspace < environment < prompt settings for this gate
    evaluator: Evaluator | None = None  # None for lint-only runs
    baseline: ResolvedPrompt | None = None  # the version live in env, or None

    def candidate_eval(self) -> SuiteRun:
        if self.evaluator is None:
            raise RuntimeError("this gate needs an evaluation, but the run has no evaluator")
        return self.evaluator.evaluate(self.resolved, role="candidate")

    def baseline_eval(self) -> SuiteRun | None:
        if self.baseline is None or self.evaluator is None:
            return None
        return self.evaluator.evaluate(self.baseline, role="baseline")


class Gate:
    name: ClassVar[str] = ""
    needs_eval: ClassVar[bool] = False

    def run(self, ctx: GateContext) -> GateResult:  # pragma: no cover - interface
        raise NotImplementedError


def load_gate(name: str, root: Any = None) -> Gate:
    """A gate by name: a ``promptrail.gates`` entry point, or ``gates/NAME.py`` in the
    workspace at ``root`` (``promptrail.plugins``)."""
    from promptrail import plugins

    obj = plugins.get("gate", name, root, file="promptrail.yaml")
    gate = obj() if isinstance(obj, type) else obj
    if not getattr(gate, "name", ""):
        gate.name = name
    return gate  # type: ignore[no-any-return]


# -- what a promotion needs of the gate runs --------------------------------------------
FINISHED = ("passed", "failed", "error")  # a run that is 'running' or 'incomplete' proves nothing


def passing_runs(store: Any, env: str, gates: list[str], name: str, content_hash: str) -> list[str]:
    """Finished gate runs for ``env`` in which this content passed every gate, newest first."""
    rows = store.query_dicts(
        "SELECT g.run_id, g.gate, g.status, r.started_at FROM gate_results g "
        "JOIN runs r USING (run_id) WHERE r.kind = 'gate' AND r.env = ? AND g.prompt = ? "
        "AND g.content_hash = ? AND r.status IN ('passed', 'failed', 'error') "
        "ORDER BY r.started_at DESC",
        [env, name, content_hash],
    )
    by_run: dict[str, dict[str, str]] = {}
    for r in rows:
        by_run.setdefault(r["run_id"], {})[r["gate"]] = r["status"]
    return [
        run_id
        for run_id, statuses in by_run.items()  # newest first
        if all(statuses.get(g) in ("passed", "skipped") for g in gates)
        and not any(s in ("failed", "error") for s in statuses.values())
    ]


def recorded_outputs(store: Any, run_id: str, name: str, content_hash: str) -> tuple[int, int]:
    """(outputs from a live call, outputs from the cache or a recording) of the candidate."""
    rows = store.query(
        "SELECT count(*) FILTER (WHERE NOT coalesce(cached, false)), "
        "count(*) FILTER (WHERE cached) FROM case_results WHERE run_id = ? AND prompt = ? "
        "AND content_hash = ? AND role = 'candidate' AND output IS NOT NULL",
        [run_id, name, content_hash],
    )[1]
    return int(rows[0][0] or 0), int(rows[0][1] or 0)


def evidence_run(
    store: Any, environment: Any, name: str, content_hash: str, label: str = ""
) -> str | None:
    """The gate run that authorises promoting this content into ``environment``; raises
    ``EvidenceRefused`` with the reason when none does. Only finished runs count, and an
    environment that requires live evidence only counts runs whose outputs were live calls."""
    env, gates = environment.name, environment.gate_names()
    if not gates:
        return None
    short = label or f"{name} ({content_hash[:19]}…)"
    runs = passing_runs(store, env, gates, name, content_hash)
    if not runs:
        unfinished = store.query(
            "SELECT count(*) FROM runs r WHERE r.kind = 'gate' AND r.env = ? AND r.status "
            "IN ('running', 'incomplete') AND r.run_id IN (SELECT run_id FROM gate_results "
            "WHERE prompt = ? AND content_hash = ?)",
            [env, name, content_hash],
        )[1][0][0]
        why = (
            f" (its {unfinished} other gate run(s) did not finish: a killed or running run "
            "proves nothing)"
            if unfinished
            else ""
        )
        raise EvidenceRefused(
            f"{short} has no gate run for {env} in which it passed every gate "
            f"({', '.join(gates)}){why}: run `promptrail gate {name} --env {env}`"
        )
    if environment.required_evidence() != "live":
        return runs[0]
    for run_id in runs:
        live, recorded = recorded_outputs(store, run_id, name, content_hash)
        if recorded == 0:
            return run_id
    live, recorded = recorded_outputs(store, runs[0], name, content_hash)
    raise EvidenceRefused(
        f"{env} requires live evidence (evidence: live) but {short} passed its gates only on "
        f"recorded responses ({recorded} of {live + recorded} outputs in {runs[0]} came from "
        f"the cache or a recording): gate it live, `promptrail gate {name} --env {env} "
        "--cache off`"
    )


class EvidenceRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def version_conflict(ws: Any, name: str, version: str, content_hash: str, store: Any) -> str | None:
    """One version, one content: the reason to refuse ``name`` ``version`` when the store or
    any lockfile already records that version with other content, else None."""
    return version_conflicts(ws, [(name, version, content_hash)], store).get(name)


def version_conflicts(
    ws: Any, candidates: list[tuple[str, str, str]], store: Any
) -> dict[str, str]:
    """``version_conflict`` for many (name, version, content_hash) at once: each lockfile is
    read once and the store asked once, however many prompts a gate run takes."""
    from promptrail import semver
    from promptrail.lock import read_lock

    if not candidates:
        return {}
    locks = {env.name: read_lock(ws.lock_path(env.name)) for env in ws.config.environments}
    stored: dict[str, list[tuple[str, str]]] = {}
    if store is not None:
        names = sorted({c[0] for c in candidates})
        marks = ", ".join("?" for _ in names)
        _, rows = store.query(
            f"SELECT name, version, content_hash FROM prompt_versions WHERE name IN ({marks})",
            names,
        )
        for n, v, h in rows:
            stored.setdefault(n, []).append((v, h))
    found: dict[str, str] = {}
    for name, version, content_hash in candidates:
        others: list[str] = []
        known = [version]
        for env_name, lock in locks.items():
            entry = lock.get(name)
            if entry is None:
                continue
            known.append(entry.version)
            if entry.version == version and entry.content_hash != content_hash:
                others.append(f"environments/{env_name}.lock")
        rows = stored.get(name, [])
        known += [v for v, _ in rows]
        if any(v == version and h != content_hash for v, h in rows):
            others.append("the store")
        if others:
            highest = max(known, key=semver.parse_version)
            found[name] = (
                f"{name} {version} already names other content (in {', '.join(others)}): "
                f"content changed without a bump; bump to {semver.bump(highest, 'patch')} "
                f"(`promptrail bump {name} --auto`)"
            )
    return found
