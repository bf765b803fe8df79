"""Retention: old model inputs and outputs go; the audit chain and `at` answers stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from release_helpers import record_gate_run
from test_promote import promote_cli

from promptrail.workspace import Workspace


@pytest.fixture
def ws(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / ".promptrail" / "t.duckdb"))
    return Workspace(workspace)


def case(run_id: str, case_id: str, age: timedelta) -> dict:
    return {
        "run_id": run_id,
        "prompt": "faq-answer",
        "version": "0.1.0",
        "role": "candidate",
        "case_id": case_id,
        "repeat": 0,
        "vars": {"question": "My card 4111 is blocked, I'm Ana Pérez"},
        "output": "Dear Ana Pérez, ...",
        "passed": True,
        "assertions": [{"type": "contains", "reason": "found 'Ana Pérez'"}],
        "created_at": datetime.now(UTC) - age,
    }


def test_prune_clears_old_inputs_and_outputs_only_and_is_audited(ws: Workspace, cli) -> None:
    store = ws.store()
    run = record_gate_run(store, "staging", ws.resolve("faq-answer"))
    store.write(
        {
            "case_results": [
                case(run, "old", timedelta(days=120)),
                case("gate-recent", "new", timedelta(days=3)),
            ],
            "scores": [
                {"run_id": run, "case_id": "old", "metric": "contains", "reason": "Ana Pérez"},
                {"run_id": "gate-recent", "case_id": "new", "metric": "contains", "reason": "x"},
            ],
        }
    )
    assert promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging", "--reason", "go")[0] == 0
    code, before, _ = cli("-C", str(ws.root), "at", "staging", "now", "--json")

    code, out, _ = cli(
        "-C", str(ws.root), "store", "prune", "--outputs-older-than", "90d", "--json"
    )
    assert code == 0 and json.loads(out)["case_results"] == 1
    rows = store.query_dicts("SELECT case_id, vars, output, assertions, passed FROM case_results")
    by_id = {r["case_id"]: r for r in rows}
    assert by_id["old"]["output"] is None and by_id["old"]["vars"] is None
    assert by_id["old"]["assertions"] is None and by_id["old"]["passed"] is True
    assert "Ana" in by_id["new"]["output"] and "Ana" in by_id["new"]["vars"]
    reasons = dict(store.query("SELECT case_id, reason FROM scores")[1])
    assert reasons == {"old": None, "new": "x"}

    [row] = store.query_dicts("SELECT actor, payload FROM audit_log WHERE event = 'store-prune'")
    assert row["actor"] == "tester@example.com"
    assert json.loads(row["payload"])["case_results"] == 1
    code, out, _ = cli("-C", str(ws.root), "audit", "verify", "--json")
    assert code == 0, out
    after = cli("-C", str(ws.root), "at", "staging", "now", "--json")[1]
    assert json.loads(after)["prompts"] == json.loads(before)["prompts"]
    assert cli("-C", str(ws.root), "store", "prune", "--outputs-older-than", "90d")[0] == 0
    assert store.query("SELECT count(*) FROM audit_log WHERE event = 'store-prune'")[1] == [(2,)]


@pytest.mark.parametrize("age", ["90", "ninety days", "1.5d", "3m"])
def test_a_bad_age_is_exit_2(ws: Workspace, cli, age: str) -> None:
    code, _, err = cli("-C", str(ws.root), "store", "prune", "--outputs-older-than", age)
    assert code == 2 and "90d" in err
