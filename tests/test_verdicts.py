"""Verdicts a team can trust: regression compares quality (never speed or cost), errors are
neither failures nor passes, and the sweep judges every locked version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from fakeserver import FakeLLMServer

from promptrail.promote import promote
from promptrail.regression import compare, observe
from promptrail.store import Store
from promptrail.workspace import Workspace

ANSWER = json.dumps({"answer": "Reset your password from the login page.", "confident": True})


def case(case_id: str, passed: bool, **scores: float) -> dict:
    return {
        "case_id": case_id,
        "passed": passed,
        "error": None,
        "latency_ms": scores.get("latency", 100.0),
        "assertions": [{"type": k, "score": v, "status": "passed"} for k, v in scores.items()],
    }


def test_faster_cheaper_candidate_is_no_regression() -> None:
    base = observe([case("a", True, latency=1320.0, cost=0.002, **{"deepeval:GEval": 0.9})])
    cand = observe([case("a", True, latency=421.0, cost=0.0001, **{"deepeval:GEval": 0.9})])
    result = compare(base, cand, max_drop=0.05)
    assert result.problems == []
    assert result.details["metrics"]["latency"]["direction"] == "lower"
    assert result.details["metrics"]["cost"]["direction"] == "lower"


def test_quality_fall_fails_and_slowdown_only_with_a_budget() -> None:
    base = observe([case("a", True, latency=100.0, **{"deepeval:GEval": 0.9})])
    worse = observe([case("a", True, latency=100.0, **{"deepeval:GEval": 0.6})])
    [problem] = compare(base, worse, max_drop=0.05).problems
    assert problem.startswith("deepeval:GEval mean fell 0.30")
    slow = observe([case("a", True, latency=400.0, **{"deepeval:GEval": 0.9})])
    assert compare(base, slow, max_drop=0.05).problems == []
    [problem] = compare(base, slow, max_drop=0.05, max_latency_increase=0.5).problems
    assert problem.startswith("median latency rose 300%")


def test_errored_cases_are_neither_passes_nor_failures() -> None:
    rows = [case("a", True), {**case("b", False), "error": "judge: not JSON"}]
    obs = observe(rows)
    assert obs.errors == 1 and obs.pass_rate == 1.0


# -- end to end, through the CLI against the wire-level server ---------------------------
@pytest.fixture
def served(workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PROMPTRAIL_DB", str(tmp_path / "s.duckdb"))
    suite = workspace / "suites/faq-answer.yaml"
    suite.write_text(
        suite.read_text().replace(
            "assert: [{type: is-json}, {type: json-schema}]",
            "assert: [{type: is-json}, {type: json-schema}, {type: latency, threshold: 10000}]",
        )
    )
    git(workspace, "commit", "-qam", "latency default")
    with FakeLLMServer(responder=lambda body, proto: ANSWER) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        yield workspace, server


def gate(cli, root: Path, *args: str) -> tuple[int, dict]:
    code, out, err = cli("-C", str(root), "gate", "faq-answer", "--json", *args)
    assert out, err
    return code, json.loads(out)


def edit_and_bump(cli, root: Path, words: str = "Be brief.", part: str = "--patch") -> None:
    prompt = root / "prompts/faq-answer.yaml"
    prompt.write_text(prompt.read_text().replace("You answer questions", f"{words} You answer"))
    code, _, err = cli("-C", str(root), "bump", "faq-answer", part)
    assert code == 0, err


def gates_of(result: dict) -> dict[str, dict]:
    return {g["gate"]: g for g in result["prompts"][0]["gates"]}


def paced(body: dict, protocol: str) -> str:
    """The model takes 0.3 s for the original prompt, no time for the "Be brief." edit, and
    0.9 s for the "Be kind." one (sleeping in the server's handler thread)."""
    import time

    text = json.dumps(body)
    time.sleep(0.0 if "Be brief." in text else 0.9 if "Be kind." in text else 0.3)
    return ANSWER


@pytest.mark.e2e
def test_a_faster_candidate_passes(served, cli) -> None:
    root, server = served
    server.responder = paced
    code, result = gate(cli, root, "--env", "staging", "--cache", "off")
    assert code == 0, result
    assert promote(Workspace(root), "faq-answer", "0.1.0", "staging", "alice")["status"] == (
        "promoted"
    )
    edit_and_bump(cli, root)  # the candidate is much faster than the live version
    code, result = gate(cli, root, "--env", "staging", "--cache", "off")
    regression = gates_of(result)["regression"]
    assert code == 0 and regression["status"] == "passed", regression
    assert "against 0.1.0 live in staging" in regression["summary"]
    rows = Store(root.parent / "s.duckdb").query_dicts(
        "SELECT role, latency_ms FROM case_results WHERE run_id = ?", [result["run_id"]]
    )
    fast = max(r["latency_ms"] for r in rows if r["role"] == "candidate")
    slow = min(r["latency_ms"] for r in rows if r["role"] == "baseline")
    assert fast < slow, "the candidate really was faster"
    # a latency budget against the baseline is judged in the direction that matters
    cfg = root / "promptrail.yaml"
    cfg.write_text(
        cfg.read_text().replace("max_drop: 0.05}", "max_drop: 0.05, max_latency_increase: 1.0}")
    )
    git(root, "checkout", "prompts/faq-answer.yaml")
    edit_and_bump(cli, root, "Be kind.", "--minor")  # three times slower than the live version
    code, result = gate(cli, root, "--env", "staging", "--cache", "off")
    regression = gates_of(result)["regression"]
    assert code == 1 and "median latency rose" in regression["summary"], regression


class NoUsageServer(FakeLLMServer):
    @staticmethod
    def _openai(body: dict, text: str, *rest: Any) -> dict:
        reply = FakeLLMServer._openai(body, text, *rest)
        reply.pop("usage")
        return reply


@pytest.mark.e2e
def test_missing_or_impossible_usage_is_an_error_not_free(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(tmp_path / "s.duckdb"))
    with NoUsageServer(responder=lambda body, proto: ANSWER) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, result = gate(cli, workspace, "--cache", "read-write", "--keep-going")
    assert code == 3 and result["status"] == "error"
    assert gates_of(result)["cost"]["status"] == "error"
    assert "no usage" in gates_of(result)["cost"]["summary"]
    assert (
        not (workspace / ".promptrail/cache.jsonl").exists()
        or not (workspace / ".promptrail/cache.jsonl").read_text().strip()
    ), "a response without usage is never cached"
    # a recording with negative tokens (a forged cache) is refused the same way
    with FakeLLMServer(responder=lambda body, proto: ANSWER) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, _ = gate(cli, workspace, "--cache", "read-write")
        assert code == 0
    cache = workspace / ".promptrail/cache.jsonl"
    rows = [json.loads(line) for line in cache.read_text().splitlines()]
    for row in rows:
        row["response"]["input_tokens"] = -40
    cache.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, result = gate(cli, workspace, "--cache", "replay", "--keep-going")
    assert code == 3 and "negative" in gates_of(result)["cost"]["summary"]


@pytest.mark.e2e
def test_an_assertion_that_raises_errors_the_gate_unless_tolerated(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(tmp_path / "s.duckdb"))
    suite = workspace / "suites/faq-answer.yaml"
    # json-schema without a schema: an error of the assertion (it cannot judge), not a failure
    suite.write_text(
        suite.read_text().replace("threshold: 1.0", "threshold: 0.5")
        + "  - id: broken\n    vars: {question: hi}\n    assert: [{type: json-path, path: $.x"
        ", value: 1}, {type: cost, threshold: 1}]\n"
    )
    prompt = workspace / "prompts/faq-answer.yaml"
    prompt.write_text(
        prompt.read_text()
        .replace("gpt-4o-mini", "no-such-model-xyz")
        .replace("version: 0.1.0", "version: 0.2.0")
    )
    with FakeLLMServer(responder=lambda body, proto: ANSWER) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, result = gate(cli, workspace, "--keep-going")
        regression = gates_of(result)["regression"]
        assert code == 3 and regression["status"] == "error", regression
        assert "cases errored" in regression["summary"] and "max_errors" in regression["summary"]
        suite.write_text(suite.read_text().replace("repeat: 1", "repeat: 1\nmax_errors: 3"))
        code, result = gate(cli, workspace, "--keep-going")
    regression = gates_of(result)["regression"]
    assert regression["status"] != "error", regression
    assert "errored (tolerated: max_errors 3)" in regression["summary"]


@pytest.mark.e2e
def test_a_judge_that_cannot_be_parsed_is_an_error(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(tmp_path / "s.duckdb"))
    suite = workspace / "suites/faq-answer.yaml"
    suite.write_text(
        suite.read_text().replace("threshold: 1.0", "threshold: 0.5")
        + "  - id: polite\n    vars: {question: hi}\n    assert:\n"
        '      - {type: "deepeval:GEval", criteria: "The answer is polite", threshold: 0.5}\n'
    )

    def model_and_broken_judge(body: dict, protocol: str) -> str:
        if "criteria" in json.dumps(body).lower() or "steps" in json.dumps(body):
            return "I think it is quite polite, maybe 8 out of 10."  # not JSON
        return ANSWER

    with FakeLLMServer(responder=model_and_broken_judge) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, result = gate(cli, workspace, "--keep-going")
    regression = gates_of(result)["regression"]
    assert code == 3 and result["status"] == "error", regression
    assert regression["status"] == "error" and "polite" in regression["summary"]
    assert "not JSON" in regression["summary"], regression


def test_equal_check_results_share_one_record_and_only_equal_ones() -> None:
    """A run keeps one dict per distinct check result of a spec (memory at 50,000 cases):
    equal results share it; a different reason, spec, or a score of another type does not."""
    from types import SimpleNamespace

    from promptrail.evaluate import Evaluator

    ev = Evaluator.__new__(Evaluator)  # only the sharing table is used here
    ev._checks = {}
    spec, other_spec = {"type": "contains"}, {"type": "contains"}

    def result(score: Any, reason: str = "found") -> Any:
        return SimpleNamespace(
            type="contains", status="passed", score=score, threshold=None, reason=reason
        )

    first = ev._shared(result(1.0), spec)
    assert ev._shared(result(1.0), spec) is first
    assert first == {**vars(result(1.0)), "spec": spec}
    for different in (
        ev._shared(result(1.0, "found it"), spec),
        ev._shared(result(1.0), other_spec),
        ev._shared(result(True), spec),
    ):
        assert different is not first
    assert ev._shared(result(True), spec)["score"] is True
    assert ev._shared(result([1]), spec) == {**vars(result([1])), "spec": spec}  # unhashable


@pytest.mark.e2e
def test_two_prompts_of_the_same_content_are_judged_on_their_own_suites(served, cli) -> None:
    """A copied prompt (same messages, model and schemas: the same content hash) with its own
    suite: each is run on its own suite and recorded under its own name. The evaluator's
    results were keyed by content alone, so one prompt's suite run served both."""
    root, _ = served
    original = (root / "prompts/faq-answer.yaml").read_text()
    (root / "prompts/faq-copy.yaml").write_text(
        original.replace("name: faq-answer", "name: faq-copy")
    )
    (root / "suites/faq-copy.yaml").write_text(
        "prompt: faq-copy\ncases:\n"
        "  - {id: wants-bananas, vars: {question: Bananas?}, assert: "
        "[{type: contains, value: banana}]}\n"
    )
    code, out, err = cli("-C", str(root), "gate", "faq-answer", "faq-copy", "--json")
    statuses = {p["name"]: p["status"] for p in json.loads(out)["prompts"]}
    assert code == 1 and statuses == {"faq-answer": "passed", "faq-copy": "failed"}, err
    store = Store(root / ".." / "s.duckdb")
    rows = store.query("SELECT prompt, case_id, passed FROM case_results ORDER BY prompt, case_id")[
        1
    ]
    store.close()
    assert rows == [
        ("faq-answer", "asks-for-card-number", True),
        ("faq-answer", "reset-password", True),
        ("faq-copy", "wants-bananas", False),
    ]
