"""What a promotion needs: a finished gate run, live evidence where the environment requires
it (a replayed or forged recording is refused), and one version naming one content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeserver import FakeLLMServer

from promptrail.promote import promote
from promptrail.store import Store
from promptrail.workspace import Workspace

pytestmark = pytest.mark.e2e

ANSWER = json.dumps({"answer": "Reset your password from the login page.", "confident": True})


@pytest.fixture
def served(workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PROMPTRAIL_DB", str(tmp_path / "s.duckdb"))
    with FakeLLMServer(responder=lambda body, proto: ANSWER) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        yield workspace


def gate(cli, root: Path, *args: str) -> tuple[int, dict]:
    code, out, err = cli("-C", str(root), "gate", "faq-answer", "--json", *args)
    assert out, err
    return code, json.loads(out)


def test_an_incomplete_run_authorises_nothing(served: Path, cli) -> None:
    code, result = gate(cli, served, "--env", "staging")
    assert code == 0, result
    store = Store(served.parent / "s.duckdb")
    store.execute("UPDATE runs SET status = 'incomplete' WHERE run_id = ?", [result["run_id"]])
    r = promote(Workspace(served), "faq-answer", "0.1.0", "staging", "alice")
    assert r["status"] == "refused"
    assert "no gate run for staging" in r["reason"] and "did not finish" in r["reason"]
    store.execute("UPDATE runs SET status = 'passed' WHERE run_id = ?", [result["run_id"]])
    assert promote(Workspace(served), "faq-answer", "0.1.0", "staging", "alice")["status"] == (
        "promoted"
    )


def test_production_refuses_a_recorded_pass_and_takes_a_live_one(served: Path, cli) -> None:
    ws = Workspace(served)
    assert ws.config.environment("production").required_evidence() == "live"
    assert gate(cli, served, "--env", "staging")[0] == 0
    assert promote(ws, "faq-answer", "0.1.0", "staging", "alice")["status"] == "promoted"
    # anyone who can edit the recordings can make every gate pass without a model
    cache = served / ".promptrail/cache.jsonl"
    rows = [json.loads(line) for line in cache.read_text().splitlines()]
    for row in rows:
        row["response"]["text"] = json.dumps(
            {"answer": "forged: no model saw the password question", "confident": True}
        )
    cache.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, result = gate(cli, served, "--env", "production", "--cache", "replay")
    assert code == 0 and result["status"] == "passed"
    r = promote(ws, "faq-answer", "0.1.0", "production", "alice", ["bob"])
    assert r["status"] == "refused", r
    assert "requires live evidence" in r["reason"] and "--cache off" in r["reason"]
    # every case records where its output came from
    cached = Store(served.parent / "s.duckdb").query(
        "SELECT DISTINCT cached FROM case_results WHERE run_id = ?", [result["run_id"]]
    )[1]
    assert cached == [(True,)]
    code, result = gate(cli, served, "--env", "production", "--cache", "off")
    assert code == 0, result
    r = promote(ws, "faq-answer", "0.1.0", "production", "alice", ["bob"])
    assert r["status"] == "promoted", r


def test_one_version_names_one_content(served: Path, cli) -> None:
    assert gate(cli, served, "--env", "staging")[0] == 0
    ws = Workspace(served)
    assert promote(ws, "faq-answer", "0.1.0", "staging", "alice")["status"] == "promoted"
    prompt = served / "prompts/faq-answer.yaml"
    prompt.write_text(prompt.read_text().replace("You answer questions", "You answer all"))
    code, out, err = cli("-C", str(served), "gate", "faq-answer", "--env", "staging")
    assert code == 2, out + err
    assert "content changed without a bump; bump to 0.1.1" in err
    assert "prompts/faq-answer.yaml:3" in err  # the version line
    r = promote(Workspace(served), "faq-answer", "0.1.0", "staging", "alice")
    assert r["status"] == "refused" and "content changed without a bump" in r["reason"]
    code, out, err = cli("-C", str(served), "lock", "--check")
    assert code == 1 and "unbumped" in out + err
