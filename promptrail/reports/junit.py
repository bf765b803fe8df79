"""JUnit XML: per prompt, one test case per gate and one per suite case (and repeat).

A gate that failed is a ``<failure>`` and one that errored an ``<error>`` — so a gate failed
on lint or cost shows red in CI test widgets even when every case passed; a skipped gate is
``<skipped>``. Each suite carries a timestamp and the hostname. The output validates against
Jenkins' junit-10.xsd (tests/data).
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
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
    """The report as JUnit XML (see ``pieces``)."""
    return "".join(pieces(report))


def pieces(report: dict[str, Any]) -> Iterator[str]:
    """The report as JUnit XML, in pieces of up to ``PIECE`` cases: counts come from the
    report's ``case_counts`` and the cases from its views on the store, so a 100,000-case
    report is written out without ever being one string."""
    row = report.get("run_row") or {}
    stamp = _timestamp(row.get("started_at"))
    host = row.get("host") or socket.gethostname() or "localhost"
    totals = {"tests": 0, "failed": 0, "error": 0, "skipped": 0}
    counts = [_counts(p) for p in report["prompts"]]
    for c in counts:
        for k in totals:
            totals[k] += c[k]
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites name="promptrail {escape(report["run"]["run_id"])}" '
        f'tests="{totals["tests"]}" failures="{totals["failed"]}" errors="{totals["error"]}">\n'
    )
    for p, c in zip(report["prompts"], counts, strict=True):
        yield from _suite(p, c, stamp, host)
    yield "</testsuites>\n"


PIECE = 1_000  # cases per piece


def _counts(p: dict[str, Any]) -> dict[str, Any]:
    """tests, failed, error, skipped and seconds of a prompt's suite: its gates and cases."""
    n = p["case_counts"]
    counts = {
        "tests": len(p["gates"]) + int(n["cases"]),
        "failed": int(n["failed"]),
        "error": int(n["errored"]),
        "skipped": 0,
        "seconds": float(n["latency_ms"] or 0) / 1000,
    }
    for g in p["gates"]:
        if g["status"] in ("failed", "error", "skipped"):
            counts[g["status"]] += 1
    return counts


def _suite(p: dict[str, Any], counts: dict[str, Any], stamp: str, host: Any) -> Iterator[str]:
    out = io.StringIO()
    out.write(
        f"  <testsuite name={quoteattr(p['name'] + '@' + p['version'])} "
        f'tests="{counts["tests"]}" failures="{counts["failed"]}" errors="{counts["error"]}" '
        f'skipped="{counts["skipped"]}" time="{counts["seconds"]:.3f}" timestamp="{stamp}" '
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
    for k, c in enumerate(p["all_cases"], 1):
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
        if k % PIECE == 0:
            yield out.getvalue()
            out = io.StringIO()
    out.write("  </testsuite>\n")
    yield out.getvalue()
