"""The DuckDB store: short transactions, batched Arrow inserts, retry on the file lock.

DuckDB lets one process at a time open a database file (even a reader is refused while a
writer has it), so nothing here holds the store open: every call connects, does one short
transaction, and closes; a call that finds the file locked by another process retries with
backoff. Inside one process a lock serialises transactions, so concurrent threads of a run
never race each other for sequence numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from promptrail.errors import OperationalError
from promptrail.secrets import redact
from promptrail.store.migrations import TABLES, column_types, migrate

LOCK_WAIT_SECONDS = float(os.environ.get("PROMPTRAIL_STORE_WAIT", "60"))
GENESIS = "sha256:" + "0" * 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_process_locks: dict[str, threading.RLock] = {}
_migrated: set[str] = set()
_guard = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    with _guard:
        return _process_locks.setdefault(str(path), threading.RLock())


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("could not set lock" in text or "conflicting lock" in text)


def audit_hash(seq: int, at_us: int, actor: str, event: str, subject: str, payload: str,
               prev_hash: str) -> str:
    text = "\x1f".join((str(seq), str(at_us), actor, event, subject, payload, prev_hash))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def micros(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- connections ---------------------------------------------------------------------
    def _connect(self) -> Any:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        delay = 0.01
        while True:
            try:
                con = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as exc:
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise OperationalError(f"the store {self.path} stayed locked by another "
                                           f"process for {LOCK_WAIT_SECONDS:.0f} s: {exc}",
                                           kind="store") from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)
            except duckdb.Error as exc:
                raise OperationalError(f"cannot open the store {self.path}: {exc}",
                                       kind="store") from None
        con.execute("SET TimeZone = 'UTC'")
        key = str(self.path.resolve())
        if key not in _migrated:
            migrate(con)
            self._mark_incomplete(con)
            _migrated.add(key)
        return con

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with _process_lock(self.path):
            con = self._connect()
            try:
                yield con
            finally:
                con.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connection() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def migrate(self) -> None:
        with self.connection():
            pass

    @staticmethod
    def _mark_incomplete(con: Any) -> None:
        """Runs left 'running' by a process of this host that no longer exists."""
        host = socket.gethostname()
        rows = con.execute("SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ?",
                           [host]).fetchall()
        for run_id, pid in rows:
            if pid is None or not _alive(int(pid)):
                con.execute("UPDATE runs SET status = 'incomplete' WHERE run_id = ?", [run_id])

    # -- reads ---------------------------------------------------------------------------
    def query(self, sql: str, params: list[Any] | None = None) -> tuple[list[str], list[tuple]]:
        with self.connection() as con:
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description] if cur.description else []
            return cols, cur.fetchall()

    def query_dicts(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cols, rows = self.query(sql, params)
        return [dict(zip(cols, r, strict=True)) for r in rows]

    # -- writes --------------------------------------------------------------------------
    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        with self.transaction() as con:
            con.execute(sql, params or [])

    def write(self, batches: dict[str, list[dict[str, Any]]]) -> None:
        """Insert rows into several tables in one transaction (Arrow batches, not row loops)."""
        tables = {t: _arrow(t, rows) for t, rows in batches.items() if rows}
        if not tables:
            return
        with self.transaction() as con:
            for table, tbl in tables.items():
                con.register("_batch", tbl)
                try:
                    if table == "prompt_versions":
                        con.execute("INSERT OR IGNORE INTO prompt_versions BY NAME "
                                    "SELECT DISTINCT ON (name, content_hash) * FROM _batch")
                    else:
                        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _batch")
                finally:
                    con.unregister("_batch")

    def append_audit(self, event: str, actor: str, subject: str, payload: dict[str, Any],
                     con: Any = None) -> dict[str, Any]:
        """Append one hash-chained audit row. Safe: one process writes at a time (DuckDB's
        file lock) and one thread within it (the process lock held by ``transaction``)."""
        if con is None:
            with self.transaction() as own:
                return self.append_audit(event, actor, subject, payload, own)
        last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        at = datetime.now(UTC)
        text = json.dumps(redact(payload), sort_keys=True, separators=(",", ":"), default=str,
                          ensure_ascii=False)
        actor, subject = str(redact(actor)), str(redact(subject))
        row = {"seq": seq, "occurred_at": at, "actor": actor, "event": event, "subject": subject,
               "payload": text, "prev_hash": prev,
               "hash": audit_hash(seq, micros(at), actor, event, subject, text, prev)}
        con.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)", list(row.values()))
        return row


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_ARROW: dict[str, Any] = {}


def _arrow(table: str, rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    if not _ARROW:
        _ARROW.update({"VARCHAR": pa.string(), "JSON": pa.string(), "DOUBLE": pa.float64(),
                       "INTEGER": pa.int32(), "BIGINT": pa.int64(), "BOOLEAN": pa.bool_(),
                       "TIMESTAMPTZ": pa.timestamp("us", tz="UTC")})
    types = column_types(table)
    cols = [c for c, _ in TABLES[table] if any(c in r for r in rows)]
    unknown = {k for r in rows for k in r} - set(types)
    if unknown:
        raise ValueError(f"unknown columns for {table}: {sorted(unknown)}")
    data: dict[str, list[Any]] = {}
    for col in cols:
        kind = types[col]
        values = [r.get(col) for r in rows]
        if kind == "JSON":
            values = [None if v is None else json.dumps(redact(v), default=str,
                                                        ensure_ascii=False) for v in values]
        elif kind == "VARCHAR":
            values = [None if v is None else redact(str(v)) for v in values]
        elif kind == "DOUBLE":
            values = [None if v is None else float(v) for v in values]
        data[col] = values
    schema = pa.schema([(c, _ARROW[types[c]]) for c in cols])
    return pa.Table.from_pydict(data, schema=schema)
