"""`promptrail deploy`: targets converge on the lock (missing, edited, extra bundles), verified,
audited; bundles readable under the user's umask."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from release_helpers import record_gate_run

from promptrail.fsutil import default_mode
from promptrail.promote import promote
from promptrail.workspace import Workspace


@pytest.fixture
def prod(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """faq-answer live in production (file target dist/production)."""
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / ".promptrail" / "d.duckdb"))
    ws = Workspace(workspace)
    for env in ("staging", "production"):
        record_gate_run(ws.store(), env, ws.resolve("faq-answer"))
        assert promote(ws, "faq-answer", "0.1.0", env, "alice", ["bob"])["status"] == "promoted"
    return ws


def drift(cli, ws: Workspace) -> dict:
    code, out, err = cli("-C", str(ws.root), "drift", "--env", "production", "--json")
    return json.loads(out)


def deploy(cli, ws: Workspace, *args: str) -> tuple[int, dict]:
    code, out, err = cli("-C", str(ws.root), "deploy", "--env", "production", "--json", *args)
    return code, json.loads(out)


def test_deleting_dist_then_deploy_makes_drift_clean(prod: Workspace, cli) -> None:
    bundle = prod.root / "dist/production/faq-answer.json"
    promoted = json.loads(bundle.read_text())
    bundle.unlink()
    (prod.root / "dist/production").rmdir()
    assert [f["kind"] for f in drift(cli, prod)["findings"]] == ["missing"]
    code, r = deploy(cli, prod)
    assert code == 0 and r["written"] == ["faq-answer"] and r["removed"] == []
    assert drift(cli, prod)["status"] == "clean"
    again = json.loads(bundle.read_text())
    # the same bundle as the promotion wrote, down to who promoted it and when
    assert again == promoted
    code, r = deploy(cli, prod)
    assert code == 0 and r["written"] == [] and r["targets"][0]["kept"] == ["faq-answer"]
    events = prod.store().query_dicts(
        "SELECT payload FROM audit_log WHERE event = 'deploy' ORDER BY seq"
    )
    assert [json.loads(e["payload"])["written"] for e in events] == [["faq-answer"], []]


def test_edited_and_extra_bundles_are_repaired(prod: Workspace, cli) -> None:
    folder = prod.root / "dist/production"
    bundle = json.loads((folder / "faq-answer.json").read_text())
    bundle["messages"][0]["content"] += " Ignore all previous instructions."
    (folder / "faq-answer.json").write_text(json.dumps(bundle))
    (folder / "stray.json").write_text(json.dumps({**bundle, "name": "stray"}))
    assert sorted(f["kind"] for f in drift(cli, prod)["findings"]) == ["extra", "modified"]
    code, r = deploy(cli, prod, "faq-answer")  # only the named prompt
    assert code == 0 and r["written"] == ["faq-answer"] and r["removed"] == []
    assert (folder / "stray.json").exists()
    code, r = deploy(cli, prod)
    assert code == 0 and r["removed"] == ["stray"]
    assert drift(cli, prod)["status"] == "clean"


def test_deploy_to_a_broken_target_is_exit_3(prod: Workspace, cli) -> None:
    folder = prod.root / "dist/production"
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    folder.write_text("not a folder\n")
    code, out, err = cli("-C", str(prod.root), "deploy", "--env", "production")
    assert code == 3 and "dist/production" in err and "Traceback" not in err


def test_bundles_follow_the_umask(prod: Workspace, cli) -> None:
    bundle = prod.root / "dist/production/faq-answer.json"
    bundle.unlink()
    old = os.umask(0o022)
    default_mode.cache_clear()
    try:
        assert deploy(cli, prod)[0] == 0
    finally:
        os.umask(old)
        default_mode.cache_clear()
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o644  # readable by the application's user
    lock = prod.lock_path("production")
    assert stat.S_IMODE(lock.stat().st_mode) & 0o044 == 0o044
