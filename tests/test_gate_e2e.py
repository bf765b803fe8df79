"""The gate flow end to end: the real CLI on a copy of the example workspace, against the
local wire-level model server, with a real DuckDB store (and a PostgreSQL one where marked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git
from example_model import responder
from fakeserver import FakeLLMServer

from promptrail.lock import entry_for, write_lock
from promptrail.store import Store
from promptrail.workspace import Workspace

pytestmark = pytest.mark.e2e


def gate(cli, ws: Path, *args: str) -> tuple[int, dict]:
    code, out, err = cli("-C", str(ws), "gate", "--json", *args)
    assert out, err
    return code, json.loads(out)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store.duckdb"
    monkeypatch.setenv("PROMPTRAIL_DB", str(path))
    return path


@pytest.fixture
def store_db(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The run's store on both engines."""
    monkeypatch.setenv("PROMPTRAIL_DB", store_url)
    return store_url


@pytest.fixture
def model(example: Path, monkeypatch: pytest.MonkeyPatch):
    """The fake model server answering the example's cases with their fixture outputs."""
    server = FakeLLMServer(responder=responder(example)).start()
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    yield server
    server.stop()


def test_example_passes_offline_in_replay(
    example: Path, store_db: str, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = store_db
    # no idle hand-over during the run (deepeval's import alone can take seconds), so the
    # count below says whether calls reuse the connection, whatever the machine's speed
    monkeypatch.setattr("promptrail.store.db.IDLE", 600.0)
    opened = Store(db).opens
    code, result = gate(cli, example, "--cache", "replay")
    assert code == 0, result
    assert result["status"] == "passed" and result["mode"] == "in-process"
    assert sorted(p["name"] for p in result["prompts"]) == [
        "invoice-extractor",
        "support-reply",
        "thread-summarizer",
        "ticket-router",
    ]
    for p in result["prompts"]:
        assert p["content_hash"].startswith("sha256:")
        assert [g["gate"] for g in p["gates"]] == ["lint", "schema", "regression", "cost"]
    store = Store(db)
    assert store.query("SELECT status FROM runs")[1] == [("passed",)]
    assert store.query("SELECT count(*) FROM gate_results")[1] == [(16,)]
    cases = store.query_dicts("SELECT * FROM case_results")
    assert len(cases) == 38 and all(c["passed"] and c["cached"] for c in cases)
    assert all(c["cost_usd"] > 0 and c["price_source"].startswith("genai-prices") for c in cases)
    # every assertion result keeps the suite spec that produced it
    results = [a for c in cases for a in json.loads(c["assertions"])]
    assert results and all(a["spec"]["type"] == a["type"] for a in results)
    assert {"type": "json-path", "path": "$.priority", "value": "high"} in [
        a["spec"] for a in results
    ]
    assert store.query("SELECT count(*) FROM scores")[1][0][0] > 38
    assert store.query("SELECT count(*) FROM prompt_versions")[1] == [(4,)]
    assert store.query("SELECT event FROM audit_log")[1] == [("gate-run",)]
    reports = example / "reports" / "out" / result["run_id"]
    assert {p.name for p in reports.iterdir()} >= {"run.json", "report.md", "junit.xml"}
    # one connection for the whole run; the CLI closes its store as it exits, so the checks
    # above opened it once more
    assert Store(db).opens - opened <= 2


def test_failing_schema_names_the_case(example: Path, db: Path, model, cli) -> None:
    def break_invoice(name: str, case: str, out: str) -> str:
        if name == "invoice-extractor" and case == "usd-receipt":
            return out.replace('"currency": "USD", ', "")
        return out

    model.responder = responder(example, break_invoice)
    code, result = gate(cli, example, "invoice-extractor", "--cache", "off")
    assert code == 1 and result["status"] == "failed"
    gates = {g["gate"]: g for g in result["prompts"][0]["gates"]}
    assert gates["schema"]["status"] == "failed"
    assert "usd-receipt" in gates["schema"]["summary"]
    assert "currency" in gates["schema"]["summary"]
    assert gates["regression"]["status"] == "skipped"  # later gates skip after a failure
    code, result = gate(cli, example, "invoice-extractor", "--cache", "off", "--keep-going")
    gates = {g["gate"]: g for g in result["prompts"][0]["gates"]}
    assert gates["regression"]["status"] == "failed" and gates["cost"]["status"] == "passed"


def test_regression_against_the_live_version(example: Path, db: Path, model, cli) -> None:
    ws = Workspace(example)
    live = ws.resolve("support-reply")
    write_lock(ws.lock_path("staging"), "staging", {"support-reply": entry_for(live)})
    git(example, "add", "-A")
    git(example, "commit", "-qm", "support-reply 1.4.0 live in staging")
    prompt = example / "prompts/support-reply.yaml"
    prompt.write_text(
        prompt.read_text()
        .replace("version: 1.4.0", "version: 1.4.1")
        .replace("You are a support agent for Acme Cloud", "You are a friendly Acme Cloud agent")
    )

    def regressed(body: dict, proto: str) -> str:
        text = answer(body, proto)
        if "friendly Acme Cloud agent" in body["messages"][0]["content"]:
            return text.replace('"urgent"', '"low"').replace('"high"', '"low"')
        return text

    answer = responder(example)
    model.responder = regressed
    code, result = gate(cli, example, "support-reply", "--cache", "off")
    assert code == 1
    reg = {g["gate"]: g for g in result["prompts"][0]["gates"]}["regression"]
    assert reg["status"] == "failed"
    assert "against 1.4.0 live in staging" in reg["summary"]
    assert "must_pass cases failed: enterprise-outage, site-down" in reg["summary"]
    roles = Store(db).query("SELECT role, count(*) FROM case_results GROUP BY role ORDER BY 1")
    assert roles[1] == [("baseline", 10), ("candidate", 10)]


def test_provider_outage_is_exit_3_never_a_pass(example: Path, db: Path, model, cli) -> None:
    model.fail(503, 1000)
    cfg = example / "promptrail.yaml"
    cfg.write_text(
        cfg.read_text().replace(
            "openai: {concurrency: 16}",
            "openai: {concurrency: 16, backoff: 0.01, max_backoff: 0.02}",
        )
    )
    code, result = gate(cli, example, "ticket-router", "--cache", "off")
    assert code == 3 and result["status"] == "error"
    gates = {g["gate"]: g for g in result["prompts"][0]["gates"]}
    assert gates["schema"]["status"] == "error" and "503" in gates["schema"]["summary"]
    assert Store(db).query("SELECT status FROM runs")[1] == [("error",)]


def test_replay_miss_is_an_error_naming_the_case(example: Path, db: Path, cli) -> None:
    suite = example / "suites/ticket-router.yaml"
    suite.write_text(suite.read_text().replace("Refund please", "Refund needed"))
    code, result = gate(cli, example, "ticket-router", "--cache", "replay")
    assert code == 3
    summary = {g["gate"]: g for g in result["prompts"][0]["gates"]}["schema"]["summary"]
    assert "case refund" in summary and "replay" in summary


def test_changed_since_selects_dependents_of_a_component(
    example: Path, db: Path, model, cli
) -> None:
    tone = example / "components/tone.yaml"
    tone.write_text(tone.read_text().replace("warm, concise", "warm, brief"))
    for name in ("support-reply", "thread-summarizer"):  # one version names one content
        assert cli("-C", str(example), "bump", name, "--patch")[0] == 0
    code, result = gate(
        cli, example, "--changed-since", "HEAD", "--cache", "off", "--env", "staging"
    )
    assert sorted(p["name"] for p in result["prompts"]) == ["support-reply", "thread-summarizer"]
    git(example, "checkout", "-q", "--", ".")
    suite = example / "suites/ticket-router.yaml"
    suite.write_text(suite.read_text() + "\n")
    code, result = gate(cli, example, "--changed-since", "HEAD", "--cache", "replay")
    assert code == 0 and [p["name"] for p in result["prompts"]] == ["ticket-router"]


def test_concurrent_runs_lose_no_rows(example: Path, store_db: str) -> None:
    db = store_db
    env = {**os.environ, "PROMPTRAIL_DB": str(db)}
    cmd = [
        sys.executable,
        "-m",
        "promptrail.cli",
        "-C",
        str(example),
        "gate",
        "--json",
        "--cache",
        "replay",
    ]
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from promptrail.store import Store\n"
                "s = Store(sys.argv[1]); n = 0\n"
                "end = time.time() + 6\n"
                "while time.time() < end:\n"
                "    s.query('SELECT count(*) FROM case_results'); n += 1\n"
                "print(n)\n"
            ),
            str(db),
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1][-2000:] for r in results]
    run_ids = {json.loads(out)["run_id"] for out, _ in results}
    reads = int(reader.communicate(timeout=60)[0].strip())
    assert reads > 0
    store = Store(db)
    assert store.query("SELECT count(DISTINCT run_id), count(*) FROM case_results")[1] == [
        (4, 4 * 38)
    ]
    assert {r[0] for r in store.query("SELECT run_id FROM runs")[1]} == run_ids
    from promptrail import audit

    assert audit.verify(store)["status"] == "ok"


def test_bad_suite_input_records_nothing(example: Path, db: Path, cli) -> None:
    suite = example / "suites/support-reply.yaml"
    suite.write_text(suite.read_text().replace("{type: is-json}", "{type: is-jsn}"))
    code, out, err = cli("-C", str(example), "gate", "--json", "--cache", "replay")
    assert code == 2
    error = json.loads(out)["error"]
    assert (
        error["file"] == "suites/support-reply.yaml"
        and "did you mean 'is-json'" in error["message"]
    )
    lines = suite.read_text().splitlines()
    assert "is-jsn" in lines[error["line"] - 1]
    assert not db.exists() or Store(db).query("SELECT count(*) FROM runs")[1] == [(0,)]
