"""JUnit XML: one test case per suite case (and repeat), failures with the failed assertions."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr


def junit(report: dict[str, Any]) -> str:
    cases = report["cases"]
    failures = sum(1 for c in cases if not c["passed"] and not c["error"])
    errors = sum(1 for c in cases if c["error"])
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name="promptrail {escape(report["run"]["run_id"])}" '
        f'tests="{len(cases)}" failures="{failures}" errors="{errors}">',
    ]
    for p in report["prompts"]:
        rows = p["cases"]
        f = sum(1 for c in rows if not c["passed"] and not c["error"])
        e = sum(1 for c in rows if c["error"])
        secs = sum((c["latency_ms"] or 0) for c in rows) / 1000
        out.append(
            f"  <testsuite name={quoteattr(p['name'] + '@' + p['version'])} "
            f'tests="{len(rows)}" failures="{f}" errors="{e}" time="{secs:.3f}">'
        )
        for c in rows:
            name = c["case_id"] + (f" #{c['repeat']}" if c["repeat"] else "")
            out.append(
                f"    <testcase classname={quoteattr('promptrail.' + p['name'])} "
                f'name={quoteattr(name)} time="{(c["latency_ms"] or 0) / 1000:.3f}">'
            )
            if c["error"]:
                out.append(f"      <error message={quoteattr(c['error'][:500])}/>")
            elif not c["passed"]:
                why = "; ".join(
                    f"{a['type']}: {a['reason']}"
                    for a in c["assertions"]
                    if a["status"] != "passed"
                )
                out.append(
                    f"      <failure message={quoteattr(why[:500])}>"
                    f"{escape((c['output'] or '')[:4000])}</failure>"
                )
            out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"
