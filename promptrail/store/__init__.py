"""The DuckDB store: every run, gate result, case result, score, version, promotion, drift
finding and the hash-chained audit log. See docs/store.md for the schema and queries."""

from promptrail.store.db import Store

__all__ = ["Store", "open_store"]


def open_store(path: str) -> Store:
    store = Store(path)
    store.migrate()
    return store
