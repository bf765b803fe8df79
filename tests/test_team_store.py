"""The store as a team shares it: a PostgreSQL URL in promptrail.yaml or PROMPTRAIL_DB, its
failures (exit 3 naming host, port and database, never the password; a malformed URL exit 2
naming where it came from), moving a history between stores, read-only verbs, the promotion
lock across processes, migrations racing, and several checkouts sharing one record."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import git
from pgserver import PASSWORD

from promptrail import audit
from promptrail.store import MIGRATIONS, Store
from promptrail.store.target import parse

REPO = Path(__file__).parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chain(store: Store, n: int) -> None:
    for i in range(n):
        store.append_audit("test", "me", f"s{i}", {"i": i, "f": 2.5, "text": "é\nx"})


# -- where the store is ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, why",
    [
        ("postgresql://user@host:notaport/db", "Port could not be cast"),
        ("postgresql://user@host:5432", "names no database"),
        ("postgresql://user@host:5432/a/b", "names no database"),
        ("mysql://user@host/db", "unknown scheme 'mysql'"),
    ],
)
def test_a_malformed_url_is_exit_2_naming_where_it_came_from(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch, url: str, why: str
) -> None:
    config = workspace / "promptrail.yaml"
    text = config.read_text()
    assert "\nstore:" in text
    config.write_text(re.sub(r"(?m)^store:.*$", f'store: "{url}"', text))
    line = config.read_text().splitlines().index(f'store: "{url}"') + 1
    code, out, _ = cli("-C", str(workspace), "at", "production", "2026-01-01", "--json")
    error = json.loads(out)["error"]
    assert code == 2 and error["file"] == "promptrail.yaml" and error["line"] == line
    assert why in error["message"]
    monkeypatch.setenv("PROMPTRAIL_DB", url)
    code, out, _ = cli("-C", str(workspace), "history", "p", "--json")
    assert code == 2 and "PROMPTRAIL_DB" in json.loads(out)["error"]["file"]


def test_a_password_in_the_url_is_never_shown_or_stored(pg_url: str) -> None:
    assert PASSWORD in pg_url
    target = parse(pg_url)
    store = Store(pg_url)
    assert PASSWORD not in repr(store) + str(target) + repr(target) + store.label
    store.write({"runs": [{"run_id": "r", "args": {"url": pg_url, "note": f"pw {PASSWORD}"}}]})
    store.append_audit("x", "me", pg_url, {"dsn": pg_url})
    dump = json.dumps(
        [store.query(f"SELECT * FROM {t}")[1] for t in ("runs", "audit_log")], default=str
    )
    assert PASSWORD not in dump and "[REDACTED]" in dump
    assert audit.verify(store)["status"] == "ok"


def _unreachable_cases(pg_server) -> dict[str, tuple[str, str]]:
    port = _free_port()
    return {
        "nothing listens": (
            f"postgresql://alice:{PASSWORD}@127.0.0.1:{port}/team",
            f"host 127.0.0.1, port {port}, database team",
        ),
        "wrong password": (
            pg_server.url("postgres", password="not-the-" + PASSWORD),
            f"host 127.0.0.1, port {pg_server.port}, database postgres",
        ),
        "no such database": (
            pg_server.url("no_such_db"),
            f"host 127.0.0.1, port {pg_server.port}, database no_such_db",
        ),
    }


@pytest.mark.parametrize("case", ["nothing listens", "wrong password", "no such database"])
def test_an_unusable_team_store_is_exit_3_naming_it_without_the_password(
    pg_server, workspace: Path, cli, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    url, names = _unreachable_cases(pg_server)[case]
    monkeypatch.setenv("PROMPTRAIL_DB", url)
    for verb in (["at", "production", "2026-01-01"], ["gate"], ["audit", "verify"]):
        code, out, err = cli("-C", str(workspace), *verb)
        assert code == 3, (verb, out, err)
        assert names in err and "Traceback" not in err
        assert PASSWORD not in out + err and "not-the-" not in out + err


# -- moving in ---------------------------------------------------------------------------------
def test_store_copy_moves_a_history_in_and_back_with_its_chain(
    pg_url: str, tmp_path: Path, workspace: Path, cli
) -> None:
    from test_store import populate

    local = tmp_path / "local.duckdb"
    populate(Store(local))
    _chain(Store(local), 3)
    Store(local).close()
    code, out, err = cli("-C", str(workspace), "store", "copy", str(local), pg_url, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["audit"]["status"] == "ok" and result["audit"]["rows"] == 5
    assert result["tables"]["case_results"] == 20 and PASSWORD not in out
    team = Store(pg_url)
    assert team.query("SELECT count(*) FROM promotions")[1] == [(2,)]
    assert audit.verify(team)["status"] == "ok"
    # and back, into a new file: the same rows, the same chain
    back = tmp_path / "back.duckdb"
    code, out, _ = cli("-C", str(workspace), "store", "copy", pg_url, str(back), "--json")
    assert code == 0 and json.loads(out)["audit"]["rows"] == 5
    q = "SELECT seq, hash, payload FROM audit_log ORDER BY seq"
    assert Store(back).query(q) == Store(local).query(q)
    # a store that already holds history is not merged into
    code, out, _ = cli("-C", str(workspace), "store", "copy", str(local), pg_url, "--json")
    assert code == 2 and "already holds history" in json.loads(out)["error"]["message"]


# -- read-only verbs, and the DuckDB file's states ------------------------------------------
def test_read_verbs_on_a_missing_store_create_nothing(workspace: Path, cli) -> None:
    code, out, _ = cli("-C", str(workspace), "at", "production", "2026-01-01", "--json")
    assert code == 0 and json.loads(out)["prompts"] == []
    code, out, _ = cli("-C", str(workspace), "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["rows"] == 0
    assert not (workspace / ".promptrail").exists()


def test_read_verbs_work_while_another_process_reads(
    tmp_path: Path, workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "r.duckdb"
    _chain(Store(db), 2)
    Store(db).close()
    monkeypatch.setenv("PROMPTRAIL_DB", str(db))
    code = (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print('reading', flush=True); sys.stdin.read(); con.close()"
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", code, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        code_, out, err = cli("-C", str(workspace), "audit", "verify", "--json")
        assert code_ == 0 and json.loads(out)["rows"] == 2 and "waiting" not in err
        code_, out, err = cli("-C", str(workspace), "sql", "SELECT count(*) AS n FROM audit_log")
        assert code_ == 0 and "2" in out and "waiting" not in err
    finally:
        reader.communicate("")


@pytest.mark.parametrize(
    "damage, says",
    [
        ("garbage", "cannot open the store"),
        ("truncated", "cannot open the store"),
        ("foreign schema", "does not have promptrail's schema (runs lacks"),
    ],
)
def test_a_damaged_or_foreign_store_is_exit_3_without_a_traceback(
    tmp_path: Path, workspace: Path, cli, monkeypatch: pytest.MonkeyPatch, damage: str, says: str
) -> None:
    db = tmp_path / "bad.duckdb"
    if damage == "garbage":
        db.write_bytes(b"not a database\n" * 1000)
    elif damage == "truncated":
        _chain(Store(db), 50)
        Store(db).close()
        db.write_bytes(db.read_bytes()[:5000])
    else:
        import duckdb

        con = duckdb.connect(str(db))
        con.execute("CREATE TABLE runs (run_id VARCHAR, colour VARCHAR)")
        con.close()
    monkeypatch.setenv("PROMPTRAIL_DB", str(db))
    for verb in (["at", "production", "2026-01-01"], ["gate"]):
        code, _, err = cli("-C", str(workspace), *verb)
        assert code == 3 and says in err and "Traceback" not in err, (verb, err)


# -- across processes ------------------------------------------------------------------------
HOLD_PROMOTION = textwrap.dedent("""
    import pathlib, sys
    from promptrail.store import Store
    s = Store(sys.argv[1])
    with s.promotion_lock('staging'):
        print('holding', flush=True)
        sys.stdin.readline()
        pathlib.Path(sys.argv[2]).write_text('released')
