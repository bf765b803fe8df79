"""All-or-nothing promotion: a process killed after any step, or a deploy that fails, leaves
lock, targets, store and audit consistent once the next command has run (and it says what it
did). The kills are real: the promotion runs as a subprocess that SIGKILLs itself after the
step named by PROMPTRAIL_CRASH_AFTER."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from release_helpers import record_gate_run
from test_promote import new_version

from promptrail.lock import read_lock
from promptrail.promote import promote
from promptrail.recovery import STEPS, journal_path
from promptrail.runtime import check_bundle
from promptrail.workspace import Workspace

TARGETS = "    targets: [{kind: file, path: dist/staging}, {kind: file, path: dist/mirror}]\n"


@pytest.fixture
def staged(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """faq-answer 0.1.0 live in staging (two file targets); 0.2.0 gated and ready to go."""
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / ".promptrail" / "c.duckdb"))
    cfg = workspace / "promptrail.yaml"
    text = cfg.read_text()
    marker = "    gates: [lint, schema, regression, cost]\n"
    cfg.write_text(text.replace(marker, marker + TARGETS, 1))
    ws = Workspace(workspace)
    record_gate_run(ws.store(), "staging", ws.resolve("faq-answer"))
    assert promote(ws, "faq-answer", "0.1.0", "staging", "alice")["status"] == "promoted"
    ws = new_version(ws, "0.2.0", "You answer every question")
    record_gate_run(ws.store(), "staging", ws.resolve("faq-answer"))
    return ws


def state(ws: Workspace) -> dict:
    """Lock, targets, store and audit for faq-answer in staging, as one comparable value."""
    store = ws.store()
    lock = read_lock(ws.lock_path("staging"))["faq-answer"].content_hash
    live = store.query_dicts(
        "SELECT content_hash FROM live_versions WHERE env = 'staging' AND name = 'faq-answer'"
    )[0]["content_hash"]
    promotions = store.query("SELECT count(*) FROM promotions")[1][0][0]
    audited = store.query("SELECT count(*) FROM audit_log WHERE event = 'promote'")[1][0][0]
    bundles = {}
    for folder in ("dist/staging", "dist/mirror"):
        bundle = json.loads((ws.root / folder / "faq-answer.json").read_text())
        assert check_bundle(bundle, lock).ok, folder
        bundles[folder] = bundle["version"]
    return {
        "lock_is_live": lock == live,
        "promotions": promotions,
        "audited": audited,
        "bundles": bundles,
        "journal": journal_path(ws, "staging").exists(),
    }


def run(ws: Workspace, *args: str, crash: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROMPTRAIL_CRASH_AFTER": crash or ""}
    return subprocess.run(
        [sys.executable, "-m", "promptrail.cli", "-C", str(ws.root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


# after each step, the next command is a different one of the verbs that recover
NEXT = {
    "intent": ("lock", "--check"),
    "target": ("drift", "--env", "staging"),
    "deploy": ("promote", "faq-answer@0.2.0", "--to", "staging"),
    "commit": ("deploy", "--env", "staging"),
    "lock": ("drift", "--env", "staging"),
}


@pytest.mark.e2e
@pytest.mark.parametrize("step", STEPS)
def test_a_kill_after_any_step_is_settled_by_the_next_command(
    staged: Workspace, cli, step: str
) -> None:
    before = state(staged)
    killed = run(staged, "promote", "faq-answer@0.2.0", "--to", "staging", crash=step)
    assert killed.returncode == -9, killed.stderr
    assert journal_path(staged, "staging").exists()

    code, out, err = cli("-C", str(staged.root), *NEXT[step])
    committed = step in ("commit", "lock")
    said = "completed the interrupted promote" if committed else "rolled back the interrupted"
    assert said in err, (code, out, err)
    assert "Traceback" not in err

    after = state(staged)
    assert after["lock_is_live"] and not after["journal"]
    assert after["audited"] == after["promotions"]  # every promotion has its audit row
    if committed or NEXT[step][0] == "promote":  # promote re-ran it after the rollback
        assert after["promotions"] == before["promotions"] + 1
        assert after["bundles"] == {"dist/staging": "0.2.0", "dist/mirror": "0.2.0"}
    else:
        assert after == before
    events = [
        e
        for (e,) in staged.store().query(
            "SELECT event FROM audit_log WHERE event LIKE 'promotion-%' ORDER BY seq"
        )[1]
    ]
    assert events == ["promotion-completed" if committed else "promotion-rolled-back"]
    code, out, err = cli("-C", str(staged.root), "drift", "--env", "staging", "--json")
    assert code == 0 and json.loads(out)["status"] == "clean", out
    code, out, err = cli("-C", str(staged.root), "lock", "--check", "--env", "staging")
    assert code == 0, out + err


def test_a_failing_deploy_is_exit_3_and_changes_nothing(staged: Workspace, cli) -> None:
    before = state(staged)
    mirror = staged.root / "dist/mirror"
    for f in mirror.iterdir():
        f.unlink()
    mirror.rmdir()
    mirror.write_text("a file where the target folder should be\n")
    code, out, err = cli("-C", str(staged.root), "promote", "faq-answer@0.2.0", "--to", "staging")
    assert code == 3, (out, err)
    assert "Traceback" not in err and "dist/mirror" in err
    assert "rolled back" in err
    # the first target had 0.2.0 written before the second failed; it holds 0.1.0 again
    bundle = json.loads((staged.root / "dist/staging/faq-answer.json").read_text())
    assert bundle["version"] == "0.1.0"
    store = staged.store()
    assert store.query("SELECT count(*) FROM promotions")[1][0][0] == before["promotions"]
    assert read_lock(staged.lock_path("staging"))["faq-answer"].version == "0.1.0"
    assert not journal_path(staged, "staging").exists()
    events = [e for (e,) in store.query("SELECT event FROM audit_log ORDER BY seq")[1]]
    assert events[-1] == "promotion-rolled-back"
    # once the path is a folder again, the same promotion goes through
    mirror.unlink()
    code, out, err = cli("-C", str(staged.root), "promote", "faq-answer@0.2.0", "--to", "staging")
    assert code == 0, err
    assert state(staged)["bundles"] == {"dist/staging": "0.2.0", "dist/mirror": "0.2.0"}
