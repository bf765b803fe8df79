"""A big suite run's results spill to disk (promptrail/spill.py) and read back unchanged: the
list itself, and a whole gate whose every suite run spilled recording exactly what the same
gate records when its results stay in memory."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fakeserver import FakeLLMServer, last_user

from promptrail import spill
from promptrail.spill import SpillList
from promptrail.store import Store


def plain() -> SpillList[tuple]:
    return SpillList(lambda t: t, tuple, keep=5, chunk=7)


def test_a_spilled_list_reads_back_every_item_in_order() -> None:
    items = [(i, f"case {i}", {"n": [i, None, 1.5]}) for i in range(23)]
    log = plain()
    for i, item in enumerate(items):
        log.append(item)
        assert len(log) == i + 1
    assert log.spilled
    assert list(log) == items and list(log) == items  # read twice
    assert [log[i] for i in range(23)] == items
    assert [log[i] for i in range(22, -1, -1)] == items[::-1]  # chunks out of order
    assert log[-1] == items[-1] and log[-23] == items[0]
    assert log[3:20:4] == items[3:20:4] and log[::-1] == items[::-1]
    with pytest.raises(IndexError):
        log[23]
    with pytest.raises(IndexError):
        log[-24]


def test_a_spilled_list_pickles_as_a_plain_list() -> None:
    """Its file is this process's own: a copy that crosses to another process is a list."""
    import pickle

    log = plain()
    log.extend((i,) for i in range(20))
    assert log.spilled and pickle.loads(pickle.dumps(log)) == [(i,) for i in range(20)]


