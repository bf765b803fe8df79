"""Webhooks: one signed POST per event, retried, never failing the promotion; bad config is
exit 2 with file and line; the legacy alerts.webhook still works and lint says to move it."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from release_helpers import record_gate_run

from promptrail.workspace import Workspace

SECRET = "s3cr3t-shared-with-the-receiver"


class Receiver:
    """A local webhook endpoint answering each POST with the next status of ``statuses``."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.posts: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.posts.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def configure(ws_root: Path, url: str, events: str = "[promote, rollback, apply]") -> None:
    cfg = ws_root / "promptrail.yaml"
    cfg.write_text(
        cfg.read_text()
        + f"webhooks:\n  - url: {url}\n    events: {events}\n    secret_env: HOOK_SECRET\n"
        + "    timeout: 5\n"
    )


@pytest.fixture
def ws(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / ".promptrail" / "w.duckdb"))
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    ws = Workspace(workspace)
    record_gate_run(ws.store(), "staging", ws.resolve("faq-answer"))
    return ws


def promote(cli, ws: Workspace) -> tuple[int, str, str]:
    return cli("-C", str(ws.root), "promote", "faq-answer@0.1.0", "--to", "staging")


def test_a_promotion_sends_one_webhook_whose_signature_verifies(
    ws: Workspace, receiver: Receiver, cli
) -> None:
    configure(ws.root, receiver.url)
    code, out, err = promote(cli, ws)
    assert code == 0, err
    assert len(receiver.posts) == 1
    headers, body = receiver.posts[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Promptrail-Signature"], expected)
    wrong = "sha256=" + hmac.new(b"another secret", body, hashlib.sha256).hexdigest()
    assert headers["X-Promptrail-Signature"] != wrong
    event = json.loads(body)
    assert event["event"] == "promote" and event["name"] == "faq-answer"
    assert event["version"] == "0.1.0" and event["env"] == "staging"
    assert SECRET not in body.decode()
    code, out, err = promote(cli, ws)  # already live: nothing happened, nothing sent
    assert code == 0 and len(receiver.posts) == 1


def test_a_failing_receiver_is_retried(ws: Workspace, cli) -> None:
    flaky = Receiver([503, 500])
    try:
        configure(ws.root, flaky.url)
        code, out, err = promote(cli, ws)
        assert code == 0, err
        assert len(flaky.posts) == 3  # two failures, then delivered
        assert len({body for _, body in flaky.posts}) == 1  # the same delivery each time
    finally:
        flaky.close()
    failed = ws.store().query("SELECT count(*) FROM audit_log WHERE event = 'webhook-failed'")
    assert failed[1] == [(0,)]


def test_an_unreachable_receiver_never_fails_the_promotion(ws: Workspace, cli) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    configure(ws.root, f"http://127.0.0.1:{port}/hook?token=hunter2")
    code, out, err = promote(cli, ws)
    assert code == 0, err
    assert "webhook http://127.0.0.1" in err and "failed" in err
    rows = ws.store().query_dicts(
        "SELECT subject, payload FROM audit_log WHERE event = 'webhook-failed'"
    )
    assert len(rows) == 1 and rows[0]["subject"] == f"http://127.0.0.1:{port}"
    assert "hunter2" not in rows[0]["payload"]  # the URL's token is not recorded
    assert json.loads(rows[0]["payload"])["event"] == "promote"


def test_a_missing_secret_is_a_failed_delivery_not_an_unsigned_one(
    ws: Workspace, receiver: Receiver, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOK_SECRET")
    configure(ws.root, receiver.url)
    code, out, err = promote(cli, ws)
    assert code == 0 and receiver.posts == []
    assert "HOOK_SECRET is not set" in err


def test_a_failed_gate_is_an_event(ws: Workspace, receiver: Receiver, cli) -> None:
    configure(ws.root, receiver.url, "[gate-failed]")
    cfg = ws.root / "promptrail.yaml"
    cfg.write_text(cfg.read_text().replace("lint: {max_tokens: 4000}", "lint: {max_tokens: 5}"))
    code, out, err = cli("-C", str(ws.root), "gate", "--env", "staging", "--json")
    assert code == 1, err
    (headers, body) = receiver.posts[0]
    event = json.loads(body)
    assert event["event"] == "gate-failed" and event["prompts"][0]["name"] == "faq-answer"
    assert len(receiver.posts) == 1


def test_an_unknown_event_is_exit_2_with_file_and_line(ws: Workspace, cli) -> None:
    configure(ws.root, "https://hooks.example.com/x", "[promote, deployed]")
    code, out, err = cli("-C", str(ws.root), "lock", "--check")
    line = cfg_line(ws.root, "events: [promote, deployed]")
    assert code == 2 and f"promptrail.yaml:{line}:" in err and "deployed" in err


def cfg_line(root: Path, text: str) -> int:
    lines = (root / "promptrail.yaml").read_text().splitlines()
    return next(i for i, s in enumerate(lines, 1) if text in s)


def test_legacy_alerts_webhook_works_and_lint_says_to_move_it(
    ws: Workspace, receiver: Receiver, cli
) -> None:
    cfg = ws.root / "promptrail.yaml"
    cfg.write_text(cfg.read_text() + f"alerts:\n  webhook: {receiver.url}\n")
    code, out, err = cli("-C", str(ws.root), "lint")
    assert f"promptrail.yaml:{cfg_line(ws.root, 'webhook:')}" in out
    assert "deprecated-alerts-webhook" in out and "webhooks:" in out
    code, out, err = promote(cli, ws)
    assert code == 0 and receiver.posts == []  # the legacy hook only ever got drift alerts
