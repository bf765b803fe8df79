"""The store, on both engines (a DuckDB file and a PostgreSQL database, via the ``store_url``
fixture): migrations from blank and from an older database, batched writes and streamed
reads, the documented queries, pandas, the `sql` verb, a read-only mount. Secrets kept out of
it are in test_secrets.py; the file lock, killed and concurrent writers and dead runs in
test_store_processes.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storehelp import is_pg, raw_con, raw_execute

from promptrail import __version__
from promptrail.store import MIGRATIONS, TABLES, Store, open_store
from promptrail.store.migrations import migrate

REPO = Path(__file__).parent.parent
T0 = datetime(2026, 3, 1, tzinfo=UTC)

# The exact schema a blank store migrates to; a new migration must update this on purpose.
EXPECTED_TABLES = {
    "schema_migrations": "id name applied_at promptrail_version",
    "runs": "run_id kind status env actor started_at finished_at mode cache_mode git_commit "
    "git_dirty args host pid promptrail_version heartbeat_at",
    "gate_results": "run_id prompt version content_hash gate status score threshold summary "
    "details started_at finished_at",
    "case_results": "run_id prompt version content_hash role case_id repeat vars output passed "
    "error latency_ms input_tokens output_tokens cached_tokens cost_usd "
    "price_source cached attempts assertions created_at tool_calls structured_output",
    "scores": "run_id prompt version content_hash role case_id repeat metric score passed "
    "threshold reason error",
    "prompt_versions": "name version content_hash resolved components first_seen_at source",
    "promotions": "promotion_id name version content_hash env from_version from_hash actor "
    "approvals reason kind promoted_at run_id audit_seq",
    "drift_findings": "finding_id run_id env target name kind expected_hash actual_hash detail "
    "found_at",
    "audit_log": "seq occurred_at actor event subject payload prev_hash hash actor_source hmac",
    "response_cache": "key provider model response recorded_at",
}
EXPECTED_VIEWS = {"pass_rates", "live_versions"}
EXPECTED_INDEXES = {
    "prompt_versions_hash",
    "promotions_env_name",
    "gate_results_prompt",
    "case_results_run",
    "case_results_prompt",
}
DUCKDB_TYPE = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}
PG_TYPE = {
    "TIMESTAMPTZ": "timestamp with time zone",
    "VARCHAR": "character varying",
    "DOUBLE": "double precision",
    "JSON": "json",
}


def type_name(store: Store, kind: str) -> str:
    if is_pg(store):
        return PG_TYPE.get(kind, kind.lower())
    return DUCKDB_TYPE.get(kind, kind)


def schema(store: Store) -> tuple[dict[str, list[tuple[str, str]]], set[str], set[str]]:
    """Tables with their columns and types, views and (non-key) indexes, as built."""
    target = str(store.path) if not is_pg(store) else store.target.url
    store.close()
    con = raw_con(target)
    try:
        cols = con.execute(
            "SELECT c.table_name, column_name, data_type FROM "
            "information_schema.columns c JOIN information_schema.tables t "
            "USING (table_schema, table_name) WHERE table_schema = current_schema() AND "
            "table_type = 'BASE TABLE' ORDER BY c.table_name, ordinal_position"
        ).fetchall()
        if is_pg(store):
            views = {
                v
                for (v,) in con.execute(
                    "SELECT table_name FROM information_schema.views "
                    "WHERE table_schema = current_schema()"
                ).fetchall()
            }
            indexes = {
                i
                for (i,) in con.execute(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND indexname NOT LIKE '%_pkey'"
                ).fetchall()
            }
        else:
            views = {
                v
                for (v,) in con.execute(
                    "SELECT view_name FROM duckdb_views() WHERE NOT internal"
                ).fetchall()
            }
            indexes = {
                i for (i,) in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()
            }
    finally:
        con.close()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, col, typ in cols:
        out.setdefault(table, []).append((col, typ))
    return out, views, indexes


# -- migrations -------------------------------------------------------------------------------
def test_blank_database_migrates_to_the_exact_schema(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    store.migrate()  # idempotent
    tables, views, indexes = schema(store)
    assert {t: " ".join(c for c, _ in cols) for t, cols in tables.items()} == EXPECTED_TABLES
    for table, cols in TABLES.items():  # the Arrow types agree with the DDL
        assert tables[table] == [(c, type_name(store, t)) for c, t in cols], table
    assert views == EXPECTED_VIEWS and indexes == EXPECTED_INDEXES
    applied = store.query(
        "SELECT id, applied_at, promptrail_version FROM schema_migrations ORDER BY id"
    )[1]
    assert [a for a, _, _ in applied] == [m[0] for m in MIGRATIONS]
    assert all(at.tzinfo is not None for _, at, _ in applied)
    assert applied[-1][2] == __version__


def test_older_database_upgrades(store_url: str) -> None:
    con = raw_con(store_url)
    dialect = "postgres" if is_pg(store_url) else "duckdb"
    assert migrate(con, upto=1, dialect=dialect) == [1]
    con.execute("INSERT INTO runs (run_id, status) VALUES ('old', 'passed')")
    con.close()
    store = Store(store_url)
    assert schema(store)[1:] == (set(), set())  # no views or indexes yet
    assert store.query("SELECT id FROM schema_migrations ORDER BY id")[1] == [
        (m[0],) for m in MIGRATIONS
    ]
    assert store.query("SELECT run_id FROM runs")[1] == [("old",)]
    _, views, indexes = schema(store)
    assert views == EXPECTED_VIEWS and indexes == EXPECTED_INDEXES


def test_open_store_migrates(store_url: str, tmp_path: Path) -> None:
    if not is_pg(store_url):
        store_url = str(tmp_path / "deep" / "dir" / "s.duckdb")
    store = open_store(store_url)
    assert len(store.query("SELECT * FROM schema_migrations")[1]) == len(MIGRATIONS)
    assert is_pg(store) or store.path.exists()


def test_a_store_migrated_by_a_newer_promptrail_is_exit_3(
    store_url: str, workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(store_url)
    raw_execute(
        store,
        "INSERT INTO schema_migrations (id, name, applied_at, promptrail_version) "
        "VALUES (99, 'from the future', now(), '9.9.9')",
    )
    if is_pg(store):  # a new process would look again; this one remembers it checked
        store.close()
    monkeypatch.setenv("PROMPTRAIL_DB", store_url)
    code, out, _ = cli("-C", str(workspace), "gate", "--json")
    error = json.loads(out)["error"]
    assert code == 3 and "9.9.9" in error["message"] and "schema 99" in error["message"]
    code, out, err = cli("-C", str(workspace), "at", "production", "2026-01-01")
    assert code == 3 and "upgrade promptrail to 9.9.9" in err and "Traceback" not in err


# -- writes -----------------------------------------------------------------------------------
def test_write_is_one_transaction_over_several_tables(store_url: str) -> None:
    store = Store(store_url)
    store.write(
        {
            "runs": [
                {
                    "run_id": "r1",
                    "status": "passed",
                    "started_at": T0,
                    "args": {"names": ["a"], "n": 1},
                    "git_dirty": False,
                    "pid": 7,
                }
            ],
            "case_results": [
                {
                    "run_id": "r1",
                    "case_id": f"c{i}",
                    "repeat": 0,
                    "vars": {"x": i},
                    "passed": i % 2 == 0,
                    "latency_ms": 5,
                    "created_at": datetime(2026, 3, 1, 12),
                }  # naive: UTC
                for i in range(3)
            ],
            "scores": [],
        }
    )
    row = store.query_dicts("SELECT * FROM runs")[0]
    assert row["started_at"] == T0 and row["started_at"].tzinfo is not None
    assert json.loads(row["args"]) == {"names": ["a"], "n": 1} and row["pid"] == 7
    cases = store.query_dicts("SELECT * FROM case_results ORDER BY case_id")
    assert [json.loads(c["vars"]) for c in cases] == [{"x": 0}, {"x": 1}, {"x": 2}]
    assert cases[0]["created_at"] == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert cases[0]["latency_ms"] == 5.0 and cases[0]["output"] is None

    # a failing table rolls back the whole batch: r1 exists, so nothing of this is kept
    with pytest.raises(Exception, match="(?i)duplicate|constraint"):
        store.write(
            {"case_results": [{"run_id": "r2", "case_id": "new"}], "runs": [{"run_id": "r1"}]}
        )
    assert store.query("SELECT count(*) FROM case_results")[1] == [(3,)]


def test_stream_reads_a_query_a_batch_at_a_time(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Store.stream`` (the reports' case rows): every row, in order, as dicts, across
    batches; with and without parameters; read-only like ``query``."""
    from promptrail.store import db, postgres

    monkeypatch.setattr(db, "STREAM_BATCH", 4)
    monkeypatch.setattr(postgres, "STREAM_BATCH", 4)
    store = Store(store_url)
    store.write(
        {
            "case_results": [
                {"run_id": "r1" if i < 10 else "r2", "case_id": f"c{i:02d}", "vars": {"i": i}}
                for i in range(13)
            ]
        }
    )
    sql = "SELECT case_id, vars FROM case_results WHERE run_id = ? ORDER BY case_id"
    rows = list(store.stream(sql, ["r1"]))
    assert [r["case_id"] for r in rows] == [f"c{i:02d}" for i in range(10)]
    assert [json.loads(r["vars"]) for r in rows] == [{"i": i} for i in range(10)]
    assert len(list(store.stream("SELECT * FROM case_results"))) == 13
    first = store.stream(sql, ["r1"])
    assert next(first)["case_id"] == "c00"
    assert store.query("SELECT count(*) FROM case_results")[1] == [(13,)]  # meanwhile
    assert [r["case_id"] for r in first] == [f"c{i:02d}" for i in range(1, 10)]  # goes on
    first = store.stream(sql, ["r1"])
    assert next(first)["case_id"] == "c00"
    first.close()  # left early: the connection is free again
    assert store.query("SELECT count(*) FROM case_results")[1] == [(13,)]
    with pytest.raises(Exception):  # noqa: B017 - refused by either engine, in its words
        list(store.stream("DELETE FROM case_results"))
    assert store.query("SELECT count(*) FROM case_results")[1] == [(13,)]


