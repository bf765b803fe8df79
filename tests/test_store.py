"""The store: migrations from blank and from an older database, crash safety, the documented
queries, and the pandas entry point."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from promptrail.store import Store
from promptrail.store.migrations import MIGRATIONS, TABLES, migrate

REPO = Path(__file__).parent.parent


def schema(path: Path) -> dict[str, list[tuple[str, str]]]:
    con = duckdb.connect(str(path))
    rows = con.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
                       ).fetchall()
    con.close()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, col, typ in rows:
        out.setdefault(table, []).append((col, typ))
    return out


def test_blank_database_migrates_to_the_exact_schema(tmp_path: Path) -> None:
    Store(tmp_path / "s.duckdb").migrate()
    got = schema(tmp_path / "s.duckdb")
    for table, cols in TABLES.items():
        names = [c for c, _ in cols]
        assert [c for c, _ in got[table]] == names, table
    assert set(got) == set(TABLES) | {"schema_migrations", "pass_rates"}
    applied = duckdb.connect(str(tmp_path / "s.duckdb")).execute(
        "SELECT id FROM schema_migrations ORDER BY id").fetchall()
    assert [a for (a,) in applied] == [m[0] for m in MIGRATIONS]


def test_older_database_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert migrate(con, upto=1) == [1]
    con.execute("INSERT INTO runs (run_id, status) VALUES ('old', 'passed')")
    con.close()
    store = Store(path)
    assert store.query("SELECT id FROM schema_migrations ORDER BY id")[1] == \
        [(m[0],) for m in MIGRATIONS]
    assert store.query("SELECT run_id FROM runs")[1] == [("old",)]
    assert "pass_rates" in schema(path)


def test_killed_process_leaves_a_readable_store_and_an_incomplete_run(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    script = (
        "import os, sys, socket, datetime\n"
        "from promptrail.store import Store\n"
        "s = Store(sys.argv[1]); now = datetime.datetime.now(datetime.timezone.utc)\n"
        "s.write({'runs': [{'run_id': 'r1', 'status': 'running', 'started_at': now,\n"
        "                   'host': socket.gethostname(), 'pid': os.getpid()}]})\n"
        "print('started', flush=True)\n"
        "i = 0\n"
        "while True:\n"
        "    s.write({'case_results': [{'run_id': 'r1', 'case_id': f'c{i}-{j}', 'passed': True}\n"
        "                              for j in range(200)]})\n"
        "    i += 1\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(db)
    rows = store.query("SELECT count(*) FROM case_results")[1][0][0]
    assert rows > 0 and rows % 200 == 0            # whole transactions only
    assert store.query("SELECT status FROM runs WHERE run_id = 'r1'")[1] == [("incomplete",)]


def _populate(store: Store) -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    for i, version in enumerate(("1.0.0", "1.1.0")):
        run = f"gate-{i}"
        at = t0 + timedelta(days=i)
        store.write({
            "runs": [{"run_id": run, "kind": "gate", "status": "passed", "env": "staging",
                      "started_at": at}],
            "case_results": [{"run_id": run, "prompt": "support-reply", "version": version,
                              "content_hash": f"sha256:{i}", "role": "candidate",
                              "case_id": f"c{c}", "repeat": r, "passed": (c + r + i) % 3 != 0,
                              "latency_ms": 100.0 + c, "input_tokens": 100 + i,
                              "output_tokens": 20, "cost_usd": 0.0001, "cached": False,
                              "created_at": at} for c in range(5) for r in range(2)],
            "scores": [{"run_id": run, "prompt": "support-reply", "version": version,
                        "role": "candidate", "case_id": f"c{c}", "repeat": r,
                        "metric": "json-path", "score": 0.0, "passed": False,
                        "reason": "x"} for c in range(5) for r in range(2)],
            "promotions": [{"promotion_id": f"p{i}", "name": "support-reply",
                            "version": version, "content_hash": f"sha256:{i}",
                            "env": "production", "actor": "alice", "promoted_at": at,
                            "kind": "promote"}],
            "drift_findings": [{"finding_id": f"f{i}", "env": "production", "kind": "missing",
                                "name": "support-reply", "found_at": at}],
        })
        store.append_audit("promote", "alice", "production/support-reply", {"v": version})


def test_every_documented_query_runs(tmp_path: Path) -> None:
    store = Store(tmp_path / "docs.duckdb")
    _populate(store)
    queries = re.findall(r"```sql\n(.*?)```", (REPO / "docs/store.md").read_text(), re.S)
    assert len(queries) == 10
    for sql in queries:
        cols, rows = store.query(sql)
        assert cols, sql
    # and they answer: pass rate by version over time has both versions
    assert len(store.query(queries[0])[1]) == 2


def test_pandas_entry_point(tmp_path: Path) -> None:
    from promptrail.analytics import Analytics

    store = Store(tmp_path / "a.duckdb")
    _populate(store)
    a = Analytics(store)
    df = a.pass_rate_by_version("support-reply")
    assert list(df["version"]) == ["1.0.0", "1.1.0"]
    assert len(a.slowest_cases(3)) == 3
    assert len(a.compare_runs("gate-0", "gate-1")) > 0
    assert not a.cost_trend().empty and not a.failing_cases("gate-0").empty


def test_sql_verb(tmp_path: Path, workspace: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(tmp_path / "q.duckdb"))
    _populate(Store(tmp_path / "q.duckdb"))
    code, out, _ = cli("-C", str(workspace), "sql", "SELECT count(*) AS n FROM runs", "--json")
    assert code == 0 and out.strip().startswith("[") and '"n": 2' in out
    code, out, _ = cli("-C", str(workspace), "sql", "SELECT version FROM promotions")
    assert code == 0 and "1.1.0" in out
    code, out, _ = cli("-C", str(workspace), "sql", "SELEC nonsense", "--json")
    assert code == 2 and "SQL error" in out
