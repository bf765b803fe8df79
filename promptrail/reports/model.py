"""What every report format shows, gathered from the store: the run, each prompt's gates
beside the baseline's scores, the bump the change calls for, cost old -> new, failing cases,
and each prompt's history for the plots.

Per prompt: ``all_cases`` (every case, in full only when it did not pass), ``failing`` (those,
the same dicts) and ``cases`` (up to ``SHOWN_CASES`` in full, failing first), so a report of
a 100,000-case suite stays small and quick."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptrail.errors import UsageError

if TYPE_CHECKING:
    from promptrail.store import Store


SHOWN_CASES = 500  # per prompt, in full in the HTML report (failing first); JUnit lists all


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def build(
    store: Store, run_id: str, root: Path | None = None, result: dict[str, Any] | None = None
) -> dict[str, Any]:
    if run_id == "latest":
        runs = store.query_dicts(
            "SELECT * FROM runs WHERE kind = 'gate' ORDER BY started_at DESC LIMIT 1"
        )
        if not runs:
            raise UsageError("no gate run in the store yet: run `promptrail gate` first")
        run_id = runs[0]["run_id"]
    else:
        runs = store.query_dicts("SELECT * FROM runs WHERE run_id = ?", [run_id])
    if not runs:
        raise UsageError(f"no run {run_id!r} in the store")
    run = runs[0]
    gate_rows = store.query_dicts(
        "SELECT * FROM gate_results WHERE run_id = ? ORDER BY prompt, started_at", [run_id]
    )
    # Every case, small (what JUnit lists and the counts need: five keys, the prompt being
    # the list a case is in), with the cases that did not pass in full (their reasons): a
    # 100,000-case run stays a few MB here.
    short = "prompt, case_id, repeat, passed, error, latency_ms"
    full = (
        "prompt, version, case_id, repeat, passed, error, latency_ms, cost_usd, "
        "vars, output, assertions, tool_calls"
    )
    where = "FROM case_results WHERE run_id = ? AND role = 'candidate'"
    cases = store.query_dicts(f"SELECT {short} {where} ORDER BY prompt, case_id, repeat", [run_id])
    failing = store.query_dicts(
        f"SELECT {full} {where} AND passed IS NOT TRUE ORDER BY prompt, case_id, repeat",
        [run_id],
    )
    # The cases the HTML report shows in full: up to SHOWN_CASES per prompt, failing first.
    shown = store.query_dicts(
        f"SELECT * FROM (SELECT {full}, row_number() OVER (PARTITION BY prompt "
        f"ORDER BY passed, case_id, repeat) AS n {where}) t WHERE n <= ? ORDER BY prompt, n",
        [run_id, SHOWN_CASES],
    )
    for c in (*failing, *shown):
        c["assertions"], c["vars"] = _json(c["assertions"]) or [], _json(c["vars"]) or {}
        c["tool_calls"] = _json(c["tool_calls"]) or []
        c["calls_text"] = "; ".join(
            f"{t.get('name')}({json.dumps(t.get('arguments'), ensure_ascii=False)})"
            for t in c["tool_calls"]
        )
    in_full = {(c["prompt"], c["case_id"], c["repeat"]): c for c in failing}
    all_cases: dict[str, list[dict[str, Any]]] = {}
    for c in cases:
        name = c.pop("prompt")
        all_cases.setdefault(name, []).append(in_full.get((name, c["case_id"], c["repeat"]), c))
    del cases
    by_prompt: dict[str, dict[str, Any]] = {}
    for g in gate_rows:
        p = by_prompt.setdefault(
            g["prompt"],
            {
                "name": g["prompt"],
                "version": g["version"],
                "content_hash": g["content_hash"],
                "gates": [],
                "lint_findings": [],
                "baseline": None,
                "cost_1k": None,
                "baseline_cost_1k": None,
            },
        )
        details = _json(g["details"]) or {}
        gate = {
            "gate": g["gate"],
            "status": g["status"],
            "score": g["score"],
            "threshold": g["threshold"],
            "summary": g["summary"],
            "baseline_score": None,
        }
        if g["gate"] == "regression" and details.get("baseline"):
            p["baseline"] = details["baseline"]
            gate["baseline_score"] = details["baseline"].get("pass_rate")
        if g["gate"] == "cost":
            p["cost_1k"] = details.get("usd_per_1k_calls")
            base = details.get("baseline") or {}
            p["baseline_cost_1k"] = base.get("usd_per_1k_calls")
            gate["baseline_score"] = base.get("usd_per_1k_calls")
        if g["gate"] == "lint":
            p["lint_findings"] = details.get("findings", [])
        if gate["score"] is not None and gate["baseline_score"] is not None:
            gate["delta"] = gate["score"] - gate["baseline_score"]
        p["gates"].append(gate)
    prompts = []
    history = _history(store, list(by_prompt))
    for name, p in by_prompt.items():
        statuses = [g["status"] for g in p["gates"]]
        p["status"] = (
            "error" if "error" in statuses else ("failed" if "failed" in statuses else "passed")
        )
        p["all_cases"] = all_cases.get(name, [])
        p["failing"] = [c for c in p["all_cases"] if not c["passed"]]
        p["cases"] = [c for c in shown if c["prompt"] == name]  # at most SHOWN_CASES
        p.update(_change(store, name, p))
        p["history"] = history.get(name, [])
        prompts.append(p)
    summary = result or {
        "run_id": run_id,
        "status": run["status"],
        "env": run["env"],
        "mode": run["mode"],
        "cache_mode": run["cache_mode"],
        "prompts": [
            {k: p[k] for k in ("name", "version", "content_hash", "status")}
            | {
                "gates": [
                    {k: g[k] for k in ("gate", "status", "score", "threshold", "summary")}
                    for g in p["gates"]
                ]
            }
            for p in prompts
        ],
    }
    return {
        "run": summary,
        "run_row": run,
        "prompts": prompts,
        "root": str(root) if root else None,
    }


def _change(store: Store, name: str, p: dict[str, Any]) -> dict[str, Any]:
    """The interface diff against the baseline: bump called for, bump made, rendered diff."""
    from promptrail import semver
    from promptrail.diff import compare

    base = p.get("baseline")
    if not base:
        return {
            "bump": None,
            "version_bump": None,
            "bump_ok": None,
            "rendered_diff": "",
            "from_version": None,
        }
    from promptrail.snapshots import from_store

    old = from_store(store, name, content_hash=base["content_hash"])
    new = from_store(store, name, content_hash=p["content_hash"])
    if old is None or new is None:
        return {
            "bump": None,
            "version_bump": None,
            "bump_ok": None,
            "rendered_diff": "",
            "from_version": base.get("version"),
        }
    diff = compare(old, new)
    made = semver.bump_between(old.version, new.version)
    return {
        "bump": diff["bump"],
        "version_bump": made,
        "from_version": old.version,
        "bump_ok": semver.BUMPS.index(made) >= semver.BUMPS.index(diff["bump"]),
        "rendered_diff": diff["rendered_diff"],
        "changes": diff["changes"],
    }


def _history(store: Store, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per prompt, pass rate and cost per version across gate runs, oldest first, for the
    plots: one query for every prompt of the run."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not names:
        return out
    rows = store.query_dicts(
        "SELECT prompt, version, min(started_at) AS first_run, avg(pass_rate) AS pass_rate, "
        "avg(usd_per_call) * 1000 AS usd_per_1k FROM pass_rates WHERE prompt IN ("
        + ", ".join("?" for _ in names)
        + ") GROUP BY prompt, version ORDER BY prompt, first_run",
        names,
    )
    for row in rows:
        out.setdefault(row.pop("prompt"), []).append(row)
    return out