def test_write_refuses_unknown_tables_and_columns(store_url: str) -> None:
    store = Store(store_url)
    with pytest.raises(ValueError, match="unknown table"):
        store.write({"nope": [{"a": 1}]})
    with pytest.raises(ValueError, match=r"unknown columns for runs: \['colour'\]"):
        store.write({"runs": [{"run_id": "r", "colour": "red"}]})


def test_json_values_that_json_cannot_hold(store_url: str) -> None:
    store = Store(store_url)
    store.write(
        {
            "gate_results": [
                {"run_id": "r", "details": {"score": float("nan"), "at": T0, "ok": [1.5]}}
            ]
        }
    )
    details = json.loads(store.query("SELECT details FROM gate_results")[1][0][0])
    assert details == {"score": None, "at": str(T0), "ok": [1.5]}


def test_prompt_versions_are_insert_if_absent(store_url: str) -> None:
    store = Store(store_url)

    def version(v: str, h: str, source: str) -> dict:
        return {
            "name": "p",
            "version": v,
            "content_hash": h,
            "resolved": {"m": v},
            "first_seen_at": T0,
            "source": source,
        }

    store.write(
        {
            "prompt_versions": [
                version("1.0.0", "sha256:a", "gate"),
                version("1.0.0", "sha256:a", "gate"),
            ]
        }
    )
    store.write(
        {
            "prompt_versions": [
                version("1.0.0", "sha256:a", "promote"),
                version("1.1.0", "sha256:b", "promote"),
            ]
        }
    )
    assert store.query("SELECT version, source FROM prompt_versions ORDER BY version")[1] == [
        ("1.0.0", "gate"),
        ("1.1.0", "promote"),
    ]


