"""Approvals taken from a pull request's reviews, against a local stand-in for GitHub's API:
only reviews of the PR's head commit, where the prompt resolves to the content promoted,
from people the environment lists as approvers, count."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import git
from release_helpers import record_gate_run

from promptrail.store import Store
from promptrail.workspace import Workspace

TOKEN = "ghp_testtoken0000000000000000000000000000"


class FakeGitHub:
    """Serves one pull request (acme/prompts#42): its head, its reviews, and teams."""

    def __init__(self) -> None:
        self.head = ""
        self.reviews: list[dict] = []
        self.teams: dict[str, list[str]] = {}
        self.seen: list[dict] = []

    def review(self, login: str, state: str, commit: str | None = None) -> None:
        self.reviews.append({"user": {"login": login}, "state": state, "commit_id": commit})

    def answer(self, path: str) -> object | None:
        route = path.split("?")[0]
        if route == "/repos/acme/prompts/pulls/42":
            return {"number": 42, "head": {"sha": self.head}}
        if route == "/repos/acme/prompts/pulls/42/reviews":
            return [{**r, "commit_id": r["commit_id"] or self.head} for r in self.reviews]
        if route.startswith("/orgs/acme/teams/") and route.endswith("/members"):
            team = route.split("/")[4]
            if team in self.teams:
                return [{"login": m} for m in self.teams[team]]
        return None


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, workspace: Path):
    fake = FakeGitHub()
    fake.head = git(workspace, "rev-parse", "HEAD").strip()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            fake.seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
            data = fake.answer(self.path)
            if data is None:
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/prompts")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / "g.duckdb"))
    yield fake
    server.shutdown()


def ready_for_production(cli, workspace: Path) -> Store:
    ws = Workspace(workspace)
    store = ws.store()
    for env in ("staging", "production"):
        record_gate_run(store, env, ws.resolve("faq-answer"))
    assert cli("-C", str(workspace), "promote", "faq-answer@0.1.0", "--to", "staging")[0] == 0
    return store


def promote_production(cli, workspace: Path, *extra: str) -> tuple[int, dict]:
    code, out, _ = cli(
        "-C", str(workspace), "promote", "faq-answer@0.1.0", "--to", "production", "--json", *extra
    )
    return code, json.loads(out)


def set_config(workspace: Path, old: str, new: str) -> None:
    cfg = workspace / "promptrail.yaml"
    cfg.write_text(cfg.read_text().replace(old, new))


def test_latest_approving_review_per_person(github) -> None:
    from promptrail.approvals import latest_reviews

    for login, state in [
        ("bob", "CHANGES_REQUESTED"),
        ("bob", "APPROVED"),  # bob changed his mind
        ("carol", "APPROVED"),
        ("carol", "COMMENTED"),  # a comment keeps the approval
        ("dave", "APPROVED"),
        ("dave", "DISMISSED"),  # dismissed: does not count
    ]:
        github.review(login, state)
    latest = latest_reviews(42, "acme/prompts")
    assert {k: v["state"] for k, v in latest.items()} == {
        "bob": "APPROVED",
        "carol": "APPROVED",
        "dave": "DISMISSED",
    }
    assert github.seen[0]["auth"] == f"Bearer {TOKEN}"


def test_reviews_of_the_head_that_holds_the_content_count(
    github, workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTRAIL_ACTOR", "github:tess")
    older = github.head
    (workspace / "NOTES.md").write_text("unrelated\n")  # the PR moves on; the prompt does not
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "notes")
    github.head = git(workspace, "rev-parse", "HEAD").strip()
    store = ready_for_production(cli, workspace)
    set_config(workspace, "approvals: 1", "approvals: 3")
    github.review("bob", "APPROVED")  # the head
    github.review("carol", "APPROVED", older)  # before the PR changed
    github.review("erin", "APPROVED", "f" * 40)  # a commit this clone does not have
    github.review("tess", "APPROVED")  # the promoter
    code, r = promote_production(cli, workspace, "--approvals-from", "github:42")
    assert code == 1 and r["status"] == "refused"
    assert "needs 3 approval(s)" in r["reason"] and "got 1 (github:bob)" in r["reason"]
    assert f"github:carol (approved commit {older[:10]}, not the pull request's head" in r["reason"]
    assert "not in this clone (git fetch origin pull/42/head)" in r["reason"]
    assert "github:tess (the person promoting does not count)" in r["reason"]

    set_config(workspace, "approvals: 3", "approvals: 1")
    code, r = promote_production(cli, workspace, "--approvals-from", "github:42")
    assert code == 0, r
    [(approvals,)] = store.query("SELECT approvals FROM promotions WHERE env = 'production'")[1]
    assert json.loads(approvals) == ["github:bob"]
    dump = json.dumps(store.query("SELECT * FROM audit_log")[1], default=str)
    assert "ghp_testtoken" not in dump and "github:carol" in dump  # ignored ones are audited


def test_a_review_of_other_content_does_not_count(github, workspace: Path, cli) -> None:
    ready_for_production(cli, workspace)
    prompt = workspace / "prompts/faq-answer.yaml"
    prompt.write_text(prompt.read_text().replace("You answer questions", "You answer anything"))
    git(workspace, "commit", "-qam", "the PR changes the prompt")
    prompt.write_text(prompt.read_text().replace("You answer anything", "You answer questions"))
    github.head = git(workspace, "rev-parse", "HEAD").strip()
    github.review("bob", "APPROVED")
    code, r = promote_production(cli, workspace, "--approvals-from", "github:42")
    assert code == 1
    assert f"at the approved commit {github.head[:10]}, faq-answer resolves to" in r["reason"]
    assert "not the sha256:" in r["reason"] and "being promoted" in r["reason"]


def test_approvers_from_a_github_team(github, workspace: Path, cli) -> None:
    ready_for_production(cli, workspace)
    set_config(workspace, "approvals: 1", "approvers: [github-team:acme/release]")
    github.teams["release"] = ["Lead"]
    github.review("bob", "APPROVED")
    code, r = promote_production(cli, workspace, "--approvals-from", "github:42")
    assert code == 1 and "github:bob (not one of production's approvers)" in r["reason"]
    github.review("lead", "APPROVED")
    code, r = promote_production(cli, workspace, "--approvals-from", "github:42")
    assert code == 0 and r["approvals"] == ["github:lead"], r


def test_github_unreachable_is_exit_3_never_an_approval(github, workspace: Path, cli, monkeypatch):
    ready_for_production(cli, workspace)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{port}")
    code, r = promote_production(cli, workspace, "--approvals-from", "github:42")
    assert code == 3 and "cannot read" in r["error"]["message"]
    assert not Store(Workspace(workspace).store_path()).query(
        "SELECT * FROM promotions WHERE env = 'production'"
    )[1]


def test_wrong_pr_and_missing_token_are_usage_errors(
    github, workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("-C", str(workspace), "promote", "faq-answer@0.1.0", "--to", "staging", "--json")
    code, out, _ = cli(*args, "--approvals-from", "github:7")
    assert code == 2 and "HTTP 404" in json.loads(out)["error"]["message"]
    monkeypatch.delenv("GITHUB_TOKEN")
    code, out, _ = cli(*args, "--approvals-from", "github:42")
    assert code == 2 and "GITHUB_TOKEN" in json.loads(out)["error"]["message"]
