"""What GitHub code scanning needs of lint.sarif, and the init workflow that uploads it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import yaml

from promptrail.reports.sarif import sarif

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-2.1.0-subset.schema.json").read_text())


def finding(rule: str, line: int | None) -> dict:
    return {
        "rule": rule,
        "severity": "error",
        "file": "prompts/support-reply.yaml",
        "line": line,
        "message": f"a {rule} finding",
        "hint": "fix it",
    }


def test_sarif_has_what_github_requires_with_uris_from_the_repository_root(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    workspace = repo / "prompt-ops"
    workspace.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    report = {
        "run": {"run_id": "gate-x"},
        "root": str(workspace),
        "prompts": [{"lint_findings": [finding("secret", 7), finding("no-suite", None)]}],
    }
    doc = json.loads(sarif(report))
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    run = doc["runs"][0]
    for rule in run["tool"]["driver"]["rules"]:
        assert rule["fullDescription"]["text"] and rule["help"]["text"]
    for result in run["results"]:
        loc = result["locations"][0]["physicalLocation"]
        assert loc["region"]["startLine"] >= 1  # every result has a region
        assert loc["artifactLocation"]["uri"] == "prompt-ops/prompts/support-reply.yaml"


def test_init_workflow_uploads_the_sarif(tmp_path: Path) -> None:
    from promptrail.scaffold import init

    init(tmp_path / "ws")
    flow = yaml.safe_load((tmp_path / "ws/.github/workflows/promptrail.yml").read_text())
    assert flow["permissions"]["security-events"] == "write"
    steps = flow["jobs"]["gate"]["steps"]
    [upload] = [
        s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif")
    ]
    assert "lint.sarif" in json.dumps(steps) and upload["with"]["sarif_file"]
