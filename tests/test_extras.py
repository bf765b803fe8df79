"""A missing optional extra is a one-line install hint (exit 2), never an ImportError.

Each case runs the real CLI in a fresh interpreter in which the extra's package cannot be
imported (``sys.modules[name] = None``, exactly what Python does for a blocked import).
.ci/core-only checks the other half on a real core-only install: the core verbs work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUN = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
from promptrail.cli import main
sys.exit(main({argv!r}))
"""


def run_without(blocked: list[str], argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    code = RUN.format(blocked=blocked, argv=argv)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_gate_without_deepeval_names_the_extra(example: Path) -> None:
    proc = run_without(["deepeval"], ["gate", "--cache", "replay", "--json"], example)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["kind"] == "missing-extra"
    assert "'deepeval' extra" in error["message"] and "uv sync --extra deepeval" in error["message"]
    assert "Traceback" not in proc.stderr


def test_gate_through_prefect_without_prefect_names_the_extra(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    proc = run_without(["prefect"], ["gate"], workspace)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "'prefect' extra" in proc.stderr and "Traceback" not in proc.stderr


def test_core_verbs_import_no_extra(workspace: Path) -> None:
    blocked = ["prefect", "deepeval", "pandas", "psycopg", "boto3"]
    for argv in (["lint"], ["lock", "--check"], ["at", "staging", "now"], ["audit", "verify"]):
        proc = run_without(blocked, argv, workspace)
        assert proc.returncode == 0, (argv, proc.stdout + proc.stderr)
