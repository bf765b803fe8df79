"""JUnit XML: per prompt, one test case per gate and one per suite case (and repeat).

A gate that failed is a ``<failure>`` and one that errored an ``<error>`` — so a gate failed
on lint or cost shows red in CI test widgets even when every case passed; a skipped gate is
``<skipped>``. Each suite carries a timestamp and the hostname. The output validates against
Jenkins' junit-10.xsd (tests/data).
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr


def _timestamp(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return str(value.strftime("%Y-%m-%dT%H:%M:%S"))
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _case_outcome(c: dict[str, Any]) -> str:
    if c["error"]:
        return "error"
    return "passed" if c["passed"] else "failed"


def junit(report: dict[str, Any]) -> str:
    row = report.get("run_row") or {}
    stamp = _timestamp(row.get("started_at"))
    host = row.get("host") or socket.gethostname() or "localhost"
    suites: list[list[str]] = []
    totals = {"tests": 0, "failed": 0, "error": 0, "skipped": 0}
    for p in report["prompts"]:
        counts = {"failed": 0, "error": 0, "skipped": 0}
        body: list[str] = []
        klass = quoteattr("promptrail." + p["name"])
        for g in p["gates"]:
            status = g["status"]
            body.append(f"    <testcase classname={klass} name={quoteattr('gate: ' + g['gate'])}>")
            message = quoteattr((g["summary"] or status)[:500])
            if status == "failed":
                body.append(
                    f'      <failure type="gate" message={message}>'
                    f"{escape(g['summary'] or '')}</failure>"
                )
            elif status == "error":
                body.append(
                    f'      <error type="gate" message={message}>{escape(g["summary"] or "")}</error>'
                )
            elif status == "skipped":
                body.append(f"      <skipped message={message}/>")
            if status in counts:
                counts[status] += 1
            body.append("    </testcase>")
        rows = p["all_cases"]
        for c in rows:
            name = c["case_id"] + (f" #{c['repeat']}" if c["repeat"] else "")
            body.append(
                f"    <testcase classname={klass} name={quoteattr(name)} "
                f'time="{(c["latency_ms"] or 0) / 1000:.3f}">'
            )
            outcome = _case_outcome(c)
            if outcome == "error":
                body.append(
                    f'      <error type="case" message={quoteattr(c["error"][:500])}>'
                    f"{escape(c['error'][:4000])}</error>"
                )
            elif outcome == "failed":
                why = "; ".join(
                    f"{a['type']}: {a['reason']}"
                    for a in c["assertions"]
                    if a["status"] != "passed"
                )
                body.append(
                    f'      <failure type="assertion" message={quoteattr(why[:500])}>'
                    f"{escape((c['output'] or '')[:4000])}</failure>"
                )
            if outcome in counts:
                counts[outcome] += 1
            body.append("    </testcase>")
        tests = len(p["gates"]) + len(rows)
        secs = sum((c["latency_ms"] or 0) for c in rows) / 1000
        head = (
            f"  <testsuite name={quoteattr(p['name'] + '@' + p['version'])} "
            f'tests="{tests}" failures="{counts["failed"]}" errors="{counts["error"]}" '
            f'skipped="{counts["skipped"]}" time="{secs:.3f}" timestamp="{stamp}" '
            f"hostname={quoteattr(str(host))}>"
        )
        suites.append([head, *body, "  </testsuite>"])
        totals["tests"] += tests
        for k in ("failed", "error", "skipped"):
            totals[k] += counts[k]
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name="promptrail {escape(report["run"]["run_id"])}" '
        f'tests="{totals["tests"]}" failures="{totals["failed"]}" errors="{totals["error"]}">',
    ]
    for s in suites:
        out += s
    out.append("</testsuites>")
    return "\n".join(out) + "\n"
