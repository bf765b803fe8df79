"""SARIF 2.1.0 for lint findings, in the shape GitHub code scanning requires: every rule has a
``fullDescription`` and ``help``, every result a region (line 1 when a finding has no line),
and every URI is relative to the repository root (a workspace in a subfolder of the repository
is prefixed with that folder). Upload it with ``github/codeql-action/upload-sarif``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from promptrail import __version__

LEVELS = {"error": "error", "warning": "warning"}

# What each built-in lint rule checks (a custom rule falls back to its first message).
RULES = {
    "component-call-form": "A component is included with anything but a plain name.",
    "unused-component": "A component declared in `uses` is never included.",
    "missing-component": "A prompt includes a component that has no file.",
    "undeclared-component": "A prompt includes a component it does not declare in `uses`.",
    "component-cycle": "Components include each other in a cycle.",
    "component-range": "No component version matches the range declared in `uses`.",
    "template-syntax": "A message or component template does not parse as Jinja2.",
    "undeclared-variable": "A template uses a variable that the input_schema does not declare.",
    "unused-variable": "The input_schema declares a variable that no template uses.",
    "invalid-json-schema": "The input or output schema is not a valid JSON Schema.",
    "output-schema-without-json": "The prompt has an output_schema but never asks for JSON.",
    "secret": "A prompt or component contains what looks like a secret (an API key, a token).",
    "token-budget": "The rendered prompt exceeds the token budget.",
    "no-suite": "The prompt has no eval suite.",
    "provider-roles": "The messages use roles the provider does not accept in that order.",
    "orphan-component": "A component is used by no prompt.",
}


def repo_prefix(root: str | None) -> str:
    """The workspace's folder inside its git repository ('' at the top or outside git)."""
    if not root:
        return ""
    proc = subprocess.run(
        ["git", "-C", root, "rev-parse", "--show-prefix"], capture_output=True, text=True
    )
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _rule(rule: str, example: dict[str, Any]) -> dict[str, Any]:
    description = RULES.get(rule) or f"promptrail lint: {example['message']}"
    return {
        "id": rule,
        "name": "".join(part.title() for part in rule.split("-")),
        "shortDescription": {"text": description},
        "fullDescription": {"text": description},
        "help": {
            "text": f"{description} Fix: {example['hint']}.",
            "markdown": f"{description}\n\n**Fix:** {example['hint']}.",
        },
        "defaultConfiguration": {"level": LEVELS.get(example["severity"], "note")},
    }


def sarif(report: dict[str, Any]) -> str:
    findings = [f for p in report["prompts"] for f in p.get("lint_findings", [])]
    first: dict[str, dict[str, Any]] = {}
    for f in findings:
        first.setdefault(f["rule"], f)
    rules = sorted(first)
    prefix = repo_prefix(report.get("root"))
    results = []
    for f in findings:
        uri = (Path(prefix) / f["file"]).as_posix() if prefix else f["file"]
        results.append(
            {
                "ruleId": f["rule"],
                "ruleIndex": rules.index(f["rule"]),
                "level": LEVELS.get(f["severity"], "note"),
                "message": {"text": f"{f['message']} (fix: {f['hint']})"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                            "region": {"startLine": max(1, int(f.get("line") or 1))},
                        }
                    }
                ],
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
                        "rules": [_rule(r, first[r]) for r in rules],
                    }
                },
                "automationDetails": {"id": f"promptrail/{report['run']['run_id']}"},
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
