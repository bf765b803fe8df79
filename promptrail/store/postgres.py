"""The PostgreSQL team store: the same tables, migrations and guarantees as the DuckDB file,
shared by every machine of a team (CI runners, release managers' laptops, Prefect workers).

One psycopg 3 connection per process (autocommit; explicit transactions), reused by every
call. Across processes and hosts:

- audit appends take ``pg_advisory_xact_lock`` in their READ COMMITTED transaction before
  reading the chain's head, so the chain never forks (the primary key on ``seq`` is the
  backstop);
- promotions to one environment hold a session ``pg_advisory_lock`` keyed by the environment;
- migrations run under a session advisory lock, so processes connecting first at once migrate
  once;
- queries (``promptrail sql`` too) run in ``READ ONLY`` transactions.

JSON columns are ``json`` (the text as written) and come back as text, numerics as floats, times in UTC, so
callers see the same Python values from both engines. A password in the URL is never shown:
errors name host, port and database only.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from promptrail.errors import OperationalError
from promptrail.secrets import redact
from promptrail.store.base import (
    INSERT_IF_ABSENT,
    STREAM_BATCH,
    Store,
    close_each,
    mark_dead_runs,
)
from promptrail.store.migrations import LATEST, applied, check_not_newer, check_schema, migrate
from promptrail.store.target import Target, parse

NAMESPACE = 0x70726F6D  # "prom": the first key of every promptrail advisory lock
AUDIT_KEY, MIGRATE_KEY = 1, 2
PROMOTE_NAMESPACE = 0x70726F70  # "prop": promotions, keyed by environment

_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|%", re.S)


def pg_sql(sql: str) -> str:
    """``?`` placeholders (the DuckDB style every caller writes) as psycopg's ``%s`` (not
    inside quoted strings or identifiers), and every literal ``%`` doubled."""

    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "?":
            return "%s"
        return tok.replace("%", "%%")  # psycopg reads % everywhere, literals included

    return _TOKEN.sub(sub, sql)


class PgCon:
    """A psycopg connection with the small DB-API face the store's callers use:
    ``execute(sql, params)`` with ``?`` placeholders, returning a cursor."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> Any:
        cur = self.raw.cursor()
        if params:
            cur.execute(pg_sql(sql), list(params))
        else:
            cur.execute(sql)
        return cur

    def executemany(self, sql: str, rows: list[Any]) -> None:
        with self.raw.cursor() as cur:
            cur.executemany(pg_sql(sql), rows)


class _Shared:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.con: PgCon | None = None
        self.pid = 0
        self.ready = False
        self.opens = 0


_shared: dict[str, _Shared] = {}
_guard = threading.Lock()


def close_all() -> None:
    """Close this process's connections (a command's end): the server sees a clean exit."""
    close_each(_shared, _drop)


def _drop(entry: _Shared) -> None:
    if entry.con is not None:
        with suppress(Exception):
            entry.con.raw.close()
    entry.con, entry.ready = None, False


@contextmanager
def _in_transaction(con: PgCon, begin: str = "BEGIN") -> Iterator[None]:
    """``begin`` ... COMMIT, or ROLLBACK when the block raises."""
    con.execute(begin)
    try:
        yield
    except BaseException:
        with suppress(Exception):
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _psycopg() -> Any:
    from promptrail.extras import require

    return require("psycopg", "postgres")


