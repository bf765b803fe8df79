"""The DuckDB store: short transactions, batched Arrow inserts, retry on the file lock.

DuckDB lets one process at a time open a database file (even a reader is refused while a
writer has it), so nothing here holds the store open: every call connects, does one short
transaction and closes; a call that finds the file locked by another process retries with
exponential backoff and jitter (10 ms doubling to 500 ms) for up to ``lock_timeout`` seconds
(60, or ``PROMPTRAIL_STORE_WAIT``), then raises ``OperationalError`` naming the file. Inside
one process a lock serialises transactions, so a run's threads never race each other.
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promptrail import audit
from promptrail.audit import GENESIS, audit_hash, micros  # noqa: F401  (re-exported)
from promptrail.errors import OperationalError
from promptrail.secrets import candidate_pattern, redact, secret_values
from promptrail.store.migrations import TABLES, column_types, migrate

__all__ = [
    "GENESIS",
    "Store",
    "audit_hash",
    "mark_incomplete_runs",
    "micros",
    "open_store",
    "redact",
]

# Statement types ``query`` runs; anything else goes through ``execute`` or ``write``.
READ_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA"}

_process_locks: dict[str, threading.RLock] = {}
_migrated: set[tuple[str, int]] = set()
_guard = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    with _guard:
        return _process_locks.setdefault(str(path.resolve()), threading.RLock())


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "could not set lock" in text or "conflicting lock" in text


class Store:
    def __init__(self, path: str | Path, lock_timeout: float | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_timeout = (
            float(os.environ.get("PROMPTRAIL_STORE_WAIT", "60"))
            if lock_timeout is None
            else lock_timeout
        )

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- connections ---------------------------------------------------------------------
    def _open(self) -> Any:
        import duckdb

        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                left = deadline - time.monotonic()
                if not _is_lock_error(exc):
                    raise OperationalError(
                        f"cannot open the store {self.path}: {exc}", file=self.path, kind="store"
                    ) from None
                if left <= 0:
                    raise OperationalError(
                        f"the store {self.path} stayed locked by another process for "
                        f"{self.lock_timeout:g} s: {exc}",
                        file=self.path,
                        kind="store",
                    ) from None
                time.sleep(min(left, delay * random.uniform(0.5, 1.0)))
                delay = min(delay * 2, 0.5)
            except duckdb.Error as exc:
                raise OperationalError(
                    f"cannot open the store {self.path}: {exc}", file=self.path, kind="store"
                ) from None

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A fresh connection (migrated, UTC), closed on exit. Keep what you do short."""
        with _process_lock(self.path):
            con = self._open()
            try:
                con.execute("SET TimeZone = 'UTC'")
                key = (str(self.path.resolve()), self.path.stat().st_ino)
                if key not in _migrated:
                    migrate(con)
                    _mark_incomplete(con)
                    _migrated.add(key)
                yield con
            finally:
                con.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One read-write transaction: commits on exit, rolls back on an exception."""
        with self.connection() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                with suppress(Exception):  # the transaction may have aborted already
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def migrate(self) -> None:
        """Bring the schema up to date (idempotent; also done on first connect)."""
        with self.connection() as con:
            migrate(con)

    # -- reads ---------------------------------------------------------------------------
    def query(
        self, sql: str, params: list[Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one read statement: (column names, rows). Writes are refused here."""
        with self.connection() as con:
            check_read_only(con, sql)
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description] if cur.description else []
            return cols, cur.fetchall()

    def query_dicts(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cols, rows = self.query(sql, params)
        return [dict(zip(cols, r, strict=True)) for r in rows]

    # -- writes --------------------------------------------------------------------------
    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        """One write statement in its own transaction."""
        with self.transaction() as con:
            con.execute(sql, params or [])

    def write(self, batches: dict[str, list[dict[str, Any]]], con: Any = None) -> None:
        """Insert rows into several tables in one transaction (Arrow batches, not row loops).

        JSON columns take Python values (a str that parses as JSON is taken as JSON text);
        strings anywhere are redacted of secrets;
        prompt_versions rows already stored (same name and content_hash) are skipped. Pass
        ``con`` from ``transaction()`` to commit with other statements (an audit row)."""
        values = secret_values()
        tables = {t: _arrow(t, rows, values) for t, rows in batches.items() if rows}
        if not tables:
            return
        if con is None:
            with self.transaction() as own:
                _insert(own, tables)
        else:
            _insert(con, tables)

    def append_audit(
        self, event: str, actor: str, subject: str, payload: dict[str, Any], con: Any = None
    ) -> dict[str, Any]:
        """Append one hash-chained audit row, in ``con``'s transaction when given."""
        if con is None:
            with self.transaction() as own:
                return audit.append(own, event, actor, subject, payload)
        return audit.append(con, event, actor, subject, payload)


def open_store(path: str | Path) -> Store:
    """A migrated store at ``path``."""
    store = Store(path)
    store.migrate()
    return store


def mark_incomplete_runs(store: Store) -> list[str]:
    """Mark 'running' runs whose process (on this host) is gone as 'incomplete'."""
    with store.transaction() as con:
        return _mark_incomplete(con)


def _mark_incomplete(con: Any) -> list[str]:
    rows = con.execute(
        "SELECT run_id, pid, epoch(started_at) FROM runs WHERE status = 'running' AND host = ?",
        [socket.gethostname()],
    ).fetchall()
    dead = [run_id for run_id, pid, started in rows if not _alive(pid, started)]
    for run_id in dead:
        con.execute(
            "UPDATE runs SET status = 'incomplete', finished_at = coalesce("
            "finished_at, now()) WHERE run_id = ?",
            [run_id],
        )
    return dead


def _alive(pid: int | None, started: float | None) -> bool:
    """Is ``pid`` still the process that started a run at ``started`` (epoch seconds)?
    A zombie is dead; a process that began after the run is a reused pid."""
    if pid is None:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] in ("Z", "X"):
            return False
        if started is not None:
            boot = next(
                float(line.split()[1])
                for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime")
            )
            began = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
            return began <= started + 2  # clock-tick and btime rounding
    except (OSError, ValueError, IndexError, StopIteration):
        pass  # no /proc (macOS): trust kill(0)
    return True


