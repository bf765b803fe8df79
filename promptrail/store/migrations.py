"""The store's schema as numbered migrations, each applied in a transaction with its record.

A blank database runs them all; an older one runs only those it lacks. Never edit an applied
migration: append a new one (and update ``TABLES``, the current shape, which the tests check
against what the migrations build). The same migrations build DuckDB and PostgreSQL stores:
each takes ``(con, dialect)``; DDL is written once in DuckDB's types and ``ddl`` spells it for
PostgreSQL, and views whose SQL differs are written for each.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from promptrail.errors import OperationalError

# The current shape of every table, in column order: the one description Arrow inserts are
# typed from. tests/test_store.py asserts a blank database migrates to exactly this.
TABLES: dict[str, list[tuple[str, str]]] = {
    "runs": [
        ("run_id", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("status", "VARCHAR"),
        ("env", "VARCHAR"),
        ("actor", "VARCHAR"),
        ("started_at", "TIMESTAMPTZ"),
        ("finished_at", "TIMESTAMPTZ"),
        ("mode", "VARCHAR"),
        ("cache_mode", "VARCHAR"),
        ("git_commit", "VARCHAR"),
        ("git_dirty", "BOOLEAN"),
        ("args", "JSON"),
        ("host", "VARCHAR"),
        ("pid", "INTEGER"),
        ("promptrail_version", "VARCHAR"),
        ("heartbeat_at", "TIMESTAMPTZ"),
    ],
    "gate_results": [
        ("run_id", "VARCHAR"),
        ("prompt", "VARCHAR"),
        ("version", "VARCHAR"),
        ("content_hash", "VARCHAR"),
        ("gate", "VARCHAR"),
        ("status", "VARCHAR"),
        ("score", "DOUBLE"),
        ("threshold", "DOUBLE"),
        ("summary", "VARCHAR"),
        ("details", "JSON"),
        ("started_at", "TIMESTAMPTZ"),
        ("finished_at", "TIMESTAMPTZ"),
    ],
    "case_results": [
        ("run_id", "VARCHAR"),
        ("prompt", "VARCHAR"),
        ("version", "VARCHAR"),
        ("content_hash", "VARCHAR"),
        ("role", "VARCHAR"),
        ("case_id", "VARCHAR"),
        ("repeat", "INTEGER"),
        ("vars", "JSON"),
        ("output", "VARCHAR"),
        ("passed", "BOOLEAN"),
        ("error", "VARCHAR"),
        ("latency_ms", "DOUBLE"),
        ("input_tokens", "INTEGER"),
        ("output_tokens", "INTEGER"),
        ("cached_tokens", "INTEGER"),
        ("cost_usd", "DOUBLE"),
        ("price_source", "VARCHAR"),
        ("cached", "BOOLEAN"),
        ("attempts", "INTEGER"),
        ("assertions", "JSON"),
        ("created_at", "TIMESTAMPTZ"),
        ("tool_calls", "JSON"),
        ("structured_output", "JSON"),
    ],
    "scores": [
        ("run_id", "VARCHAR"),
        ("prompt", "VARCHAR"),
        ("version", "VARCHAR"),
        ("content_hash", "VARCHAR"),
        ("role", "VARCHAR"),
        ("case_id", "VARCHAR"),
        ("repeat", "INTEGER"),
        ("metric", "VARCHAR"),
        ("score", "DOUBLE"),
        ("passed", "BOOLEAN"),
        ("threshold", "DOUBLE"),
        ("reason", "VARCHAR"),
        ("error", "VARCHAR"),
    ],
    "prompt_versions": [
        ("name", "VARCHAR"),
        ("version", "VARCHAR"),
        ("content_hash", "VARCHAR"),
        ("resolved", "JSON"),
        ("components", "JSON"),
        ("first_seen_at", "TIMESTAMPTZ"),
        ("source", "VARCHAR"),
    ],
    "promotions": [
        ("promotion_id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("version", "VARCHAR"),
        ("content_hash", "VARCHAR"),
        ("env", "VARCHAR"),
        ("from_version", "VARCHAR"),
        ("from_hash", "VARCHAR"),
        ("actor", "VARCHAR"),
        ("approvals", "JSON"),
        ("reason", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("promoted_at", "TIMESTAMPTZ"),
        ("run_id", "VARCHAR"),
        ("audit_seq", "BIGINT"),
    ],
    "drift_findings": [
        ("finding_id", "VARCHAR"),
        ("run_id", "VARCHAR"),
        ("env", "VARCHAR"),
        ("target", "VARCHAR"),
        ("name", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("expected_hash", "VARCHAR"),
        ("actual_hash", "VARCHAR"),
        ("detail", "VARCHAR"),
        ("found_at", "TIMESTAMPTZ"),
    ],
    # The response cache, when promptrail.yaml says cache: {store: true}.
    "response_cache": [
        ("key", "VARCHAR"),
        ("provider", "VARCHAR"),
        ("model", "VARCHAR"),
        ("response", "JSON"),
        ("recorded_at", "TIMESTAMPTZ"),
    ],
    # "at" is a reserved word in DuckDB's SQL, so the audit time is occurred_at.
    "audit_log": [
        ("seq", "BIGINT"),
        ("occurred_at", "TIMESTAMPTZ"),
        ("actor", "VARCHAR"),
        ("event", "VARCHAR"),
        ("subject", "VARCHAR"),
        ("payload", "JSON"),
        ("prev_hash", "VARCHAR"),
        ("hash", "VARCHAR"),
        ("actor_source", "VARCHAR"),
        ("hmac", "VARCHAR"),
    ],
}


def column_types(table: str) -> dict[str, str]:
    return dict(TABLES[table])


_PG_TYPES = [(re.compile(r"\bDOUBLE\b"), "DOUBLE PRECISION")]


def ddl(sql: str, dialect: str) -> str:
    """DDL written with DuckDB's type names, spelt for ``dialect``."""
    if dialect == "postgres":
        for pattern, name in _PG_TYPES:
            sql = pattern.sub(name, sql)
    return sql


