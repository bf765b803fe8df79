"""Point-in-time answers, history, and the tamper-evident audit chain."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from release_helpers import record_gate_run
from test_promote import new_version, promote_cli

from promptrail import audit
from promptrail.store import Store
from promptrail.workspace import Workspace


@pytest.fixture
def ws(workspace: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("PROMPTRAIL_DB", store_url)
    return Workspace(workspace)


def at(cli, ws: Workspace, when: datetime | str, *name: str) -> dict:
    stamp = when if isinstance(when, str) else when.isoformat()
    code, out, err = cli("-C", str(ws.root), "at", "staging", stamp, *name, "--json")
    assert code == 0, err
    return json.loads(out)


def test_at_before_between_and_after_rollback(ws: Workspace, cli, tmp_path: Path) -> None:
    store = ws.store()
    before = datetime.now(UTC)
    v1 = ws.resolve("faq-answer")
    record_gate_run(store, "staging", v1)
    assert promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")[0] == 0
    time.sleep(0.01)
    between = datetime.now(UTC)
    ws2 = new_version(ws, "0.2.0", "You answer all questions")
    record_gate_run(store, "staging", ws2.resolve("faq-answer"))
    assert promote_cli(cli, ws2, "faq-answer@0.2.0", "--to", "staging")[0] == 0
    time.sleep(0.01)
    after_v2 = datetime.now(UTC)
    assert cli("-C", str(ws.root), "rollback", "faq-answer", "--env", "staging")[0] == 0

    assert at(cli, ws, before)["prompts"] == []
    [p] = at(cli, ws, between)["prompts"]
    assert p["version"] == "0.1.0" and p["content_hash"] == v1.content_hash
    assert "You answer questions" in p["messages"][0]["content"]
    assert p["promoted_by"] == "tester@example.com"
    assert at(cli, ws, after_v2, "faq-answer")["prompts"][0]["version"] == "0.2.0"
    now = at(cli, ws, datetime.now(UTC) + timedelta(seconds=1))["prompts"][0]
    assert now["version"] == "0.1.0" and now["kind"] == "rollback"

    # from the store alone: no workspace files, no git
    for sub in ("prompts", "components", "suites", ".git"):
        shutil.rmtree(ws.root / sub)
    [p] = at(cli, ws, between)["prompts"]
    assert p["version"] == "0.1.0" and "Safety rules" in p["messages"][0]["content"]


def test_at_times_without_zone_are_utc_and_bad_times_are_exit_2(ws: Workspace, cli) -> None:
    stamp = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert at(cli, ws, stamp)["time"].endswith("+00:00")
    assert at(cli, ws, "2026-03-15T14:47:00Z")["time"] == "2026-03-15T14:47:00+00:00"
    code, out, _ = cli("-C", str(ws.root), "at", "staging", "March 15th", "--json")
    assert code == 2 and "ISO 8601" in json.loads(out)["error"]["message"]


def test_history_in_time_order(ws: Workspace, cli) -> None:
    store = ws.store()
    record_gate_run(store, "staging", ws.resolve("faq-answer"))
    promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")
    code, out, _ = cli("-C", str(ws.root), "history", "faq-answer", "--json")
    events = json.loads(out)["events"]
    kinds = [e["event"] for e in events]
    assert {"version", "gate-run", "promote"} <= set(kinds)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)


def _chain(store: Store, n: int = 5) -> None:
    for i in range(n):
        store.append_audit("test", "me", f"s{i}", {"i": i})


@pytest.mark.parametrize(
    "tamper, bad_seq",
    [
        ("UPDATE audit_log SET payload = '{\"i\":99}' WHERE seq = 3", 3),
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", 2),
        ("DELETE FROM audit_log WHERE seq = 4", 5),
        (  # in two steps: PostgreSQL checks the key row by row
            "UPDATE audit_log SET seq = -seq WHERE seq IN (2, 3); UPDATE audit_log SET seq = "
            "CASE seq WHEN -2 THEN 3 WHEN -3 THEN 2 END WHERE seq < 0",
            2,
        ),
    ],
)
def test_audit_detects_edit_delete_reorder(
    store_url: str,
    cli,
    tamper: str,
    bad_seq: int,
    monkeypatch: pytest.MonkeyPatch,
    workspace: Path,
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", store_url)
    store = Store(store_url)
    _chain(store)
    assert audit.verify(store) == {"status": "ok", "rows": 5, "first_bad_seq": None, "reason": None}
    store.execute(tamper)
    code, out, _ = cli("-C", str(workspace), "audit", "verify", "--json")
    result = json.loads(out)
    assert code == 1 and result["status"] == "broken" and result["first_bad_seq"] == bad_seq


def test_audit_export_formats(
    store_url: str, tmp_path: Path, cli, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", store_url)
    _chain(Store(store_url), 3)
    for fmt in ("csv", "json", "parquet"):
        out = tmp_path / f"audit.{fmt}"
        code, text, _ = cli(
            "-C", str(workspace), "audit", "export", "--format", fmt, "--output", str(out), "--json"
        )
        assert code == 0 and json.loads(text)["rows"] == 3 and out.stat().st_size > 0
        assert audit.verify_export(out)["status"] == "ok"
    assert json.loads((tmp_path / "audit.json").read_text())[0]["seq"] == 1


def test_secrets_never_reach_the_store(store_url: str) -> None:
    store = Store(store_url)
    store.append_audit("x", "me", "y", {"note": "key sk-proj-abcdefghijklmnopqrstuvwxyz012345"})
    store.write({"runs": [{"run_id": "r", "args": {"k": "sk-ant-api03-abcdefghijklmnopqrstu"}}]})
    dump = json.dumps(store.query("SELECT * FROM audit_log")[1], default=str) + json.dumps(
        store.query("SELECT * FROM runs")[1], default=str
    )
    assert "sk-proj-abc" not in dump and "sk-ant-api03" not in dump and "[REDACTED]" in dump
    assert audit.verify(store)["status"] == "ok"


def test_at_now_prints_approvals_and_reason_and_json_names_the_anchor(ws: Workspace, cli) -> None:
    store = ws.store()
    for env in ("staging", "production"):
        record_gate_run(store, env, ws.resolve("faq-answer"))
    assert promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")[0] == 0
    code, r = promote_cli(
        cli,
        ws,
        "faq-answer@0.1.0",
        "--to",
        "production",
        "--approved-by",
        "bob@acme.test",
        "--reason",
        "Q4 launch",
    )
    assert code == 0, r
    code, out, _ = cli("-C", str(ws.root), "at", "production", "now")
    assert code == 0
    assert "approved by: bob@acme.test" in out and "reason: Q4 launch" in out
    code, out, _ = cli("-C", str(ws.root), "at", "production", "now", "--json")
    [p] = json.loads(out)["prompts"]
    [(seq, digest)] = store.query(
        "SELECT seq, hash FROM audit_log WHERE subject = 'production/faq-answer'"
    )[1]
    assert p["audit"] == {"seq": seq, "hash": digest}
    assert p["anchor"]["file"] == "environments/production.lock"
    assert (p["anchor"]["seq"], p["anchor"]["hash"]) == (seq, digest)
    assert p["anchor"]["matches_store"] is True
    # the staging promotion is vouched for by the nearest anchor at or after its row
    [s] = json.loads(cli("-C", str(ws.root), "at", "staging", "now", "--json")[1])["prompts"]
    assert s["anchor"]["seq"] == s["audit"]["seq"] < seq
    # a store whose anchored row was rewritten no longer matches the lockfile's anchor
    from storehelp import raw_execute

    raw_execute(
        store, f"UPDATE audit_log SET hash = 'sha256:' || repeat('0', 64) WHERE seq = {int(seq)}"
    )
    [p] = json.loads(cli("-C", str(ws.root), "at", "production", "now", "--json")[1])["prompts"]
    assert p["anchor"]["matches_store"] is False
    code, _, err = cli("-C", str(ws.root), "at", "production", "yesterday-ish")
    assert code == 2 and "or `now`" in err
