"""The store's schema as numbered migrations, each applied in a transaction with its record.

A blank database runs them all; an older one runs only those it lacks. Never edit an applied
migration: append a new one (and update ``TABLES``, the current shape, which the tests check
against what the migrations build).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def m001_tables(con: Any) -> None:
    con.execute("""
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
    """)


def m002_indexes(con: Any) -> None:
    # The unique index is what makes prompt_versions writes insert-if-absent.
    con.execute("CREATE UNIQUE INDEX prompt_versions_hash ON prompt_versions (name, content_hash)")
    con.execute("CREATE INDEX promotions_env_name ON promotions (env, name, promoted_at)")
    con.execute("CREATE INDEX gate_results_prompt ON gate_results (prompt, content_hash)")
    con.execute("CREATE INDEX case_results_run ON case_results (run_id)")


def m003_views(con: Any) -> None:
    con.execute("""
        CREATE VIEW pass_rates AS
        SELECT c.prompt, c.version, c.content_hash, c.run_id, r.env, r.started_at,
               count(*) AS cases, avg(CASE WHEN c.passed THEN 1.0 ELSE 0.0 END) AS pass_rate,
               avg(c.cost_usd) AS usd_per_call, avg(c.latency_ms) AS latency_ms
        FROM case_results c JOIN runs r USING (run_id)
        WHERE c.role = 'candidate' AND r.status IN ('passed', 'failed')
        GROUP BY ALL""")


def m004_live_view(con: Any) -> None:
    """An index for per-prompt history, and the live version per environment."""
    con.execute("CREATE INDEX case_results_prompt ON case_results (prompt, version)")
    con.execute("""
        CREATE VIEW live_versions AS
        SELECT env, name, version, content_hash, promoted_at, actor, kind FROM (
            SELECT *, row_number() OVER (PARTITION BY env, name
                                         ORDER BY promoted_at DESC, promotion_id DESC) AS rn
            FROM promotions)
        WHERE rn = 1""")


def m005_audit_identity(con: Any) -> None:
    """Where each audit row's actor came from, the keyed chain's HMAC, and the audit row
    that records each promotion (what ``at`` and ``audit verify`` join on)."""
    con.execute("ALTER TABLE audit_log ADD COLUMN actor_source VARCHAR")
    con.execute("ALTER TABLE audit_log ADD COLUMN hmac VARCHAR")
    con.execute("ALTER TABLE promotions ADD COLUMN audit_seq BIGINT")


MIGRATIONS: list[tuple[int, str, Callable[[Any], None]]] = [
    (1, "tables", m001_tables),
    (2, "indexes", m002_indexes),
    (3, "pass_rates view", m003_views),
    (4, "case_results prompt index, live_versions view", m004_live_view),
    (5, "audit actor_source and hmac, promotions audit_seq", m005_audit_identity),
]


def migrate(con: Any, upto: int | None = None) -> list[int]:
    """Apply the migrations this database lacks, each in a transaction with its
    schema_migrations row; returns the ids applied. ``upto`` stops early (for tests)."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(id INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)"
    )
    done = {row[0] for row in con.execute("SELECT id FROM schema_migrations").fetchall()}
    applied = []
    for mid, name, fn in MIGRATIONS:
        if mid in done or (upto is not None and mid > upto):
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            fn(con)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [mid, name])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(mid)
    return applied