def m001_tables(con: Any, dialect: str) -> None:
    con.execute(
        ddl(
            """
    CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY, kind VARCHAR, status VARCHAR, env VARCHAR, actor VARCHAR,
        started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, mode VARCHAR, cache_mode VARCHAR,
        git_commit VARCHAR, git_dirty BOOLEAN, args JSON, host VARCHAR, pid INTEGER,
        promptrail_version VARCHAR);
    CREATE TABLE gate_results (
        run_id VARCHAR, prompt VARCHAR, version VARCHAR, content_hash VARCHAR, gate VARCHAR,
        status VARCHAR, score DOUBLE, threshold DOUBLE, summary VARCHAR, details JSON,
        started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ);
    CREATE TABLE case_results (
        run_id VARCHAR, prompt VARCHAR, version VARCHAR, content_hash VARCHAR, role VARCHAR,
        case_id VARCHAR, "repeat" INTEGER, vars JSON, output VARCHAR, passed BOOLEAN,
        error VARCHAR, latency_ms DOUBLE, input_tokens INTEGER, output_tokens INTEGER,
        cached_tokens INTEGER, cost_usd DOUBLE, price_source VARCHAR, cached BOOLEAN,
        attempts INTEGER, assertions JSON, created_at TIMESTAMPTZ);
    CREATE TABLE scores (
        run_id VARCHAR, prompt VARCHAR, version VARCHAR, content_hash VARCHAR, role VARCHAR,
        case_id VARCHAR, "repeat" INTEGER, metric VARCHAR, score DOUBLE, passed BOOLEAN,
        threshold DOUBLE, reason VARCHAR, error VARCHAR);
    CREATE TABLE prompt_versions (
        name VARCHAR, version VARCHAR, content_hash VARCHAR, resolved JSON, components JSON,
        first_seen_at TIMESTAMPTZ, source VARCHAR);
    CREATE TABLE promotions (
        promotion_id VARCHAR PRIMARY KEY, name VARCHAR, version VARCHAR, content_hash VARCHAR,
        env VARCHAR, from_version VARCHAR, from_hash VARCHAR, actor VARCHAR, approvals JSON,
        reason VARCHAR, kind VARCHAR, promoted_at TIMESTAMPTZ, run_id VARCHAR);
    CREATE TABLE drift_findings (
        finding_id VARCHAR, run_id VARCHAR, env VARCHAR, target VARCHAR, name VARCHAR,
        kind VARCHAR, expected_hash VARCHAR, actual_hash VARCHAR, detail VARCHAR,
        found_at TIMESTAMPTZ);
    CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY, occurred_at TIMESTAMPTZ, actor VARCHAR, event VARCHAR,
        subject VARCHAR, payload JSON, prev_hash VARCHAR, hash VARCHAR);
    """,
            dialect,
        )
    )