""")
WAIT_PROMOTION = textwrap.dedent("""
    import pathlib, sys
    from promptrail.store import Store
    s = Store(sys.argv[1])
    with s.promotion_lock('production'):  # another environment: free
        print(pathlib.Path(sys.argv[2]).exists(), flush=True)
    with s.promotion_lock('staging'):
        print(pathlib.Path(sys.argv[2]).read_text(), flush=True)
""")


def test_promotions_to_one_environment_wait_for_each_other_across_processes(
    store_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "released"
    Store(store_url).migrate()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_PROMOTION, store_url, str(marker)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    waiter = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        waiter = subprocess.Popen(
            [sys.executable, "-c", WAIT_PROMOTION, store_url, str(marker)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert waiter.stdout is not None and waiter.stderr is not None
        assert waiter.stdout.readline().strip() == "False"  # production was free
        said = waiter.stderr.readline()  # blocks until the waiter says it waits
        assert f"waiting for the promotion lock on staging: held by PID {holder.pid} on " in said
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert waiter.stdout.readline().strip() == "released"  # only once the holder let go
        assert waiter.wait(timeout=60) == 0
    finally:
        holder.communicate(timeout=60)
        if waiter is not None and waiter.poll() is None:
            waiter.kill()


MIGRATE = "import sys; from promptrail.store import Store; Store(sys.argv[1]).migrate()"


def test_processes_connecting_first_at_once_migrate_once(pg_url: str) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", MIGRATE, pg_url], cwd=REPO, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    rows = Store(pg_url).query("SELECT id FROM schema_migrations ORDER BY id")[1]
    assert rows == [(m[0],) for m in MIGRATIONS]


APPEND = textwrap.dedent("""
    import sys
    from promptrail.store import Store
    s = Store(sys.argv[1])
    for i in range(40):
        s.append_audit('t', sys.argv[2], f'{i}', {'w': sys.argv[2], 'i': i})
