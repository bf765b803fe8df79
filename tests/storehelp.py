"""Helpers for tests that run on both store engines."""

from __future__ import annotations

from typing import Any

from promptrail.store import Store


def raw_execute(store: Any, sql: str) -> None:
    """Run ``sql`` on the store's database behind promptrail's back (tampering, old schemas)."""
    store.close()
    if store.dialect == "duckdb":
        import duckdb

        con = duckdb.connect(str(store.path))
        try:
            con.execute(sql)
        finally:
            con.close()
    else:
        import psycopg

        with psycopg.connect(store.target.url, autocommit=True) as con:
            con.execute(sql)


def raw_con(target: str) -> Any:
    """A bare connection with ``execute(sql, params)`` and ``close()`` (no migrations run)."""
    if "://" not in target:
        import duckdb

        return duckdb.connect(target)
    import psycopg

    from promptrail.store.postgres import PgCon

    con = PgCon(psycopg.connect(target, autocommit=True))
    con.close = con.raw.close  # type: ignore[attr-defined]
    return con


def is_pg(store: Store | str) -> bool:
    return (store.dialect if isinstance(store, Store) else ("pg" if "://" in store else "")) in (
        "postgres",
        "pg",
    )