def m002_indexes(con: Any, dialect: str) -> None:
    # The unique index is what makes prompt_versions writes insert-if-absent.
    con.execute("CREATE UNIQUE INDEX prompt_versions_hash ON prompt_versions (name, content_hash)")
    con.execute("CREATE INDEX promotions_env_name ON promotions (env, name, promoted_at)")
    con.execute("CREATE INDEX gate_results_prompt ON gate_results (prompt, content_hash)")
    con.execute("CREATE INDEX case_results_run ON case_results (run_id)")


def m003_views(con: Any, dialect: str) -> None:
    group = (
        "GROUP BY ALL"
        if dialect == "duckdb"
        else "GROUP BY c.prompt, c.version, c.content_hash, c.run_id, r.env, r.started_at"
    )
    con.execute(f"""
        CREATE VIEW pass_rates AS
        SELECT c.prompt, c.version, c.content_hash, c.run_id, r.env, r.started_at,
               count(*) AS cases, avg(CASE WHEN c.passed THEN 1.0 ELSE 0.0 END) AS pass_rate,
               avg(c.cost_usd) AS usd_per_call, avg(c.latency_ms) AS latency_ms
        FROM case_results c JOIN runs r USING (run_id)
        WHERE c.role = 'candidate' AND r.status IN ('passed', 'failed')
        {group}""")


def m004_live_view(con: Any, dialect: str) -> None:
    """An index for per-prompt history, and the live version per environment."""
    con.execute("CREATE INDEX case_results_prompt ON case_results (prompt, version)")
    con.execute("""
        CREATE VIEW live_versions AS
        SELECT env, name, version, content_hash, promoted_at, actor, kind FROM (
            SELECT *, row_number() OVER (PARTITION BY env, name
                                         ORDER BY promoted_at DESC, promotion_id DESC) AS rn
            FROM promotions) AS ranked
        WHERE rn = 1""")


def m005_audit_identity(con: Any, dialect: str) -> None:
    """Where each audit row's actor came from, the keyed chain's HMAC, and the audit row
    that records each promotion (what ``at`` and ``audit verify`` join on)."""
    con.execute("ALTER TABLE audit_log ADD COLUMN actor_source VARCHAR")
    con.execute("ALTER TABLE audit_log ADD COLUMN hmac VARCHAR")
    con.execute("ALTER TABLE promotions ADD COLUMN audit_seq BIGINT")


def m006_leases(con: Any, dialect: str) -> None:
    """A heartbeat on runs, so a run whose process died on another host is recognised as
    dead; and which promptrail applied each migration, so an older one can say what it needs."""
    con.execute("ALTER TABLE runs ADD COLUMN heartbeat_at TIMESTAMPTZ")
    con.execute("ALTER TABLE schema_migrations ADD COLUMN promptrail_version VARCHAR")


def m007_response_cache(con: Any, dialect: str) -> None:
    """Recorded model responses in the store, so CI re-runs on fresh runners replay what an
    earlier run paid for (cache: {store: true})."""
    con.execute(
        "CREATE TABLE response_cache (key VARCHAR PRIMARY KEY, provider VARCHAR, "
        "model VARCHAR, response JSON, recorded_at TIMESTAMPTZ)"
    )


