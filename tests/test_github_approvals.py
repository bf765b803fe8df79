"""Approvals taken from a pull request's reviews, against a local stand-in for GitHub's API."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from release_helpers import record_gate_run

from promptrail.store import Store
from promptrail.workspace import Workspace

REVIEWS = [
    {"user": {"login": "bob"}, "state": "CHANGES_REQUESTED"},
    {"user": {"login": "bob"}, "state": "APPROVED"},  # bob changed his mind
    {"user": {"login": "carol"}, "state": "APPROVED"},
    {"user": {"login": "carol"}, "state": "COMMENTED"},  # a comment keeps the approval
    {"user": {"login": "dave"}, "state": "APPROVED"},
    {"user": {"login": "dave"}, "state": "DISMISSED"},  # dismissed: does not count
    {"user": {"login": "tester@example.com"}, "state": "APPROVED"},  # the promoter
]


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch):
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
            if not self.path.startswith("/repos/acme/prompts/pulls/42/reviews"):
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps(REVIEWS).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/prompts")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_testtoken0000000000000000000000000000")
    yield seen
    server.shutdown()


def test_latest_approving_review_per_person_counts(github) -> None:
    from promptrail.approvals import approvals_from

    assert approvals_from("github:42") == ["bob", "carol", "tester@example.com"]
    assert github[0]["auth"] == "Bearer ghp_testtoken0000000000000000000000000000"


def test_promote_with_pr_approvals(
    github, workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / "g.duckdb"))
    ws = Workspace(workspace)
    store = Store(ws.store_path())
    for env in ("staging", "production"):
        record_gate_run(store, env, ws.resolve("faq-answer"))
    assert cli("-C", str(workspace), "promote", "faq-answer@0.1.0", "--to", "staging")[0] == 0
    cfg = workspace / "promptrail.yaml"
    cfg.write_text(cfg.read_text().replace("approvals: 1", "approvals: 2"))
    code, out, _ = cli(
        "-C",
        str(workspace),
        "promote",
        "faq-answer@0.1.0",
        "--to",
        "production",
        "--approvals-from",
        "github:42",
        "--json",
    )
    assert code == 0, out
    approvals = json.loads(
        store.query("SELECT approvals FROM promotions WHERE env = 'production'")[1][0][0]
    )
    assert approvals == ["bob", "carol"]  # the promoter's own is dropped
    dump = json.dumps(store.query("SELECT * FROM audit_log")[1], default=str)
    assert "ghp_testtoken" not in dump


def test_wrong_pr_and_missing_token_are_usage_errors(
    github, workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(
        "-C",
        str(workspace),
        "promote",
        "faq-answer@0.1.0",
        "--to",
        "staging",
        "--approvals-from",
        "github:7",
        "--json",
    )
    assert code == 2 and "HTTP 404" in json.loads(out)["error"]["message"]
    monkeypatch.delenv("GITHUB_TOKEN")
    code, out, _ = cli(
        "-C",
        str(workspace),
        "promote",
        "faq-answer@0.1.0",
        "--to",
        "staging",
        "--approvals-from",
        "github:42",
        "--json",
    )
    assert code == 2 and "GITHUB_TOKEN" in json.loads(out)["error"]["message"]