def test_transaction_commits_or_rolls_back(store_url: str) -> None:
    store = Store(store_url)
    with pytest.raises(RuntimeError), store.transaction() as con:
        store.write({"runs": [{"run_id": "lost"}]}, con=con)
        con.execute("UPDATE runs SET status = 'x'")
        raise RuntimeError("boom")
    with store.transaction() as con:
        store.write({"runs": [{"run_id": "kept", "status": "running"}]}, con=con)
    store.execute("UPDATE runs SET status = ? WHERE run_id = ?", ["passed", "kept"])
    assert store.query("SELECT run_id, status FROM runs")[1] == [("kept", "passed")]


def test_query_runs_reads_only(store_url: str) -> None:
    store = Store(store_url)
    store.write({"runs": [{"run_id": "r"}]})
    for sql in ("DELETE FROM runs", "SELECT 1; DROP TABLE runs", "UPDATE runs SET env = 'x'"):
        with pytest.raises(Exception, match="read-only"):
            store.query(sql)
    assert store.query("SELECT count(*) AS n FROM runs WHERE run_id = ?", ["r"]) == (["n"], [(1,)])
    assert store.query("SELECT count(*) FROM runs")[1] == [(1,)]  # the DROP did not run
    assert store.query("SELECT 'a%' || ? AS x", ["?"]) == (["x"], [("a%?",)])  # no mangling