def m008_case_tool_calls(con: Any, dialect: str) -> None:
    """What a model call returned besides text: the tools it called (``[{id, name,
    arguments}]``) and the structured output it was asked for (the parsed JSON)."""
    con.execute(ddl("ALTER TABLE case_results ADD COLUMN tool_calls JSON", dialect))
    con.execute(ddl("ALTER TABLE case_results ADD COLUMN structured_output JSON", dialect))


MIGRATIONS: list[tuple[int, str, Callable[[Any, str], None]]] = [
    (1, "tables", m001_tables),
    (2, "indexes", m002_indexes),
    (3, "pass_rates view", m003_views),
    (4, "case_results prompt index, live_versions view", m004_live_view),
    (5, "audit actor_source and hmac, promotions audit_seq", m005_audit_identity),
    (6, "runs.heartbeat_at, schema_migrations.promptrail_version", m006_leases),
    (7, "response_cache", m007_response_cache),
    (8, "case_results tool_calls and structured_output", m008_case_tool_calls),
]
LATEST = MIGRATIONS[-1][0]


def applied(con: Any) -> list[int]:
    """The migration ids recorded in this database ([] for a blank one)."""
    return [
        row[0] for row in con.execute("SELECT id FROM schema_migrations ORDER BY id").fetchall()
    ]


def check_not_newer(con: Any, done: list[int], label: str) -> None:
    """A store migrated by a newer promptrail is an operational error naming that version."""
    from promptrail import __version__

    if not done or max(done) <= LATEST:
        return
    newest = max(done)
    version = None
    if 6 in done:
        row = con.execute(
            "SELECT promptrail_version FROM schema_migrations WHERE id = ?", [newest]
        ).fetchone()
        version = row[0] if row else None
    raise OperationalError(
        f"the store {label} was migrated by a newer promptrail (schema {newest}"
        + (f", promptrail {version}" if version else "")
        + f"); this is promptrail {__version__}, which knows schema {LATEST}: "
        f"upgrade promptrail{f' to {version} or newer' if version else ''}",
        kind="store",
    )


def migrate(
    con: Any, upto: int | None = None, dialect: str = "duckdb", label: str = ""
) -> list[int]:
    """Apply the migrations this database lacks, each in a transaction with its
    schema_migrations row; returns the ids applied. ``upto`` stops early (for tests).
    The caller serialises concurrent migrators (PostgreSQL: an advisory lock)."""
    from promptrail import __version__

    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(id INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)"
    )
    done = applied(con)
    check_not_newer(con, done, label)
    if not done and _has_tables(con):  # tables, but not promptrail's migrations: not ours
        check_schema(con, label)
        raise OperationalError(
            f"the store {label} holds tables but no record of promptrail's migrations: "
            "point store: / PROMPTRAIL_DB at a promptrail store",
            kind="store",
        )
    ran = []
    for mid, name, fn in MIGRATIONS:
        if mid in done or (upto is not None and mid > upto):
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            fn(con, dialect)
            if mid >= 6:
                con.execute(
                    "INSERT INTO schema_migrations (id, name, applied_at, promptrail_version) "
                    "VALUES (?, ?, now(), ?)",
                    [mid, name, __version__],
                )
            else:
                con.execute(
                    "INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, now())",
                    [mid, name],
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        ran.append(mid)
    return ran


def _has_tables(con: Any) -> bool:
    names = ", ".join(f"'{t}'" for t in TABLES)
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
        f"AND table_name IN ({names})"
    ).fetchone()
    return bool(row and row[0])


def check_schema(con: Any, label: str) -> None:
    """Every table has (at least) the columns promptrail writes: anything else is a store
    this promptrail cannot use, said plainly (exit 3) rather than failing mid-run."""
    found: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema()"
    ).fetchall():
        found.setdefault(table, set()).add(column)
    problems = []
    for table, cols in TABLES.items():
        if table not in found:
            problems.append(f"table {table} is missing")
        elif missing := [c for c, _ in cols if c not in found[table]]:
            problems.append(f"{table} lacks {', '.join(missing)}")
    if problems:
        raise OperationalError(
            f"the store {label} does not have promptrail's schema ({'; '.join(problems)}): "
            "point store: / PROMPTRAIL_DB at a promptrail store",
            kind="store",
        )