""")


def test_audit_appends_from_many_processes_never_fork_the_chain(pg_url: str) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", APPEND, pg_url, f"w{w}"], cwd=REPO)
        for w in range(6)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    store = Store(pg_url)
    assert audit.verify(store) == {
        "status": "ok",
        "rows": 240,
        "first_bad_seq": None,
        "reason": None,
    }
    assert store.query("SELECT count(DISTINCT actor) FROM audit_log")[1] == [(6,)]


def test_a_run_left_running_by_a_dead_runner_elsewhere_is_marked_incomplete(pg_url: str) -> None:
    store = Store(pg_url)
    old = datetime.now(UTC) - timedelta(hours=2)
    store.write(
        {
            "runs": [
                {
                    "run_id": "ci-1",
                    "status": "running",
                    "host": "runner-7",
                    "pid": 4242,
                    "started_at": old,
                    "heartbeat_at": old,
                }
            ]
        }
    )
    store.close()
    other = subprocess.run(  # the next process to open the store notices
        [
            sys.executable,
            "-c",
            f"from promptrail.store import Store; Store({pg_url!r}).query('SELECT 1')",
        ],
        cwd=REPO,
        check=True,
    )
    assert other.returncode == 0
    assert Store(pg_url).query("SELECT status FROM runs")[1] == [("incomplete",)]


# -- several checkouts, one record -------------------------------------------------------------
@pytest.mark.e2e
def test_gate_in_one_checkout_promote_from_another_ask_from_a_third(
    example: Path, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    config = example / "promptrail.yaml"
    # the team store is named in promptrail.yaml (no password: PGPASSWORD supplies it)
    url = pg_url.replace(f":{PASSWORD}@", "@")
    config.write_text(re.sub(r"(?m)^store:.*$", f"store: {url}", config.read_text()))
    git(example, "commit", "-qam", "team store")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    checkouts = []
    for name in ("ci", "laptop", "analyst"):
        subprocess.run(["git", "clone", "-q", str(example), str(tmp_path / name)], check=True)
        shutil.copytree(example / "recordings", tmp_path / name / "recordings", dirs_exist_ok=True)
        checkouts.append(tmp_path / name)
    ci, laptop, analyst = checkouts
    code, out, err = cli(
        "-C", str(ci), "gate", "support-reply", "--env", "staging", "--cache", "replay", "--json"
    )
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    code, out, err = cli(
        "-C", str(laptop), "promote", "support-reply@1.4.0", "--to", "staging", "--json"
    )
    assert code == 0 and json.loads(out)["status"] == "promoted", out + err
    assert (laptop / "environments/staging.lock").read_text() != (
        analyst / "environments/staging.lock"
    ).read_text()  # the analyst's checkout knows nothing of it: only the store does
    code, out, _ = cli("-C", str(analyst), "at", "staging", datetime.now(UTC).isoformat(), "--json")
    [live] = json.loads(out)["prompts"]
    assert code == 0 and live["version"] == "1.4.0" and live["messages"]
    code, out, _ = cli("-C", str(analyst), "history", "support-reply", "--json")
    events = json.loads(out)["events"]
    assert {"gate-run", "promote"} <= {e["event"] for e in events}
    assert any(e.get("run_id") == run_id for e in events)
    assert not (analyst / ".promptrail").exists()  # no local file store was made
    assert os.environ["PGPASSWORD"] == PASSWORD


@pytest.mark.e2e
def test_responses_cached_in_the_team_store_replay_on_a_fresh_checkout(
    example: Path, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    from example_model import responder
    from fakeserver import FakeLLMServer

    config = example / "promptrail.yaml"
    text = re.sub(r"(?m)^cache:\n  path: .*\n  mode: .*$", "", config.read_text())
    config.write_text(text + "cache: {path: .promptrail/cache.jsonl, store: true}\n")
    shutil.rmtree(example / "recordings")  # nothing recorded: the first run calls the model
    git(example, "add", "-A")
    git(example, "commit", "-qm", "cache in the team store")
    monkeypatch.setenv("PROMPTRAIL_DB", pg_url)
    server = FakeLLMServer(responder=responder(example)).start()
    try:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, out, err = cli("-C", str(example), "gate", "ticket-router", "--json")
        assert code == 0, out + err
        calls = len(server.requests)
    finally:
        server.stop()
    assert calls > 0
    cached = Store(pg_url).query("SELECT count(*), min(provider) FROM response_cache")[1][0]
    assert cached[0] > 0 and cached[1] == "openai"
    assert not (example / ".promptrail/cache.jsonl").exists()
    fresh = tmp_path / "runner"
    subprocess.run(["git", "clone", "-q", str(example), str(fresh)], check=True)
    code, out, err = cli("-C", str(fresh), "gate", "ticket-router", "--cache", "replay", "--json")
    result = json.loads(out)
    assert code == 0 and result["status"] == "passed", err
    rows = Store(pg_url).query(
        "SELECT count(*), bool_and(cached) FROM case_results WHERE run_id = ?", [result["run_id"]]
    )[1]
    assert rows[0][0] > 0 and rows[0][1] is True


# -- CI ------------------------------------------------------------------------------------------
def test_init_writes_ci_that_installs_from_the_repository_and_gates_into_the_team_store(
    tmp_path: Path, cli
) -> None:
    import yaml

    url = "git+https://github.com/acme/promptrail@v0.2.0"
    code, _, err = cli("init", str(tmp_path / "a"), "--install", url)
    assert code == 0, err
    flows = {p.name: p.read_text() for p in (tmp_path / "a/.github/workflows").glob("*.yml")}
    assert set(flows) == {"promptrail.yml", "promptrail-lock.yml", "promptrail-promote.yml"}
    for name, text in flows.items():
        assert f'"promptrail[postgres] @ {url}"' in text, name
        assert not re.search(r"pip install promptrail\b", text), name
        yaml.safe_load(text)
    gate = yaml.safe_load(flows["promptrail.yml"])["jobs"]["gate"]
    assert gate["env"]["PROMPTRAIL_DB"] == "${{ secrets.PROMPTRAIL_DB }}"
    promote = yaml.safe_load(flows["promptrail-promote.yml"])
    dispatch = promote[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads `on:` as True
    assert set(dispatch) >= {"prompt", "version", "environment"}
    job = promote["jobs"]["promote"]
    assert job["environment"] == "${{ inputs.environment }}"
    assert any("promptrail promote" in s.get("run", "") for s in job["steps"])
    # without --install: the repository variable, and a clear stop while it is unset
    assert cli("init", str(tmp_path / "b"))[0] == 0
    text = (tmp_path / "b/.github/workflows/promptrail.yml").read_text()
    assert "${{ vars.PROMPTRAIL_INSTALL }}" in text and "set the repository variable" in text
