"""The same gate flow through a real Prefect server: a flow run, tasks per prompt and gate,
and the same rows in the store as the in-process run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port

from promptrail.store import Store

# one xdist worker runs every test of the Prefect server (one start per run: --dist loadgroup)
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect-server")]


def run_gate(example: Path, db: Path, extra_env: dict[str, str]) -> dict:
    env = {**os.environ, "PROMPTRAIL_DB": str(db), **extra_env}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "promptrail.cli",
            "-C",
            str(example),
            "gate",
            "--json",
            "--cache",
            "replay",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def rows(db: Path) -> set[tuple]:
    store = Store(db)
    gates = store.query(
        "SELECT prompt, version, content_hash, gate, status, score FROM gate_results"
    )[1]
    cases = store.query("SELECT prompt, case_id, passed, output FROM case_results")[1]
    return set(gates) | set(cases)


def test_prefect_mode_records_what_in_process_records(
    example: Path, tmp_path: Path, prefect_api
) -> None:
    url, home = prefect_api
    plain = run_gate(example, tmp_path / "plain.duckdb", {})
    flowed = run_gate(
        example, tmp_path / "prefect.duckdb", {"PREFECT_API_URL": url, "PREFECT_HOME": str(home)}
    )
    assert plain["mode"] == "in-process" and flowed["mode"] == "prefect"
    assert flowed["status"] == plain["status"] == "passed"
    assert rows(tmp_path / "plain.duckdb") == rows(tmp_path / "prefect.duckdb")
    # Prefect recorded the flow run and a task per prompt and per gate
    req = urllib.request.Request(
        url + "/task_runs/filter",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        names = {t["name"] for t in json.load(resp)}
    assert "gate:support-reply" in names
    assert any(n.startswith("regression:support-reply") for n in names)


def test_unreachable_prefect_api_is_exit_3(example: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PROMPTRAIL_DB": str(tmp_path / "x.duckdb"),
        "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "promptrail.cli",
            "-C",
            str(example),
            "gate",
            "--json",
            "--cache",
            "replay",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["error"]["kind"] == "operational"


def test_promote_and_sweep_flows_run_through_prefect(
    workspace: Path, tmp_path: Path, prefect_api
) -> None:
    from release_helpers import record_gate_run

    from promptrail.workspace import Workspace

    url, home = prefect_api
    db = tmp_path / "flows.duckdb"
    ws = Workspace(workspace)
    record_gate_run(Store(db), "staging", ws.resolve("faq-answer"))
    env = {
        **os.environ,
        "PROMPTRAIL_DB": str(db),
        "PREFECT_API_URL": url,
        "PREFECT_HOME": str(home),
    }
    code = (
        "import json, sys\n"
        "from flows.promote import promote_flow\n"
        "from flows.sweep import sweep_flow\n"
        "p = promote_flow('faq-answer@0.1.0', 'staging', workspace=sys.argv[1], "
        "actor='release-bot')\n"
        "s = sweep_flow(workspace=sys.argv[1], env='staging', sweep=False)\n"
        "print(json.dumps({'promote': p['status'], 'drift': s['status']}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(workspace)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "promote": "promoted",
        "drift": "clean",
    }
    assert Store(db).query("SELECT actor, kind FROM promotions")[1] == [("release-bot", "promote")]
    # without an actor parameter a flow acts as whoever runs it (PROMPTRAIL_ACTOR here)
    assert Store(db).query("SELECT actor FROM runs WHERE kind = 'drift'")[1] == [
        ("tester@example.com",)
    ]


def test_sweep_notifies_a_prefect_notification_block(
    workspace: Path, tmp_path: Path, prefect_api
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from release_helpers import record_gate_run

    from promptrail.promote import promote
    from promptrail.workspace import Workspace

    received: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            received.append(self.rfile.read(int(self.headers["content-length"])))
            self.send_response(200)
            self.end_headers()

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url, home = prefect_api
    db = tmp_path / "alerts.duckdb"
    env = {
        **os.environ,
        "PROMPTRAIL_DB": str(db),
        "PREFECT_API_URL": url,
        "PREFECT_HOME": str(home),
    }
    os.environ["PROMPTRAIL_DB"] = str(db)
    try:
        ws = Workspace(workspace)
        for e in ("staging", "production"):
            record_gate_run(Store(db), e, ws.resolve("faq-answer"))
            assert promote(ws, "faq-answer", "0.1.0", e, "alice", ["bob"])["status"] == "promoted"
    finally:
        del os.environ["PROMPTRAIL_DB"]
    (workspace / "dist/production/faq-answer.json").unlink()  # drift: missing bundle
    cfg = workspace / "promptrail.yaml"
    cfg.write_text(cfg.read_text() + "alerts: {prefect_block: custom-webhook/promptrail-ops}\n")
    code = (
        "import json, sys\n"
        "from prefect.blocks.notifications import CustomWebhookNotificationBlock as B\n"
        f"B(name='ops', url='http://127.0.0.1:{hook.server_address[1]}/', "
        "json_data={'text': '{{subject}}: {{body}}'}, allow_private_urls=True)"
        ".save('promptrail-ops', overwrite=True)\n"
        "from flows.sweep import sweep_flow\n"
        "r = sweep_flow(workspace=sys.argv[1], env='production', sweep=False)\n"
        "print(json.dumps({'status': r['status'], 'notified': r.get('block_notified')}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(workspace)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    hook.shutdown()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"status": "drift", "notified": 1}
    [body] = received
    assert b"faq-answer: missing" in body


def api(url: str, path: str, body: dict) -> list[dict]:
    req = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return list(json.load(resp))


def test_a_failed_gate_is_a_failed_flow_run_with_artifacts(
    example: Path, tmp_path: Path, prefect_api
) -> None:
    url, home = prefect_api
    prompt = example / "prompts/ticket-router.yaml"
    prompt.write_text(
        prompt.read_text().replace(
            "You route support tickets",
            "Use key sk-proj-abcdefghijklmnopqrstuvwx01. You route support tickets",
        )
    )
    prompt.write_text(
        re.sub(r"version: (\d+)\.(\d+)\.(\d+)", r"version: \1.\2.99", prompt.read_text())
    )
    env = {
        **os.environ,
        "PROMPTRAIL_DB": str(tmp_path / "failed.duckdb"),
        "PREFECT_API_URL": url,
        "PREFECT_HOME": str(home),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "promptrail.cli", "-C", str(example), "gate", "ticket-router"]
        + ["--json", "--cache", "replay"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "failed" and result["mode"] == "prefect"
    # the newest flow run started from the CLI (the session's server also holds deployments,
    # whose scheduled runs sort first)
    runs = api(
        url,
        "/flow_runs/filter",
        {
            "sort": "START_TIME_DESC",
            "limit": 1,
            "flow_runs": {"deployment_id": {"is_null_": True}},
        },
    )
    assert runs[0]["state_type"] == "FAILED", runs[0]["state"]
    assert result["run_id"] in runs[0]["state"]["message"]
    artifacts = api(
        url,
        "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [runs[0]["id"]]}}},
    )
    by_key = {a["key"]: a for a in artifacts}
    assert set(by_key) == {"promptrail-gate-table", "promptrail-gate-report"}
    assert all(a["type"] == "markdown" for a in artifacts)
    assert "| ticket-router |" in by_key["promptrail-gate-table"]["data"]
    assert "| lint | failed |" in by_key["promptrail-gate-table"]["data"]
    assert "sk-proj-abcdef" not in json.dumps(artifacts)
