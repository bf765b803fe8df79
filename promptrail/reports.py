"""Run reports: written to ``reports/out/<run_id>/`` after every gate run, atomically.

``run.json`` is the ``gate --json`` document; ``report.md`` reads well as a pull-request
comment; ``junit.xml`` has one test case per suite case so CI shows failures natively.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from promptrail.fsutil import write_atomic


def out_dir(ws: Any, run_id: str) -> Path:
    return ws.root / "reports" / "out" / run_id


def write_run_reports(ws: Any, store: Any, run_id: str, result: dict[str, Any]) -> dict[str, str]:
    cases = _cases(store, run_id)
    folder = out_dir(ws, run_id)
    paths = {"json": folder / "run.json", "md": folder / "report.md",
             "junit": folder / "junit.xml"}
    write_atomic(paths["json"], json.dumps(result, indent=2, default=str) + "\n")
    write_atomic(paths["md"], markdown(result, cases))
    write_atomic(paths["junit"], junit(result, cases))
    return {k: str(v.relative_to(ws.root)) for k, v in paths.items()}


def load_run(store: Any, run_id: str) -> dict[str, Any]:
    """A recorded run in the shape of ``gate --json``."""
    from promptrail.errors import UsageError

    runs = store.query_dicts("SELECT * FROM runs WHERE run_id = ?", [run_id])
    if not runs:
        raise UsageError(f"no run {run_id!r} in the store")
    run = runs[0]
    gates = store.query_dicts("SELECT * FROM gate_results WHERE run_id = ? ORDER BY prompt, "
                              "started_at", [run_id])
    prompts: dict[str, dict[str, Any]] = {}
    for g in gates:
        p = prompts.setdefault(g["prompt"], {"name": g["prompt"], "version": g["version"],
                                             "content_hash": g["content_hash"], "gates": []})
        p["gates"].append({"gate": g["gate"], "status": g["status"], "score": g["score"],
                           "threshold": g["threshold"], "summary": g["summary"]})
    for p in prompts.values():
        statuses = [g["status"] for g in p["gates"]]
        p["status"] = "error" if "error" in statuses else (
            "failed" if "failed" in statuses else "passed")
    return {"run_id": run_id, "status": run["status"], "env": run["env"], "mode": run["mode"],
            "cache_mode": run["cache_mode"], "prompts": list(prompts.values())}


def render_report(ws: Any, run_id: str, fmt: str) -> str:
    from promptrail.store import Store

    store = Store(ws.store_path())
    result = load_run(store, run_id)
    cases = _cases(store, run_id)
    if fmt == "json":
        return json.dumps(result, indent=2, default=str) + "\n"
    return {"md": markdown, "junit": junit}[fmt](result, cases)


def _cases(store: Any, run_id: str) -> list[dict[str, Any]]:
    return store.query_dicts(
        "SELECT prompt, version, role, case_id, repeat, passed, error, output, latency_ms, "
        "cost_usd, assertions FROM case_results WHERE run_id = ? AND role = 'candidate' "
        "ORDER BY prompt, case_id, repeat", [run_id])


def _assertions(row: dict[str, Any]) -> list[dict[str, Any]]:
    a = row.get("assertions")
    return json.loads(a) if isinstance(a, str) else (a or [])


def markdown(result: dict[str, Any], cases: list[dict[str, Any]]) -> str:
    icon = {"passed": "✅", "failed": "❌", "error": "⚠️", "skipped": "⏭️"}
    lines = [f"## promptrail gate {icon.get(result['status'], '')} {result['status']}",
             "", f"Run `{result['run_id']}` against **{result['env']}** "
             f"({result.get('mode', '')}, cache {result.get('cache_mode', '')}).", ""]
    for p in result["prompts"]:
        lines += [f"### {icon.get(p['status'], '')} {p['name']} {p['version']}",
                  f"`{p['content_hash']}`", "", "| gate | status | score | threshold | summary |",
                  "|---|---|---|---|---|"]
        for g in p["gates"]:
            score = "" if g["score"] is None else f"{g['score']:.4g}"
            thr = "" if g["threshold"] is None else f"{g['threshold']:.4g}"
            summary = str(g["summary"]).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {g['gate']} | {icon.get(g['status'], '')} {g['status']} | {score} "
                         f"| {thr} | {summary} |")
        failing = [c for c in cases if c["prompt"] == p["name"] and not c["passed"]]
        if failing:
            lines += ["", "<details><summary>Failing cases "
                      f"({len(failing)})</summary>", ""]
            for c in failing[:20]:
                why = c["error"] or "; ".join(f"{a['type']}: {a['reason']}"
                                              for a in _assertions(c) if a["status"] != "passed")
                out = (c["output"] or "")[:300].replace("\n", " ")
                lines.append(f"- **{c['case_id']}** (repeat {c['repeat']}): {why}  \n"
                             f"  output: `{out}`")
            lines += ["", "</details>"]
        lines.append("")
    return "\n".join(lines) + "\n"


def junit(result: dict[str, Any], cases: list[dict[str, Any]]) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="promptrail" tests="{len(cases)}">']
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for c in cases:
        by_prompt.setdefault(c["prompt"], []).append(c)
    for p in result["prompts"]:
        rows = by_prompt.get(p["name"], [])
        failures = sum(1 for c in rows if not c["passed"] and not c["error"])
        errors = sum(1 for c in rows if c["error"])
        out.append(f'  <testsuite name={quoteattr(p["name"] + "@" + p["version"])} '
                   f'tests="{len(rows)}" failures="{failures}" errors="{errors}">')
        for c in rows:
            secs = (c["latency_ms"] or 0) / 1000
            name = c["case_id"] + (f" #{c['repeat']}" if c["repeat"] else "")
            out.append(f'    <testcase classname={quoteattr(p["name"])} name={quoteattr(name)} '
                       f'time="{secs:.3f}">')
            if c["error"]:
                out.append(f'      <error message={quoteattr(c["error"][:500])}/>')
            elif not c["passed"]:
                why = "; ".join(f"{a['type']}: {a['reason']}" for a in _assertions(c)
                                if a["status"] != "passed")
                out.append(f'      <failure message={quoteattr(why[:500])}>'
                           f'{escape((c["output"] or "")[:2000])}</failure>')
            out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"
