"""SARIF 2.1.0 for lint findings, so code-scanning UIs annotate the prompt file lines."""

from __future__ import annotations

import json
from typing import Any

from promptrail import __version__

LEVELS = {"error": "error", "warning": "warning"}


def sarif(report: dict[str, Any]) -> str:
    findings = [f for p in report["prompts"] for f in p.get("lint_findings", [])]
    rules = sorted({f["rule"] for f in findings})
    results = []
    for f in findings:
        location: dict[str, Any] = {
            "physicalLocation": {"artifactLocation": {"uri": f["file"], "uriBaseId": "%SRCROOT%"}}
        }
        if f.get("line"):
            location["physicalLocation"]["region"] = {"startLine": int(f["line"])}
        results.append(
            {
                "ruleId": f["rule"],
                "ruleIndex": rules.index(f["rule"]),
                "level": LEVELS.get(f["severity"], "note"),
                "message": {"text": f"{f['message']} (fix: {f['hint']})"},
                "locations": [location],
            }
        )
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "promptrail",
                        "version": __version__,
                        "informationUri": "https://github.com/promptrail/promptrail",
                        "rules": [
                            {"id": r, "name": r, "shortDescription": {"text": r}} for r in rules
                        ],
                    }
                },
                "automationDetails": {"id": f"promptrail/{report['run']['run_id']}"},
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
