"""Drift: deployed targets against the lock, the lock against the store, live behaviour
against the scores a version was gated with, and alerts sent once per new finding."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from example_model import responder
from fakeserver import FakeLLMServer

from promptrail.promote import promote
from promptrail.workspace import Workspace


class Receiver:
    """A local HTTP endpoint: the webhook receiver, or an application's manifest endpoint."""

    def __init__(self, answer: bytes = b"[]", delay: float = 0.0) -> None:
        self.answer, self.delay, self.posts = answer, delay, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                time.sleep(receiver.delay)
                self.send_response(200)
                self.send_header("content-length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.posts.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live(example: Path, store_url: str, monkeypatch: pytest.MonkeyPatch, cli) -> Workspace:
    """The example with support-reply gated and promoted to staging and production."""
    monkeypatch.setenv("PROMPTRAIL_DB", store_url)
    for env in ("staging", "production"):
        code, out, err = cli(
            "-C", str(example), "gate", "support-reply", "--env", env, "--cache", "replay", "--json"
        )
        assert code == 0, err
        r = promote(Workspace(example), "support-reply", "1.4.0", env, "alice", ["bob"])
        assert r["status"] == "promoted", r
    return Workspace(example)


def drift(cli, ws: Workspace, *args: str) -> tuple[int, dict]:
    code, out, err = cli("-C", str(ws.root), "drift", "--json", *args)
    assert out, err
    return code, json.loads(out)


def kinds(result: dict) -> list[tuple[str, str]]:
    return sorted((f["name"], f["kind"]) for f in result["findings"])


def test_clean_after_promotion(live: Workspace, cli) -> None:
    code, result = drift(cli, live, "--env", "production")
    assert code == 0 and result == {**result, "status": "clean", "findings": []}


def test_hand_edited_deleted_and_extra_bundles(live: Workspace, cli) -> None:
    folder = live.root / "dist/production"
    bundle = json.loads((folder / "support-reply.json").read_text())
    bundle["messages"][0]["content"] += "\nBe extra nice."
    (folder / "support-reply.json").write_text(json.dumps(bundle))
    (folder / "rogue.json").write_text(json.dumps({**bundle, "name": "rogue"}))
    code, result = drift(cli, live, "--env", "production")
    assert code == 1 and result["status"] == "drift"
    assert kinds(result) == [("rogue", "extra"), ("support-reply", "modified")]
    (folder / "support-reply.json").unlink()
    code, result = drift(cli, live, "--env", "production")
    assert ("support-reply", "missing") in kinds(result)
    rows = live.store().query("SELECT count(*) FROM drift_findings")[1][0][0]
    assert rows == 4  # two checks, two findings each
    events = live.store().query("SELECT count(*) FROM audit_log WHERE event = 'drift-finding'")[1][
        0
    ][0]
    assert events == 4


def test_hand_edited_lockfile_is_drift(live: Workspace, cli) -> None:
    lock = live.lock_path("staging")
    lock.write_text(
        lock.read_text()
        .replace('version: "1.4.0"', 'version: "1.4.9"')
        .replace('content_hash: "sha256:', 'content_hash: "sha256:f')
    )
    code, result = drift(cli, live, "--env", "staging")
    assert code == 1 and kinds(result) == [("support-reply", "unrecorded")]


@pytest.mark.parametrize(
    "answer, delay, kind, code",
    [
        (None, 0.0, None, 0),  # tells the truth
        (
            b'[{"name": "support-reply", "version": "1.3.0", "content_hash": "sha256:old"}]',
            0.0,
            "version-mismatch",
            1,
        ),  # lies
        (b"<html>oops</html>", 0.0, "garbage", 1),
        (b'{"prompts": "nope"}', 0.0, "garbage", 1),
        (b"[]", 3.0, "unreachable", 3),  # times out
    ],
)
def test_http_target(live: Workspace, cli, answer, delay, kind, code) -> None:
    truth = json.dumps(
        [
            {
                "name": "support-reply",
                "version": "1.4.0",
                "content_hash": live.resolve("support-reply").content_hash,
            }
        ]
    ).encode()
    app = Receiver(answer if answer is not None else truth, delay)
    cfg = live.root / "promptrail.yaml"
    cfg.write_text(
        cfg.read_text().replace(
            "      - {kind: file, path: dist/production}",
            f"      - {{kind: file, path: dist/production}}\n"
            f"      - {{kind: http, url: '{app.url}', timeout: 1}}",
        )
    )
    try:
        got, result = drift(cli, Workspace(live.root), "--env", "production")
    finally:
        app.close()
    assert got == code
    assert [f["kind"] for f in result["findings"]] == ([kind] if kind else [])


def test_unreachable_http_target_is_operational(live: Workspace, cli) -> None:
    cfg = live.root / "promptrail.yaml"
    cfg.write_text(
        cfg.read_text().replace(
            "      - {kind: file, path: dist/production}",
            "      - {kind: http, url: 'http://127.0.0.1:9/', timeout: 1}",
        )
    )
    code, result = drift(cli, Workspace(live.root), "--env", "production")
    assert code == 3 and result["operational"] and result["status"] == "drift"


def test_webhook_gets_one_alert_per_new_finding(live: Workspace, cli) -> None:
    hook = Receiver()
    cfg = live.root / "promptrail.yaml"
    cfg.write_text(cfg.read_text() + f"alerts: {{webhook: '{hook.url}'}}\n")
    try:
        (live.root / "dist/production/support-reply.json").unlink()
        drift(cli, live, "--env", "production")
        drift(cli, live, "--env", "production")  # same finding: no new alert
        assert len(hook.posts) == 1
        assert hook.posts[0]["finding"]["kind"] == "missing"
        extra = live.root / "dist/production/other.json"
        extra.write_text(
            json.dumps({"name": "other", "content_hash": "sha256:x", "messages": None})
        )
        drift(cli, live, "--env", "production")
        assert [p["finding"]["kind"] for p in hook.posts] == ["missing", "extra"]
    finally:
        hook.close()


def test_sweep_catches_a_silent_model_change(
    live: Workspace, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = responder(live.root)
    with FakeLLMServer(responder=answer) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, result = drift(cli, live, "--env", "production", "--sweep")
        assert code == 0, result
        # the provider changes its model under us: urgent tickets come back as low priority
        server.responder = lambda body, proto: (
            answer(body, proto).replace('"urgent"', '"low"').replace('"high"', '"low"')
        )
        code, result = drift(cli, live, "--env", "production", "--sweep")
    assert code == 1
    [finding] = result["findings"]
    assert finding["kind"] == "behaviour" and finding["name"] == "support-reply"
    assert "100.0% when gated" in finding["detail"]


def test_sweep_with_provider_down_is_not_clean(
    live: Workspace, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-x")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    cfg = live.root / "promptrail.yaml"
    cfg.write_text(
        cfg.read_text().replace(
            "openai: {concurrency: 16}", "openai: {concurrency: 16, backoff: 0.01}"
        )
    )
    code, result = drift(cli, Workspace(live.root), "--env", "production", "--sweep")
    assert code == 3 and result["findings"][0]["kind"] == "provider-error"


def test_sweep_catches_a_model_change_after_a_pr_gated_against_the_live_version(
    live: Workspace, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The normal PR workflow gates a newer candidate with the live version as baseline; the
    live version's newest results are then baseline rows, and the sweep still judges it."""
    prompt = live.root / "prompts/support-reply.yaml"
    prompt.write_text(prompt.read_text().replace("You are a support agent", "You are an agent"))
    code, _, err = cli("-C", str(live.root), "bump", "support-reply", "--patch")
    assert code == 0, err
    answer = responder(live.root)
    with FakeLLMServer(responder=answer) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, out, err = cli(
            "-C", str(live.root), "gate", "support-reply", "--env", "production", "--json"
        )
        gated = json.loads(out)
        rows = live.store().query_dicts(
            "SELECT DISTINCT role, version FROM case_results WHERE run_id = ?", [gated["run_id"]]
        )
        assert {"role": "baseline", "version": "1.4.0"} in rows, rows
        code, result = drift(cli, live, "--env", "production", "--sweep")
        assert code == 0, result
        [item] = result["swept"]
        assert item["version"] == "1.4.0" and item["status"] == "ok"
        assert item["baseline_run"] == gated["run_id"]
        server.responder = lambda body, proto: (
            answer(body, proto).replace('"urgent"', '"low"').replace('"high"', '"low"')
        )
        code, result = drift(cli, live, "--env", "production", "--sweep")
    assert code == 1, result
    [finding] = result["findings"]
    assert finding["kind"] == "behaviour" and finding["name"] == "support-reply"
    # the sweep's own case results are stored as a run of kind sweep
    stored = live.store().query_dicts(
        "SELECT r.kind, count(*) AS n, sum(CASE WHEN c.passed THEN 1 ELSE 0 END) AS ok "
        "FROM case_results c JOIN runs r USING (run_id) WHERE run_id = ? GROUP BY r.kind",
        [result["run_id"]],
    )
    assert stored[0]["kind"] == "sweep" and stored[0]["n"] > stored[0]["ok"]


def test_sweep_reports_a_version_with_nothing_to_compare_as_such(
    live: Workspace, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    live.store().execute("DELETE FROM case_results")
    with FakeLLMServer(responder=responder(live.root)) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, out, err = cli("-C", str(live.root), "drift", "--env", "production", "--sweep")
    assert code == 1, out + err
    assert "swept production: support-reply 1.4.0: no-baseline" in out
    assert "drift clean" not in out