def test_reads_do_not_import_pyarrow_or_pandas_and_writes_not_pandas(store_url: str) -> None:
    Store(store_url).write({"runs": [{"run_id": "r"}]})
    Store(store_url).close()
    code = (
        "import sys; from promptrail.store import Store; "
        f"print(Store({store_url!r}).query_dicts('SELECT * FROM runs')[0]"
        "['run_id'], sorted(m for m in ('pyarrow', 'pandas') if m in sys.modules)); "
        f"Store({store_url!r}).write({{'runs': [{{'run_id': 'w'}}]}}); "
        "print(sorted(m for m in ('pyarrow', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout
    # DuckDB takes inserts as Arrow; PostgreSQL's COPY needs no pyarrow for a few rows
    wrote = "['pyarrow']" if store_url.endswith(".duckdb") else "[]"
    assert out.split("\n")[:2] == ["r []", wrote]


# -- the documented queries and pandas --------------------------------------------------------
def populate(store: Store) -> None:
    for i, version in enumerate(("1.0.0", "1.1.0")):
        run, at = f"gate-{i}", T0 + timedelta(days=i)
        store.write(
            {
                "runs": [
                    {
                        "run_id": run,
                        "kind": "gate",
                        "status": "passed",
                        "env": "staging",
                        "started_at": at,
                    }
                ],
                "case_results": [
                    {
                        "run_id": run,
                        "prompt": "support-reply",
                        "version": version,
                        "content_hash": f"sha256:{i}",
                        "role": "candidate",
                        "case_id": f"c{c}",
                        "repeat": r,
                        "passed": (c + r + i) % 3 != 0,
                        "latency_ms": 100.0 + c + i,
                        "input_tokens": 100 + 10 * i,
                        "output_tokens": 20,
                        "cost_usd": 0.0001,
                        "cached": False,
                        "created_at": at,
                    }
                    for c in range(5)
                    for r in range(2)
                ],
                "scores": [
                    {
                        "run_id": run,
                        "prompt": "support-reply",
                        "version": version,
                        "role": "candidate",
                        "case_id": f"c{c}",
                        "repeat": r,
                        "metric": "json-path",
                        "score": 0.0,
                        "passed": (c + r + i) % 3 != 0,
                        "reason": "x",
                    }
                    for c in range(5)
                    for r in range(2)
                ],
                "prompt_versions": [
                    {
                        "name": "support-reply",
                        "version": version,
                        "content_hash": f"sha256:{i}",
                        "resolved": {"messages": [{"role": "user", "content": "hi"}]},
                        "first_seen_at": at,
                        "source": "gate",
                    }
                ],
                "promotions": [
                    {
                        "promotion_id": f"p{i}",
                        "name": "support-reply",
                        "version": version,
                        "content_hash": f"sha256:{i}",
                        "env": "production",
                        "actor": "alice",
                        "promoted_at": at,
                        "kind": "promote",
                        "run_id": run,
                    }
                ],
                "drift_findings": [
                    {
                        "finding_id": f"f{i}",
                        "env": "production",
                        "kind": "missing",
                        "name": "support-reply",
                        "found_at": at,
                    }
                ],
            }
        )
        store.append_audit(
            "promote",
            "alice",
            "production/support-reply",
            {"name": "support-reply", "version": version},
        )


def test_every_documented_query_runs_and_answers(tmp_path: Path) -> None:
    store = Store(tmp_path / "docs.duckdb")
    populate(store)
    queries = re.findall(r"```sql\n(.*?)```", (REPO / "docs/store.md").read_text(), re.S)
    assert len(queries) == 10
    results = []
    for sql in queries:
        cols, rows = store.query(sql)
        assert cols and rows, sql
        results.append(rows)
    pass_rate, cost, slow, failing, changed, live, trail, drift, flaky, tokens = results
    assert [(r[1], r[4]) for r in pass_rate] == [("1.0.0", 10), ("1.1.0", 10)]
    assert slow[0][:3] == ("support-reply", "1.1.0", "c4")
    assert {r[0] for r in failing} == {"support-reply"} and len(failing) == 3

    def flips(x: int) -> bool:  # passed is (x % 3 != 0), x += 1
        return (x % 3 == 0) != ((x + 1) % 3 == 0)

    assert sorted((int(r[1][1:]), r[2]) for r in changed) == [
        (c, r) for c in range(5) for r in range(2) if flips(c + r)
    ]
    assert [(r[0], r[1]) for r in live] == [("support-reply", "1.1.0")]
    assert json.loads(live[0][5])[0]["content"] == "hi"
    assert [r[3] for r in trail] == ["promote", "promote"]
    assert len(flaky) == sum(flips(c + i) for c in range(5) for i in range(2))
    assert sum(r[3] for r in drift) == 2 and tokens[1][4] == 10


def test_pandas_entry_point(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from promptrail import analytics

    store = Store(store_url)
    populate(store)
    df = analytics.pass_rate_by_version("support-reply", db=store)
    assert list(df["version"]) == ["1.0.0", "1.1.0"] and list(df["cases"]) == [10, 10]
    assert str(df["day"].dt.tz) == "UTC"
    monkeypatch.setenv("PROMPTRAIL_DB", store_url)  # the default store
    assert len(analytics.slowest_cases(3)) == 3
    assert len(analytics.compare_runs("gate-0", "gate-1")) > 0
    assert not analytics.cost_trend().empty
    assert list(analytics.failing_cases("gate-0")["case_id"]) == ["c0", "c2", "c3"]
    assert analytics.frame("SELECT count(*) AS n FROM runs")["n"][0] == 2
    with pytest.raises(Exception, match="read-only"):
        analytics.frame("DELETE FROM runs")
    a = analytics.Analytics(store_url)
    assert a.pass_rate_by_version().equals(df)


def test_sql_verb(store_url: str, workspace: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", store_url)
    populate(Store(store_url))
    code, out, _ = cli("-C", str(workspace), "sql", "SELECT count(*) AS n FROM runs", "--json")
    assert code == 0 and json.loads(out) == [{"n": 2}]
    code, out, _ = cli("-C", str(workspace), "sql", "SELECT version FROM promotions")
    assert code == 0 and "1.1.0" in out
    code, out, _ = cli("-C", str(workspace), "sql", "SELEC nonsense", "--json")
    assert code == 2 and "SQL error" in out
    code, out, _ = cli("-C", str(workspace), "sql", "DELETE FROM audit_log", "--json")
    assert code == 2 and "read-only" in out


@pytest.mark.e2e
def test_a_store_on_a_read_only_mount_serves_the_reading_verbs(example: Path) -> None:
    """An auditor's copy of the store on a read-only share: at, history, audit verify and sql
    read it; a writing verb is exit 3 saying why, without a traceback."""
    import shutil
    import tempfile

    db = example / ".promptrail" / "store.duckdb"
    env = {**os.environ, "PROMPTRAIL_DB": str(db)}

    def run(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "promptrail.cli", "-C", str(example), *args],
            env={**env, "PROMPTRAIL_DB": str(store)},
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert run("gate", "--cache", "replay", store=db).returncode == 0
    mount = Path(tempfile.mkdtemp(prefix="pr-ro-"))
    made = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a file system here: {made.stderr.decode().strip()}")
    try:
        shutil.copy(db, mount / "store.duckdb")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        shared = mount / "store.duckdb"
        for args in (
            ("history", "support-reply"),
            ("at", "staging", "now"),
            ("audit", "verify"),
            ("sql", "SELECT count(*) AS n FROM runs"),
        ):
            proc = run(*args, store=shared)
            assert proc.returncode == 0, (args, proc.stdout[-800:], proc.stderr[-800:])
        assert "gate-run" in run("history", "support-reply", store=shared).stdout
        proc = run("gate", "--cache", "replay", store=shared)
        assert proc.returncode == 3
        assert "cannot be written here" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
        shutil.rmtree(mount, ignore_errors=True)