def test_no_room_for_the_file_is_an_operational_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 3 with where and why (and the way out), not a traceback."""
    from promptrail.errors import OperationalError

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setattr("tempfile.tempdir", str(not_a_folder))
    log = plain()  # spills past 5 items, 7 at a time: the 7th item writes the file
    log.extend((i,) for i in range(6))
    with pytest.raises(OperationalError, match=r"temporary file in .*file: .*TMPDIR") as exc:
        log.append((6,))
    assert exc.value.exit_code == 3


def test_a_gate_with_no_room_to_spill_is_exit_3(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = workspace(tmp_path / "ws", 30)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setattr(spill, "KEEP", 4)
    monkeypatch.setattr(spill, "CHUNK", 7)
    monkeypatch.setattr("tempfile.tempdir", str(not_a_folder))
    monkeypatch.setenv("PROMPTRAIL_DB", str(tmp_path / "s.duckdb"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")  # the suite fails to load first
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    code, out, err = cli("-C", str(root), "gate", "--env", "staging", "--cache", "off")
    assert code == 3 and "Traceback" not in err, err
    assert "cannot write a big suite's cases to a temporary file" in err and "TMPDIR" in err


def test_a_small_list_stays_in_memory() -> None:
    log = plain()
    log.extend((i,) for i in range(5))
    assert not log.spilled and list(log) == [(i,) for i in range(5)]


def test_a_chunk_marshal_cannot_write_is_pickled() -> None:
    """YAML gives dates; marshal writes only core types, so such a chunk is pickled."""
    items = [(i, dt.date(2026, 1, 1 + i % 28)) for i in range(12)]
    log = plain()
    log.extend(items)
    assert log.spilled and list(log) == items and log[2] == items[2]


def workspace(root: Path, cases: int) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "suites").mkdir()
    (root / "promptrail.yaml").write_text(
        "environments: [{name: dev}, {name: staging, gates: [lint, schema, regression, cost]}]\n"
        "providers: {openai: {concurrency: 4}}\n"
    )
    (root / "prompts/echo.yaml").write_text(
        "name: echo\nversion: 1.0.0\n"
        "model: {provider: openai, name: gpt-4o-mini, structured_output: false}\n"
        "input_schema: {type: object, required: [n], properties: {n: {type: string}}}\n"
        "output_schema: {type: object, required: [n], properties: {n: {type: string}}}\n"
        "messages:\n  - {role: user, content: 'Ticket {{ n }}'}\n"
    )
    rows = "".join(
        f"  - {{id: c{i:03d}, vars: {{n: '{i}'}}{', must_pass: true' if i == 7 else ''}}}\n"
        for i in range(cases)
    )
    (root / "suites/echo.yaml").write_text(
        "prompt: echo\nrepeat: 2\nthreshold: 0.5\n"
        "defaults:\n  assert: [{type: is-json}, {type: contains, value: '1'}]\n"
        f"cases:\n{rows}"
    )
    return root


def answer(body: dict, proto: str) -> str:
    """JSON for most tickets, prose for every ninth: schema failures and errors both."""
    n = last_user(body).split()[-1]
    return json.dumps({"n": n}) if int(n) % 9 else f"ticket {n}"


def recorded(db: Path) -> tuple[list, list, list]:
    store = Store(db)
    gates = store.query(
        "SELECT gate, status, score, summary, details FROM gate_results ORDER BY gate"
    )[1]
    cases = store.query(
        "SELECT case_id, repeat, vars, output, passed, error, assertions, input_tokens, "
        "output_tokens, cost_usd, cached FROM case_results ORDER BY case_id, repeat"
    )[1]
    scores = store.query(
        "SELECT case_id, repeat, metric, score, passed, reason FROM scores "
        "ORDER BY case_id, repeat, metric"
    )[1]
    store.close()
    return gates, cases, scores


@pytest.mark.e2e
def test_a_gate_whose_results_spilled_records_what_one_in_memory_records(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = workspace(tmp_path / "ws", 30)
    with FakeLLMServer(responder=answer) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        runs = {}
        for name, keep in (("memory", 10_000), ("spilled", 4)):
            monkeypatch.setattr(spill, "KEEP", keep)
            monkeypatch.setattr(spill, "CHUNK", 7)
            monkeypatch.setenv("PROMPTRAIL_DB", str(tmp_path / f"{name}.duckdb"))
            code, out, err = cli(
                "-C",
                str(root),
                "gate",
                "--env",
                "staging",
                "--keep-going",
                "--cache",
                "off",
                "--json",
            )
            assert code == 1, err  # must_pass c007 and the prose answers fail it
            runs[name] = recorded(tmp_path / f"{name}.duckdb")
            assert {g["gate"]: g["status"] for g in json.loads(out)["prompts"][0]["gates"]} == {
                "lint": "passed",
                "schema": "failed",
                "regression": "failed",
                "cost": "passed",
            }
    gates, cases, scores = runs["spilled"]
    assert len(cases) == 60 and len(scores) == 120
    assert runs["spilled"] == runs["memory"]


def test_an_evaluation_of_a_big_suite_spills(tmp_path: Path, monkeypatch) -> None:
    from promptrail.evaluate import Evaluator
    from promptrail.workspace import Workspace

    root = workspace(tmp_path / "ws", 30)
    monkeypatch.setattr(spill, "KEEP", 4)
    monkeypatch.setattr(spill, "CHUNK", 7)
    with FakeLLMServer(responder=answer) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        ws = Workspace(root)
        with Evaluator(ws, "off") as ev:
            run = ev.evaluate(ws.resolve("echo"))
            assert ev.peek(ws.resolve("echo"), "candidate") is run
            ev.forget("echo")  # what a gate does once the prompt's rows are written
            assert ev.peek(ws.resolve("echo"), "candidate") is None
    assert run.cases.spilled and run.total == 60
    assert [(c.case_id, c.repeat) for c in run.cases] == [
        (f"c{i:03d}", r) for i in range(30) for r in range(2)
    ]
    failed = {c.case_id for c in run.cases if c.status == "failed"}
    assert failed == {f"c{i:03d}" for i in range(30) if "1" not in str(i) or i % 9 == 0}
    assert run.passed == 60 - 2 * len(failed) and run.pass_rate == run.passed / 60


def test_a_big_dataset_spills_and_reads_back_every_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptrail.suites import load_suite
    from promptrail.workspace import Workspace

    root = workspace(tmp_path / "ws", 3)
    (root / "suites/data").mkdir()
    rows = [
        {"id": f"r{i}", "vars": {"n": str(i)}}
        | ({"must_pass": True} if i % 5 == 0 else {})
        | ({"assert": [{"type": "contains", "value": str(i)}]} if i % 4 == 0 else {})
        for i in range(40)
    ]
    (root / "suites/data/echo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = root / "suites/echo.yaml"
    suite.write_text(suite.read_text().replace("cases:", "dataset: data/echo.jsonl\ncases:"))

    def cases(keep: int) -> list:
        monkeypatch.setattr(spill, "KEEP", keep)
        monkeypatch.setattr(spill, "CHUNK", 7)
        loaded = load_suite(Workspace(root), "echo")
        assert loaded is not None and loaded.cases.spilled == (keep < 43)
        return [(c.id, c.vars, c.must_pass, c.specs, c.assertions) for c in loaded.cases]

    spilled, held = cases(4), cases(10_000)
    assert spilled == held and len(spilled) == 43
    assert [c[0] for c in spilled] == ["c000", "c001", "c002"] + [f"r{i}" for i in range(40)]
    own = {c[0]: [s["value"] for s in c[3][2:]] for c in spilled if len(c[3]) > 2}
    assert own == {f"r{i}": [str(i)] for i in range(0, 40, 4)}
