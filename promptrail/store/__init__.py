"""The DuckDB store: every run, gate result, case result, score, version, promotion, drift
finding and the hash-chained audit log. See docs/store.md for the schema and queries."""

from promptrail.store.db import Store, mark_incomplete_runs, open_store, redact
from promptrail.store.migrations import MIGRATIONS, TABLES

__all__ = ["MIGRATIONS", "TABLES", "Store", "mark_incomplete_runs", "open_store", "redact"]
