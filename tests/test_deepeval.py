"""deepeval metrics as assertions: non-LLM metrics directly, and LLM-judged GEval through
promptrail's own provider layer against the local wire-level server — so judge calls are
cached and replayable offline like every other call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from fakeserver import FakeLLMServer, last_user

from promptrail.store import Store

pytestmark = pytest.mark.e2e


def judge_and_model(body: dict, protocol: str) -> str:
    user = last_user(body)
    if '"score"' in user and '"reason"' in user:
        polite = "Please" in user or "please" in user
        return json.dumps(
            {"score": 9 if polite else 2, "reason": "polite and helpful" if polite else "curt"}
        )
    if '"steps"' in user:
        return json.dumps({"steps": ["Check the reply is polite.", "Check it is helpful."]})
    return json.dumps({"answer": "Please restart the router, then try again.", "confident": True})


def test_geval_runs_through_the_provider_layer_and_replays(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(tmp_path / "s.duckdb"))
    suite = workspace / "suites/faq-answer.yaml"
    suite.write_text(
        suite.read_text()
        + """  - id: polite
    vars: {question: "My internet is down"}
    assert:
      - {type: "deepeval:GEval", criteria: "The answer is polite", threshold: 0.7}
      - {type: "deepeval:PatternMatchMetric", pattern: '(?s)\\{.*\\}'}
      - {type: "deepeval:ExactMatchMetric", expected_output: "nope"}
"""
    )
    git(workspace, "commit", "-qam", "geval case")
    with FakeLLMServer(responder=judge_and_model) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, out, err = cli("-C", str(workspace), "gate", "faq-answer", "--json", "--keep-going")
        judge_calls = [r for r in server.requests if "score" in json.dumps(r["body"])]
    assert out, err
    rows = Store(tmp_path / "s.duckdb").query_dicts(
        "SELECT metric, score, passed, reason FROM scores WHERE case_id = 'polite'"
    )
    by_metric = {r["metric"]: r for r in rows}
    assert by_metric["deepeval:GEval"]["passed"] and by_metric["deepeval:GEval"]["score"] >= 0.7
    assert by_metric["deepeval:PatternMatchMetric"]["passed"]
    assert not by_metric["deepeval:ExactMatchMetric"]["passed"]
    assert judge_calls, "the judge went through the fake server"
    assert not (workspace / ".deepeval").exists() and not Path(".deepeval").exists()
    # replay: the judge's answers come from the same cache, with no server at all
    code2, out2, _ = cli(
        "-C", str(workspace), "gate", "faq-answer", "--json", "--keep-going", "--cache", "replay"
    )
    assert json.loads(out2)["prompts"][0]["gates"] == json.loads(out)["prompts"][0]["gates"]
