"""The store: every run, gate result, case result, score, version, promotion, drift finding
and the hash-chained audit log, in a DuckDB file (default) or a PostgreSQL team store.
See docs/store.md for the schema and queries, and ``base.py`` for the interface."""

from promptrail.store.base import Store
from promptrail.store.db import mark_incomplete_runs, open_store, redact
from promptrail.store.migrations import MIGRATIONS, TABLES

__all__ = ["MIGRATIONS", "TABLES", "Store", "mark_incomplete_runs", "open_store", "redact"]