def check_read_only(con: Any, sql: str) -> None:
    import duckdb

    kinds = {s.type.name for s in con.extract_statements(sql)}
    if not kinds <= READ_STATEMENTS:
        raise duckdb.InvalidInputException(
            f"the store is read-only here ({', '.join(sorted(kinds - READ_STATEMENTS))} "
            "statements are not run by queries)"
        )


def _insert(con: Any, tables: dict[str, Any]) -> None:
    for table, tbl in tables.items():
        view = f"_batch_{table}"
        con.register(view, tbl)
        if table == "prompt_versions":  # insert-if-absent on the unique index
            con.execute(
                f"INSERT INTO prompt_versions BY NAME SELECT * FROM {view} ON CONFLICT DO NOTHING"
            )
        else:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}")
        con.unregister(view)  # left registered on an error: the connection is closed anyway


_ENCODE = json.JSONEncoder(ensure_ascii=False, default=str, allow_nan=False).encode


def _json(value: Any) -> str | None:
    """JSON text for a JSON column: a str that already is JSON text is kept as it is."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except ValueError:
            pass
    try:
        return _ENCODE(value)
    except ValueError:  # NaN or infinity: JSON has no such number
        return _ENCODE(_finite(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _timestamp(value: Any) -> datetime | None:
    if value is None or not isinstance(value, datetime):
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # naive means UTC


def _arrow(table: str, rows: list[dict[str, Any]], secrets: list[str]) -> Any:
    """An Arrow table typed like ``table``, with the columns the rows name; every string
    that could hold a secret is found in one vectorised pass and redacted in Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    types = column_types(table)
    named = {k for r in rows for k in r}
    if unknown := named - set(types):
        raise ValueError(f"unknown columns for {table}: {sorted(unknown)}")
    arrow_types = {
        "VARCHAR": pa.string(),
        "JSON": pa.string(),
        "DOUBLE": pa.float64(),
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "BOOLEAN": pa.bool_(),
        "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    }
    pattern = candidate_pattern(secrets)
    columns, fields = [], []
    for col, kind in TABLES[table]:
        if col not in named:
            continue
        values = [r.get(col) for r in rows]
        if kind == "JSON":
            values = [_json(v) for v in values]
        elif kind == "VARCHAR":
            values = [v if v is None or isinstance(v, str) else str(v) for v in values]
        elif kind == "DOUBLE":
            values = [None if v is None else float(v) for v in values]
        elif kind == "TIMESTAMPTZ":
            values = [_timestamp(v) for v in values]
        array = pa.array(values, type=arrow_types[kind])
        if kind in ("VARCHAR", "JSON"):
            hits = pc.match_substring_regex(array, pattern).fill_null(False)
            if pc.any(hits).as_py():
                for i in pc.indices_nonzero(hits).to_pylist():
                    values[i] = (
                        _json(redact(json.loads(values[i]), secrets))
                        if kind == "JSON"
                        else redact(values[i], secrets)
                    )
                array = pa.array(values, type=arrow_types[kind])
        columns.append(array)
        fields.append(pa.field(col, arrow_types[kind]))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
