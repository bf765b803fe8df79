"""The store interface, one for both engines: ``Store(target)`` is a DuckDB file store for a
path and a PostgreSQL team store for a ``postgresql://`` URL (see ``target.py``).

Every verb talks to this interface only. Both backends have the same tables and columns
(``migrations.TABLES``), the same numbered migrations, and these guarantees:

- one connection per process and store, reused by every call (DuckDB releases its file after
  a moment idle so other processes get their turn; see ``db.py``);
- ``write`` inserts a batch of rows into several tables in one transaction (an Arrow batch on
  DuckDB, ``COPY`` on PostgreSQL), with every string redacted of secrets;
- ``append_audit`` serialises appends to the hash chain across processes and hosts;
- ``promotion_lock(env)`` serialises promotions to one environment across processes and hosts;
- ``lease(run_id)`` keeps a running run's heartbeat fresh, and runs whose heartbeat went stale
  (their process died, on any host) are marked ``incomplete`` when a store is opened.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from promptrail.errors import UsageError
from promptrail.secrets import candidate_pattern, redact, secret_values
from promptrail.store.migrations import TABLES, column_types
from promptrail.store.target import Target, parse

# Tables whose rows are written if absent (a row with the same key already stored is kept).
INSERT_IF_ABSENT = {"prompt_versions", "response_cache"}

# Statement types ``query`` runs; anything else goes through ``execute`` or ``write``.
READ_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA"}

# A run whose heartbeat is older than this (seconds) is dead; a live run beats 4x as often.
LEASE = float(os.environ.get("PROMPTRAIL_RUN_LEASE", "300"))


class Store:
    """The store interface. ``Store(path_or_url)`` returns the backend for it."""

    dialect = ""
    target: Target
    read_only: bool

    def __new__(cls, target: str | Path | Target, *args: Any, **kwargs: Any) -> Any:
        if cls is Store:
            parsed = parse(target)
            if parsed.kind == "postgres":
                from promptrail.store.postgres import PostgresStore

                cls = PostgresStore
            else:
                from promptrail.store.db import DuckDBStore

                cls = DuckDBStore
        return super().__new__(cls)

    @property
    def label(self) -> str:
        return self.target.label

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    # -- the interface each backend implements ------------------------------------------
    def connection(self) -> AbstractContextManager[Any]:
        """The process's connection (migrated, UTC), held for the ``with`` block."""
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[Any]:
        """One read-write transaction: commits on exit, rolls back on an exception."""
        raise NotImplementedError

    def migrate(self) -> list[int]:
        """Bring the schema up to date (idempotent; also done on first connect)."""
        raise NotImplementedError

    def query(
        self, sql: str, params: list[Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one read statement: (column names, rows). Writes are refused here."""
        raise NotImplementedError

    def arrow(self, sql: str, params: list[Any] | None = None) -> Any:
        """A read query's result as a pyarrow Table (for export, copy and pandas)."""
        raise NotImplementedError

    def audit_rows(self) -> Iterator[tuple[Any, ...]]:
        """(seq, at, actor, event, subject, payload, prev_hash, hash) in seq order, streamed."""
        raise NotImplementedError

    def stream(self, sql: str, params: list[Any] | None = None) -> Iterator[dict[str, Any]]:
        """A read query's rows as dicts, fetched ``STREAM_BATCH`` at a time (a 100,000-case
        run's rows are never all in memory). The connection is held until the last row."""
        raise NotImplementedError

    def promotion_lock(self, env: str) -> AbstractContextManager[None]:
        """Held while promoting to ``env``: one promotion per environment at a time, across
        processes and hosts sharing this store."""
        raise NotImplementedError

    def _insert(self, con: Any, table: str, columns: list[str], values: list[list[Any]]) -> None:
        raise NotImplementedError

    def _serialise_audit(self, con: Any) -> None:
        """Inside ``con``'s transaction: wait for other audit appenders (all hosts)."""

    def close(self) -> None:
        """Close this process's connection to the store (it reopens when used again)."""

    # -- shared behaviour ----------------------------------------------------------------
    def query_dicts(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cols, rows = self.query(sql, params)
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def sql(self, text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A user's query (``promptrail sql``): read-only; a bad query is a usage error."""
        try:
            return self.query(text)
        except Exception as exc:
            if _is_sql_error(exc):
                raise UsageError(f"SQL error: {exc}", kind="sql") from None
            raise

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        """One write statement in its own transaction."""
        with self.transaction() as con:
            con.execute(sql, params or [])

    def write(self, batches: Mapping[str, Iterable[dict[str, Any]]], con: Any = None) -> None:
        """Insert rows into several tables in one transaction.

        Rows are lists or iterators (a big run's case rows are made as they are written);
        JSON columns take Python values (a str that parses as JSON is taken as JSON text);
        strings anywhere are redacted of secrets; prompt_versions rows already stored (same
        name and content_hash) are skipped. Pass ``con`` from ``transaction()`` to commit
        with other statements (an audit row)."""
        values = secret_values()
        if all(isinstance(rows, list) and not rows for rows in batches.values()):
            return

        def insert(target: Any) -> None:
            for table, rows in batches.items():
                it = iter(rows)
                while chunk := list(islice(it, WRITE_CHUNK)):  # bounded memory for big runs
                    with without_pandas():
                        cols, vals = prepare(table, chunk, values)
                    self._insert(target, table, cols, vals)

        if con is None:
            with self.transaction() as own:
                insert(own)
        else:
            insert(con)

    def append_audit(
        self, event: str, actor: str, subject: str, payload: dict[str, Any], con: Any = None
    ) -> dict[str, Any]:
        """Append one hash-chained audit row, in ``con``'s transaction when given."""
        from promptrail import audit

        if con is None:
            with self.transaction() as own:
                self._serialise_audit(own)
                return audit.append(own, event, actor, subject, payload)
        self._serialise_audit(con)
        return audit.append(con, event, actor, subject, payload)

    def heartbeat(self, run_id: str) -> None:
        self.execute("UPDATE runs SET heartbeat_at = now() WHERE run_id = ?", [run_id])

    @contextmanager
    def lease(self, run_id: str) -> Iterator[None]:
        """Keep ``run_id``'s heartbeat fresh while the block runs (a daemon thread beats
        every LEASE/4 s), so other hosts can tell a live run from a dead one."""
        import threading

        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(LEASE / 4):
                try:
                    self.heartbeat(run_id)
                except Exception:  # noqa: BLE001 - a missed beat is retried; the run goes on
                    continue

        thread = threading.Thread(target=beat, name=f"promptrail-lease-{run_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()

    def mark_incomplete(self) -> list[str]:
        """Mark 'running' runs whose process is gone as 'incomplete': on this host by pid,
        on any host by a heartbeat older than the lease."""
        with self.transaction() as con:
            return mark_dead_runs(con, self.dialect)


def close_each(shared: Mapping[str, Any], close: Callable[[Any], None]) -> None:
    """``close`` every per-process connection entry of a store module (each has a ``lock``);
    an entry busy for over a second is left to its user."""
    for entry in list(shared.values()):
        if entry.lock.acquire(timeout=1):
            try:
                close(entry)
            finally:
                entry.lock.release()


def mark_dead_runs(con: Any, dialect: str) -> list[str]:
    import socket

    epoch = "epoch(started_at)" if dialect == "duckdb" else "extract(epoch FROM started_at)"
    stale = f"coalesce(heartbeat_at, started_at) < now() - INTERVAL '{int(LEASE)} seconds'"
    host = socket.gethostname()
    rows = con.execute(
        f"SELECT run_id, pid, {epoch}, host, ({stale}) AS stale FROM runs WHERE status = 'running'",
    ).fetchall()
    dead = [
        run_id
        for run_id, pid, started, where, is_stale in rows
        if (where == host and not alive(pid, None if started is None else float(started)))
        or (where != host and is_stale)
    ]
    for run_id in dead:
        con.execute(
            "UPDATE runs SET status = 'incomplete', finished_at = coalesce("
            "finished_at, now()) WHERE run_id = ?",
            [run_id],
        )
    return dead


def alive(pid: int | None, started: float | None) -> bool:
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


def _is_sql_error(exc: Exception) -> bool:
    """A query the database refused (syntax, unknown column, a write in a read-only query),
    as opposed to the store being unreachable."""
    module = type(exc).__module__
    if "duckdb" in module:
        return not isinstance(exc, OSError)
    if module.startswith("psycopg"):
        sqlstate = getattr(exc, "sqlstate", None) or ""
        return sqlstate[:2] in ("42", "22", "25", "0A", "21", "23")
    return False


# -- pandas stays off the write path -----------------------------------------------------------
class _NoPandasInThread:
    """A meta path finder refusing ``import pandas`` in the threads listed: pyarrow and DuckDB
    try to import pandas (seconds on a cold machine) just to see whether a value is a
    DataFrame. Other threads import it as usual; so does this one afterwards (pyarrow and
    DuckDB try again when a DataFrame is really asked for)."""

    def __init__(self) -> None:
        self.threads: set[int] = set()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" and threading.get_ident() in self.threads:
            raise ImportError("pandas is kept off promptrail's store write path")
        return None


_NO_PANDAS = _NoPandasInThread()


@contextmanager
def without_pandas() -> Iterator[None]:
    import sys

    if "pandas" in sys.modules:
        yield
        return
    if _NO_PANDAS not in sys.meta_path:
        sys.meta_path.insert(0, _NO_PANDAS)
    me = threading.get_ident()
    nested = me in _NO_PANDAS.threads
    _NO_PANDAS.threads.add(me)
    try:
        yield
    finally:
        if not nested:
            _NO_PANDAS.threads.discard(me)


# -- rows to columns -----------------------------------------------------------------------
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


def prepare(
    table: str, rows: list[dict[str, Any]], secrets: list[str]
) -> tuple[list[str], list[list[Any]]]:
    """The columns the rows name, in table order, as typed Python lists, every string that
    could hold a secret redacted. Large batches find them with one vectorised RE2 pass
    (pyarrow); a small one (a gate's few prompts, an audit row) is scanned in Python, so a
    store that never needs Arrow (PostgreSQL) does not pay pyarrow's import."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    types = column_types(table)
    named = {k for r in rows for k in r}
    if unknown := named - set(types):
        raise ValueError(f"unknown columns for {table}: {sorted(unknown)}")
    vectorised = len(rows) > SMALL_BATCH
    pattern = candidate_pattern(secrets)
    names, columns = [], []
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
        if kind in ("VARCHAR", "JSON"):
            found = _suspects(values, pattern) if vectorised else _found(values, pattern, secrets)
            for i in found:
                text = str(values[i])  # a match: never None
                values[i] = (
                    _json(redact(json.loads(text), secrets))
                    if kind == "JSON"
                    else redact(text, secrets)
                )
        names.append(col)
        columns.append(values)
    return names, columns


STREAM_BATCH = 2_000  # rows fetched at a time by Store.stream
WRITE_CHUNK = 5_000  # rows prepared and inserted at a time, inside the one transaction
SMALL_BATCH = 200  # rows; above it, pyarrow's RE2 scans a column faster than Python


def arrow() -> Any:
    """pyarrow, allocating from the system's malloc: its default (jemalloc) keeps what a
    big run's batches freed, ~60 MB more peak memory at 50,000 cases."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())
    return pa


def _suspects(values: list[Any], pattern: str) -> list[int]:
    """Indexes of the strings RE2 finds a secret candidate in (a superset of those
    ``redact`` changes)."""
    import pyarrow.compute as pc

    pa = arrow()
    hits = pc.match_substring_regex(pa.array(values, pa.string()), pattern).fill_null(False)
    return pc.indices_nonzero(hits).to_pylist() if pc.any(hits).as_py() else []


def _found(values: list[Any], pattern: str, known: list[str] | None = None) -> list[int]:
    """The same indexes, found with Python's ``re`` (for a few rows). A string is searched
    only when it holds a hint or a known value (``pattern`` matches nothing else; the hint
    scan is ~5x cheaper than the thirteen patterns, and this runs on every gate's rows)."""
    from promptrail.secrets import suspect

    search, known = re.compile(pattern).search, known or []
    return [i for i, v in enumerate(values) if v is not None and suspect(v, known) and search(v)]


ARROW_TYPES = {
    "VARCHAR": "string",
    "JSON": "string",
    "DOUBLE": "float64",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "BOOLEAN": "bool_",
}


def to_arrow(
    table: str, names: list[str], columns: list[list[Any]], order: list[str] | None = None
) -> Any:
    """Prepared columns as a pyarrow Table typed like ``table``; with ``order``, those
    columns in that order (the ones not given are nulls)."""
    pa = arrow()

    def kind(n: str) -> Any:
        t = types[n]
        return pa.timestamp("us", tz="UTC") if t == "TIMESTAMPTZ" else getattr(pa, ARROW_TYPES[t])()

    types = column_types(table)
    given = dict(zip(names, columns, strict=True))
    rows = len(columns[0]) if columns else 0
    order = names if order is None else order
    fields = [pa.field(n, kind(n)) for n in order]
    arrays = [
        pa.array(given[f.name], type=f.type) if f.name in given else pa.nulls(rows, f.type)
        for f in fields
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