class PostgresStore(Store):
    dialect = "postgres"

    def __init__(
        self,
        target: str | Path | Target,
        lock_timeout: float | None = None,
        read_only: bool = False,
    ) -> None:
        self.target = parse(target)
        self.read_only = read_only
        self.connect_timeout = int(os.environ.get("PROMPTRAIL_STORE_CONNECT_TIMEOUT", "10"))

    def _entry(self) -> _Shared:
        with _guard:
            return _shared.setdefault(self.target.url, _Shared())

    # -- connections ---------------------------------------------------------------------
    def _unreachable(self, exc: Exception) -> OperationalError:
        t = self.target
        reason = " ".join(str(exc).split())
        reason = re.sub(r"^connection failed: ", "", reason)
        return OperationalError(
            f"cannot use the PostgreSQL store at host {t.host or 'localhost'}, port {t.port}, "
            f"database {t.dbname}" + (f" as {t.user}" if t.user else "") + f": {redact(reason)}",
            kind="store",
        )

    def _connect(self) -> PgCon:
        psycopg = _psycopg()
        from psycopg.types.numeric import FloatLoader
        from psycopg.types.string import TextLoader

        who = f"promptrail PID {os.getpid()} on {socket.gethostname()}"[:63]
        try:
            raw = psycopg.connect(
                self.target.url,
                autocommit=True,
                connect_timeout=self.connect_timeout,
                application_name=who,
                options="-c TimeZone=UTC",
                keepalives=1,
                keepalives_idle=30,
            )
        except psycopg.Error as exc:
            raise self._unreachable(exc) from None
        for name in ("json", "jsonb"):  # JSON as text, as DuckDB returns it
            raw.adapters.register_loader(name, TextLoader)
        raw.adapters.register_loader("numeric", FloatLoader)
        return PgCon(raw)

    def _ready(self, con: PgCon) -> None:
        """Migrate (under an advisory lock, once per process), check the schema, mark dead
        runs. A read-only store skips the writes when the schema is already current."""
        con.execute("SELECT pg_advisory_lock(?, ?)", [NAMESPACE, MIGRATE_KEY])
        try:
            exists = con.execute("SELECT to_regclass('schema_migrations')").fetchone()[0]
            done = applied(con) if exists else []
            check_not_newer(con, done, self.label)
            if not done or max(done) < LATEST:
                migrate(con, dialect="postgres", label=self.label)
            check_schema(con, self.label)
            if not self.read_only:
                with _in_transaction(con):
                    mark_dead_runs(con, self.dialect)
        finally:
            with suppress(Exception):
                con.execute("SELECT pg_advisory_unlock(?, ?)", [NAMESPACE, MIGRATE_KEY])

    @contextmanager
    def connection(self) -> Iterator[Any]:
        psycopg = _psycopg()
        entry = self._entry()
        with entry.lock:
            if entry.con is not None and (entry.pid != os.getpid() or entry.con.raw.closed):
                entry.con, entry.ready = None, False  # forked, or dropped: connect again
            try:
                if entry.con is None:
                    entry.con, entry.pid = self._connect(), os.getpid()
                    entry.opens += 1
                if not entry.ready:
                    self._ready(entry.con)
                    entry.ready = True
                yield entry.con
            except psycopg.OperationalError as exc:
                _drop(entry)
                raise self._unreachable(exc) from None
            except psycopg.errors.InsufficientPrivilege as exc:
                raise self._unreachable(exc) from None

    def close(self) -> None:
        entry = self._entry()
        with entry.lock:
            _drop(entry)

    @property
    def opens(self) -> int:
        return self._entry().opens

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connection() as con, _in_transaction(con):
            yield con

    @contextmanager
    def _read(self) -> Iterator[PgCon]:
        """A READ ONLY transaction (or the caller's open transaction)."""
        with self.connection() as con:
            if con.raw.info.transaction_status != 0:  # already in one: read inside it
                yield con
                return
            with _in_transaction(con, "BEGIN READ ONLY"):
                yield con

    def migrate(self) -> list[int]:
        with self.connection() as con:
            return migrate(con, dialect="postgres", label=self.label)

    # -- reads ---------------------------------------------------------------------------
    def query(
        self, sql: str, params: list[Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._read() as con:
            cur = con.execute(sql, params)
            cols = [d.name for d in cur.description] if cur.description else []
            return cols, cur.fetchall() if cur.description else []

    def arrow(self, sql: str, params: list[Any] | None = None) -> Any:
        import pyarrow as pa

        cols, rows = self.query(sql, params)
        return (
            pa.Table.from_pylist([dict(zip(cols, r, strict=True)) for r in rows]).select(cols)
            if rows
            else pa.table({c: pa.array([], pa.null()) for c in cols})
        )

    def audit_rows(self) -> Iterator[tuple[Any, ...]]:
        with self.connection() as con, con.raw.transaction():
            with con.raw.cursor(name="promptrail_audit_rows") as cur:
                cur.itersize = 20_000
                cur.execute(
                    "SELECT seq, occurred_at, actor, event, subject, payload, prev_hash, hash, "
                    "actor_source, hmac FROM audit_log ORDER BY seq"
                )
                yield from cur

    def stream(self, sql: str, params: list[Any] | None = None) -> Iterator[dict[str, Any]]:
        with self._read() as con, con.raw.cursor(name="promptrail_stream") as cur:
            cur.itersize = STREAM_BATCH
            if params:
                cur.execute(pg_sql(sql), list(params))
            else:
                cur.execute(sql)
            cols = [d.name for d in cur.description or []]
            for row in cur:
                yield dict(zip(cols, row, strict=True))

    # -- writes --------------------------------------------------------------------------
    def _insert(self, con: Any, table: str, columns: list[str], values: list[list[Any]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        rows = list(zip(*values, strict=True))
        if table in INSERT_IF_ABSENT:  # on its unique index or key
            marks = ", ".join("?" for _ in columns)
            con.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows
            )
            return
        with con.raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _serialise_audit(self, con: Any) -> None:
        con.execute("SELECT pg_advisory_xact_lock(?, ?)", [NAMESPACE, AUDIT_KEY])

    @contextmanager
    def promotion_lock(self, env: str) -> Iterator[None]:
        key = zlib.crc32(env.encode()) & 0x7FFFFFFF
        with self.connection() as con:
            got = con.execute("SELECT pg_try_advisory_lock(?, ?)", [PROMOTE_NAMESPACE, key])
            if not got.fetchone()[0]:
                holder = con.execute(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                    "USING (pid) WHERE l.locktype = 'advisory' AND l.granted AND "
                    "l.classid::bigint = ? AND l.objid::bigint = ? AND l.objsubid = 2",
                    [PROMOTE_NAMESPACE, key],
                ).fetchone()
                who = (holder[0] or "").removeprefix("promptrail ") if holder else ""
                sys.stderr.write(
                    f"promptrail: waiting for the promotion lock on {env}: held by "
                    f"{who or 'another promotion'}\n"
                )
                con.execute("SELECT pg_advisory_lock(?, ?)", [PROMOTE_NAMESPACE, key])
            try:
                yield
            finally:
                with suppress(Exception):
                    con.execute("SELECT pg_advisory_unlock(?, ?)", [PROMOTE_NAMESPACE, key])
