"""The gate run as plain functions: pick candidates, run each prompt's gates, record it all.

``flows/gate.py`` wraps these in a Prefect flow (each prompt a task, each gate a task inside
it); without a Prefect API the CLI calls them directly with a thread pool. Either way the same
code runs and the store gets identical rows; ``runs.mode`` says which ran.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from promptrail import __version__
from promptrail.errors import UsageError
from promptrail.gating import GateContext, GateResult, load_gate, version_conflicts

if TYPE_CHECKING:
    from promptrail.resolve import ResolvedPrompt
    from promptrail.workspace import Workspace

DEFAULT_GATES = ["lint", "schema", "regression", "cost"]


def now() -> datetime:
    return datetime.now(UTC)


def new_run_id(kind: str = "gate") -> str:
    return f"{kind}-{now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class Hooks:
    """How the pipeline runs its steps: a thread pool here, Prefect tasks in flows/."""

    mode = "in-process"

    def map(self, fn: Callable[[str], Any], items: list[str]) -> list[Any]:
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
            return list(pool.map(fn, items))

    def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


# -- candidates ----------------------------------------------------------------------------
def changed_prompts(ws: Workspace, ref: str) -> list[str]:
    """Prompts whose prompt file, suite, dataset, schema or (transitively) component changed
    since ``ref`` — a changed component selects every prompt that uses it."""
    proc = subprocess.run(
        ["git", "-C", str(ws.root), "diff", "--name-only", "--relative", ref, "--", "."],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise UsageError(f"git diff against {ref!r} failed: {proc.stderr.strip()}")
    untracked = subprocess.run(
        ["git", "-C", str(ws.root), "ls-files", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
    )
    files = set(proc.stdout.split()) | set(untracked.stdout.split())
    names = set(ws.prompt_names())
    selected = set()
    for f in files:
        parts = f.split("/")
        stem = parts[-1].rsplit(".", 1)[0]
        if parts[0] in ("prompts", "suites") and stem in names:
            selected.add(stem)
        elif parts[0] in ("components", "schemas", "suites"):
            for name in names:
                if _depends_on(ws, name, f):
                    selected.add(name)
    return sorted(selected)


def _depends_on(ws: Workspace, name: str, path: str) -> bool:
    try:
        r = ws.resolve(name)
        prompt = ws.prompt(name).model
    except UsageError:
        return True
    if path.startswith("components/"):
        return path.split("/")[-1].rsplit(".", 1)[0] in r.components
    if path.startswith("schemas/"):
        return path in str(prompt.output_schema) or path in str(prompt.input_schema)
    return path.startswith("suites/data/") and name in path


def default_env(ws: Workspace) -> str:
    for env in ws.config.environments:
        if env.gate_names():
            return str(env.name)
    return str(ws.config.environments[0].name)


def baseline_for(ws: Workspace, env: str, name: str) -> tuple[Any, str | None]:
    """The version live in ``env`` for this prompt, resolved (None when nothing is live)."""
    from promptrail import snapshots

    try:
        return snapshots.locked_content(ws, env, name), None
    except snapshots.ContentNotFound as exc:
        return None, exc.message


# -- one prompt ----------------------------------------------------------------------------
@dataclass
class PromptOutcome:
    name: str
    version: str
    content_hash: str
    status: str
    gates: list[GateResult]
    records: dict[str, Iterable[dict[str, Any]]]  # rows per table, for Store.write

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "content_hash": self.content_hash,
            "status": self.status,
            "gates": [g.to_dict() for g in self.gates],
        }


def overall(statuses: list[str]) -> str:
    if "error" in statuses:
        return "error"
    if "failed" in statuses:
        return "failed"
    return "passed"


def gate_prompt(
    ws: Workspace,
    run_id: str,
    name: str,
    env: str,
    gate_names: list[str],
    evaluator: Any,
    keep_going: bool = False,
    hooks: Hooks | None = None,
) -> PromptOutcome:
    hooks = hooks or Hooks()
    resolved = ws.resolve(name)
    prompt = ws.prompt(name).model
    baseline, missing = baseline_for(ws, env, name)
    results: list[GateResult] = []
    stop = False
    timings: list[tuple[datetime, datetime]] = []
    for gate_name in gate_names:
        started = now()
        if stop:
            result = GateResult(gate_name, "skipped", summary="an earlier gate did not pass")
        else:
            settings = ws.config.gate_settings(gate_name, env, prompt)
            ctx = GateContext(ws, resolved, env, settings, evaluator, baseline)
            if missing and gate_name == "regression":
                result = GateResult(gate_name, "error", summary=missing)
            else:
                result = hooks.step(f"{gate_name}:{name}", _run_gate, gate_name, ctx)
            if result.status in ("failed", "error") and not keep_going:
                stop = True
        results.append(result)
        timings.append((started, now()))
    status = overall([r.status for r in results])
    records = _records(run_id, resolved, results, timings, evaluator, baseline)
    return PromptOutcome(name, resolved.version, resolved.content_hash, status, results, records)


def _run_gate(gate_name: str, ctx: GateContext) -> GateResult:
    from promptrail.errors import OperationalError

    gate = load_gate(gate_name, ctx.ws.root)
    try:
        return gate.run(ctx)
    except OperationalError as exc:
        return GateResult(gate_name, "error", summary=exc.message)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken gate is an error of that gate
        return GateResult(gate_name, "error", summary=f"{type(exc).__name__}: {exc}")


def _records(
    run_id: str,
    resolved: ResolvedPrompt,
    results: list[GateResult],
    timings: list[tuple[datetime, datetime]],
    evaluator: Any,
    baseline: Any,
) -> dict[str, Iterable[dict[str, Any]]]:
    from promptrail.store.rows import case_rows, gate_rows, version_rows

    runs = []
    if evaluator is not None:
        for role, r in (("candidate", resolved), ("baseline", baseline)):
            if r is not None:
                suite_run = evaluator.peek(r, role)
                if suite_run is not None:
                    runs.append(suite_run)
    cases, scores = case_rows(run_id, runs)
    versions = version_rows(
        [resolved] + ([baseline] if baseline is not None else []),
        seen_at=timings[0][0] if timings else None,
    )
    return {
        "gate_results": gate_rows(run_id, resolved, results, timings),
        "case_results": cases,
        "scores": scores,
        "prompt_versions": versions,
    }


def _version_line(ws: Any, name: str) -> int | None:
    from promptrail.yamlio import line_of

    return line_of(ws.read(f"prompts/{name}.yaml"), ("version",))


# -- the run -------------------------------------------------------------------------------
def git_state(root: Any) -> tuple[str | None, bool | None]:
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    if head.returncode != 0:
        return None, None
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True
    )
    return head.stdout.strip(), bool(dirty.stdout.strip())


def run_gate(
    workspace: str = ".",
    names: list[str] | None = None,
    env: str | None = None,
    changed_since: str | None = None,
    cache_mode: str | None = None,
    keep_going: bool = False,
    actor: str = "unknown",
    hooks: Hooks | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Gate candidates for ``env``; returns the ``gate --json`` document."""
    from promptrail.evaluate import Evaluator
    from promptrail.suites import load_suite
    from promptrail.workspace import Workspace

    hooks = hooks or Hooks()
    ws = Workspace(workspace)
    env = env or default_env(ws)
    environment = ws.config.environment(env)
    gate_names = environment.gate_names() or DEFAULT_GATES
    if names:
        for n in names:
            ws.prompt(n)
        candidates = list(names)
    elif changed_since:
        candidates = changed_prompts(ws, changed_since)
    else:
        candidates = ws.prompt_names()
    # bad input stops the run before anything is recorded; the suites are parsed this once
    resolved = [ws.resolve(name) for name in candidates]
    suites = {name: load_suite(ws, name) for name in candidates}
    store = ws.store()
    conflicts = version_conflicts(
        ws, [(r.name, r.version, r.content_hash) for r in resolved], store
    )
    for r in resolved:  # one version names one content
        if r.name in conflicts:
            raise UsageError(
                conflicts[r.name], file=f"prompts/{r.name}.yaml", line=_version_line(ws, r.name)
            )
    run_id = run_id or new_run_id()
    commit, dirty = git_state(ws.root)
    evaluator = Evaluator(ws, cache_mode, progress)
    evaluator.get_ready(resolved, suites)
    started = now()
    store.write(
        {
            "runs": [
                {
                    "run_id": run_id,
                    "kind": "gate",
                    "status": "running",
                    "env": env,
                    "actor": actor,
                    "started_at": started,
                    "finished_at": None,
                    "mode": hooks.mode,
                    "cache_mode": evaluator.cache_mode,
                    "git_commit": commit,
                    "git_dirty": dirty,
                    "args": {
                        "names": names,
                        "changed_since": changed_since,
                        "keep_going": keep_going,
                        "gates": gate_names,
                    },
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "promptrail_version": __version__,
                    "heartbeat_at": started,
                }
            ]
        }
    )
    outcomes: list[PromptOutcome] = []
    # a heartbeat while the run goes on, so other hosts can tell it is alive
    with store.lease(run_id):
        try:

            def one(name: str) -> PromptOutcome:
                outcome = gate_prompt(
                    ws, run_id, name, env, gate_names, evaluator, keep_going, hooks
                )
                store.write(outcome.records)  # one transaction (one batch) per prompt
                outcome.records = {}  # written: a 100,000-case suite's rows are not kept
                evaluator.forget(name)  # nor its results
                return outcome

            outcomes = hooks.map(one, candidates)
        finally:
            evaluator.close()
    status = overall([o.status for o in outcomes]) if outcomes else "passed"
    result: dict[str, Any] = {
        "run_id": run_id,
        "status": status,
        "env": env,
        "mode": hooks.mode,
        "cache_mode": evaluator.cache_mode,
        "prompts": [o.to_dict() for o in outcomes],
    }
    with store.transaction() as con:
        con.execute(
            "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?", [status, now(), run_id]
        )
        store.append_audit(
            "gate-run",
            actor,
            run_id,
            {
                "env": env,
                "status": status,
                "prompts": [
                    {
                        "name": o.name,
                        "version": o.version,
                        "content_hash": o.content_hash,
                        "status": o.status,
                    }
                    for o in outcomes
                ],
            },
            con=con,
        )
    from promptrail.reports import write_run_reports

    result["reports"] = write_run_reports(ws, store, run_id, result)
    if status in ("failed", "error"):
        from promptrail.webhooks import notify

        failed = [o.to_dict() for o in outcomes if o.status in ("failed", "error")]
        notify(
            ws,
            "gate-failed",
            {"run_id": run_id, "env": env, "status": status, "prompts": failed},
            store,
            actor,
        )
    return result
