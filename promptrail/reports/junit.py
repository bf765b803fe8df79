"""JUnit XML: per prompt, one test case per gate and one per suite case (and repeat).

A gate that failed is a ``<failure>`` and one that errored an ``<error>`` — so a gate failed
on lint or cost shows red in CI test widgets even when every case passed; a skipped gate is
``<skipped>``. Each suite carries a timestamp and the hostname. The output validates against
Jenkins' junit-10.xsd (tests/data).
"""

from __future__ import annotations

import io
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
    """The report as JUnit XML. Written into one buffer, counts first (a suite's header
    needs them): a 100,000-case report is not held as 300,000 separate lines too."""
    row = report.get("run_row") or {}
    stamp = _timestamp(row.get("started_at"))
    host = row.get("host") or socket.gethostname() or "localhost"
    totals = {"tests": 0, "failed": 0, "error": 0, "skipped": 0}
    counts = [_counts(p) for p in report["prompts"]]
    for p, c in zip(report["prompts"], counts, strict=True):
        totals["tests"] += len(p["gates"]) + len(p["all_cases"])
        for k in ("failed", "error", "skipped"):
            totals[k] += c[k]
    out = io.StringIO()
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(
        f'<testsuites name="promptrail {escape(report["run"]["run_id"])}" '
        f'tests="{totals["tests"]}" failures="{totals["failed"]}" errors="{totals["error"]}">\n'
    )
    for p, c in zip(report["prompts"], counts, strict=True):
        _suite(out, p, c, stamp, host)
    out.write("</testsuites>\n")
    return out.getvalue()


def _counts(p: dict[str, Any]) -> dict[str, int]:
    counts = {"failed": 0, "error": 0, "skipped": 0}
    for g in p["gates"]:
        if g["status"] in counts:
            counts[g["status"]] += 1
    for c in p["all_cases"]:
        outcome = _case_outcome(c)
        if outcome in counts:
            counts[outcome] += 1
    return counts


def _suite(
    out: io.StringIO, p: dict[str, Any], counts: dict[str, int], stamp: str, host: Any
) -> None:
    rows = p["all_cases"]
    tests = len(p["gates"]) + len(rows)
    secs = sum((c["latency_ms"] or 0) for c in rows) / 1000
    out.write(
        f"  <testsuite name={quoteattr(p['name'] + '@' + p['version'])} "
        f'tests="{tests}" failures="{counts["failed"]}" errors="{counts["error"]}" '
        f'skipped="{counts["skipped"]}" time="{secs:.3f}" timestamp="{stamp}" '
        f"hostname={quoteattr(str(host))}>\n"
    )
    klass = quoteattr("promptrail." + p["name"])
    for g in p["gates"]:
        status = g["status"]
        out.write(f"    <testcase classname={klass} name={quoteattr('gate: ' + g['gate'])}>\n")
        message = quoteattr((g["summary"] or status)[:500])
        if status == "failed":
            out.write(
                f'      <failure type="gate" message={message}>'
                f"{escape(g['summary'] or '')}</failure>\n"
            )
        elif status == "error":
            out.write(
                f'      <error type="gate" message={message}>{escape(g["summary"] or "")}</error>\n'
            )
        elif status == "skipped":
            out.write(f"      <skipped message={message}/>\n")
        out.write("    </testcase>\n")
    for c in rows:
        name = c["case_id"] + (f" #{c['repeat']}" if c["repeat"] else "")
        out.write(
            f"    <testcase classname={klass} name={quoteattr(name)} "
            f'time="{(c["latency_ms"] or 0) / 1000:.3f}">\n'
        )
        outcome = _case_outcome(c)
        if outcome == "error":
            out.write(
                f'      <error type="case" message={quoteattr(c["error"][:500])}>'
                f"{escape(c['error'][:4000])}</error>\n"
            )
        elif outcome == "failed":
            why = "; ".join(
                f"{a['type']}: {a['reason']}" for a in c["assertions"] if a["status"] != "passed"
            )
            out.write(
                f'      <failure type="assertion" message={quoteattr(why[:500])}>'
                f"{escape((c['output'] or '')[:4000])}</failure>\n"
            )
        out.write("    </testcase>\n")
    out.write("  </testsuite>\n")
