"""The DuckDB file store (the zero-setup default): one connection per process, Arrow batches.

DuckDB lets one process at a time open a database file read-write (and a reader is refused
while a writer has it), so a process keeps one connection to the file and reuses it for every
call, then lets the file go after ``PROMPTRAIL_STORE_IDLE`` seconds (1) without a call: a gate
run's writes reuse one connection while other processes still get their turn between runs.
Read-only verbs open the file read-only (several readers at once, and a read-only mount work;
a missing file reads as an empty store). A call that finds the file locked by another process
says so once on stderr ("waiting for the store ...: held by PID n on HOST") and retries with
exponential backoff and jitter (10 ms doubling to 100 ms) for up to ``lock_timeout`` seconds
(60, or ``PROMPTRAIL_STORE_WAIT``), then raises ``OperationalError`` naming the file. Inside
one process a lock serialises transactions, so a run's threads never race each other.
"""

from __future__ import annotations

import atexit
import os
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptrail.audit import GENESIS, audit_hash, micros  # noqa: F401  (re-exported)
from promptrail.errors import OperationalError
from promptrail.secrets import redact
from promptrail.store.base import (
    INSERT_IF_ABSENT,
    READ_STATEMENTS,
    STREAM_BATCH,
    Store,
    close_each,
    mark_dead_runs,
    to_arrow,
    without_pandas,
)
from promptrail.store.migrations import LATEST, applied, check_not_newer, check_schema, migrate
from promptrail.store.target import Target, parse

__all__ = [
    "GENESIS",
    "DuckDBStore",
    "audit_hash",
    "check_read_only",
    "mark_incomplete_runs",
    "micros",
    "open_store",
    "redact",
]

IDLE = float(os.environ.get("PROMPTRAIL_STORE_IDLE", "1.0"))


@dataclass
class _Shared:
    """This process's connection to one file, shared by every Store of that path."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    con: Any = None
    read_only: bool = False
    memory: bool = False
    depth: int = 0
    generation: int = 0
    opens: int = 0


_shared: dict[str, _Shared] = {}
_ready: set[tuple[str, int, bool]] = set()  # (path, inode, read_only) migrated and checked
_guard = threading.Lock()


def _entry(path: Path) -> _Shared:
    with _guard:
        return _shared.setdefault(str(path.resolve()), _Shared())


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "could not set lock" in text or "conflicting lock" in text


def _close(entry: _Shared) -> None:
    if entry.con is not None:
        with suppress(Exception):
            entry.con.close()
        entry.con = None


@atexit.register
def close_all() -> None:
    """Let go of every store file this process holds (a command's end, or exit)."""
    close_each(_shared, _close)


class DuckDBStore(Store):
    dialect = "duckdb"

    def __init__(
        self,
        target: str | Path | Target,
        lock_timeout: float | None = None,
        read_only: bool = False,
    ) -> None:
        self.target = parse(target)
        assert self.target.path is not None
        self.path = self.target.path
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_timeout = (
            float(os.environ.get("PROMPTRAIL_STORE_WAIT", "60"))
            if lock_timeout is None
            else lock_timeout
        )

    # -- connections ---------------------------------------------------------------------
    def _connect(self, read_only: bool) -> Any:
        import duckdb

        deadline = time.monotonic() + self.lock_timeout
        delay, told = 0.01, False
        if self._someone_waits():  # we just let go for another process: give it its turn
            time.sleep(random.uniform(0.15, 0.3))
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as exc:
                left = deadline - time.monotonic()
                if not _is_lock_error(exc):
                    raise self._unusable(exc) from None
                if left <= 0:
                    raise OperationalError(
                        f"the store {self.path} stayed locked by another process "
                        f"({_holder(exc)}) for {self.lock_timeout:g} s "
                        "(PROMPTRAIL_STORE_WAIT)",
                        file=self.path,
                        kind="store",
                    ) from None
                self._ask_for_turn()
                if not told:
                    sys.stderr.write(
                        f"promptrail: waiting for the store {self.path}: {_holder(exc)} "
                        f"(up to {self.lock_timeout:g} s)\n"
                    )
                    told = True
                time.sleep(min(left, delay * random.uniform(0.5, 1.0)))
                delay = min(delay * 2, 0.1)
            except duckdb.Error as exc:
                raise self._unusable(exc) from None

    @property
    def _turn_file(self) -> Path:
        return self.path.with_name(f"{self.path.name}.waiting")

    def _ask_for_turn(self) -> None:
        """Tell the process holding the file that another one waits (it lets go after its
        current call instead of after IDLE seconds)."""
        with suppress(OSError):
            self._turn_file.write_text(str(os.getpid()))

    def _someone_waits(self) -> bool:
        try:
            st = self._turn_file.stat()
            if time.time() - st.st_mtime > 2:
                return False
            return self._turn_file.read_text().strip() != str(os.getpid())
        except (OSError, ValueError):
            return False

    def _unusable(self, exc: Exception) -> OperationalError:
        reason = str(exc).splitlines()[0]
        if "Read-only file system" in reason or "Permission denied" in reason:
            why = (
                "this command writes to the store, and its file cannot be written here; "
                "the reading verbs (at, history, audit verify, sql, report) work on it as it is"
            )
        else:
            why = "a damaged or truncated store, or not a DuckDB file"
        return OperationalError(
            f"cannot open the store {self.path}: {reason} ({why})", file=self.path, kind="store"
        )

    def _open(self, entry: _Shared, read_only: bool) -> None:
        """Give ``entry`` an open connection fit for ``read_only`` (migrated, checked)."""
        if entry.con is not None:
            stale_memory = entry.memory and self.path.exists()
            if not stale_memory and (read_only or not entry.read_only):
                return
            _close(entry)
        if read_only and not self.path.exists():
            import duckdb

            con = duckdb.connect()  # an empty store: nothing recorded yet
            con.execute("SET TimeZone = 'UTC'")
            migrate(con, label=str(self.path))
            entry.con, entry.read_only, entry.memory = con, True, True
            return
        con = self._connect(read_only)
        entry.opens += 1
        try:
            con.execute("SET TimeZone = 'UTC'")
            key = (str(self.path.resolve()), self.path.stat().st_ino, read_only)
            if key not in _ready:
                if read_only:
                    self._check_readable(con)
                else:
                    migrate(con, label=str(self.path))
                    check_schema(con, str(self.path))
                    mark_dead_runs(con, self.dialect)
                _ready.add(key)
        except OperationalError:
            con.close()
            raise
        except Exception as exc:
            con.close()
            if "duckdb" in type(exc).__module__:
                raise self._unusable(exc) from None
            raise
        entry.con, entry.read_only, entry.memory = con, read_only, False

    def _check_readable(self, con: Any) -> None:
        has = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = "
            "'schema_migrations' AND table_schema = current_schema()"
        ).fetchone()[0]
        done = applied(con) if has else []
        check_not_newer(con, done, str(self.path))
        if not done:
            check_schema(con, str(self.path))  # a foreign database says so, not "migrate"
        if not done or max(done) < LATEST:
            raise OperationalError(
                f"the store {self.path} is at schema {max(done, default=0)} and this "
                f"promptrail needs {LATEST}: run `promptrail store migrate` (or any command "
                "that writes) where the store is writable",
                file=self.path,
                kind="store",
            )
        check_schema(con, str(self.path))

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """The process's connection (migrated, UTC), held for the block. Keep it short."""
        entry = _entry(self.path)
        with entry.lock:
            entry.generation += 1
            if entry.depth == 0:
                try:
                    self._open(entry, self.read_only)
                except OperationalError as exc:
                    if not (self.read_only and "schema" in exc.message and "needs" in exc.message):
                        raise
                    self._open(entry, False)  # migrate it, then read as asked
                    _close(entry)
                    self._open(entry, True)
            elif not self.read_only and entry.read_only:
                raise RuntimeError("a write inside a read-only store block")
            entry.depth += 1
            try:
                yield entry.con
            finally:
                entry.depth -= 1
                if entry.depth == 0:
                    self._release_later(entry)

    def _release_later(self, entry: _Shared) -> None:
        generation = entry.generation
        if IDLE <= 0 or (not entry.memory and self._someone_waits()):
            _close(entry)
            return

        def release() -> None:
            if entry.lock.acquire(blocking=False):
                try:
                    if entry.generation == generation and entry.depth == 0:
                        _close(entry)
                finally:
                    entry.lock.release()

        timer = threading.Timer(IDLE, release)
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        """Close the file (and check it afresh when next opened)."""
        entry = _entry(self.path)
        with entry.lock:
            if entry.depth == 0:
                _close(entry)
            resolved = str(self.path.resolve())
            for key in [k for k in _ready if k[0] == resolved]:
                _ready.discard(key)

    @property
    def opens(self) -> int:
        """How many times this process opened the file (for tests and benchmarks)."""
        return _entry(self.path).opens

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connection() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                with suppress(Exception):  # the transaction may have aborted already
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def migrate(self) -> list[int]:
        entry = _entry(self.path)
        with entry.lock:
            self._open(entry, False)
            return migrate(entry.con, label=str(self.path))

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

    def arrow(self, sql: str, params: list[Any] | None = None) -> Any:
        with self.connection() as con:
            check_read_only(con, sql)
            relation = con.sql(sql, params=params or None)
            fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
            return fetch()

    def audit_rows(self) -> Iterator[tuple[Any, ...]]:
        from promptrail.audit import ISO_SQL

        with self.connection() as con:
            cur = con.execute(
                f"SELECT seq, {ISO_SQL}, actor, event, subject, payload, prev_hash, hash, "
                "actor_source, hmac FROM audit_log ORDER BY seq"
            )
            while batch := cur.fetchmany(20_000):
                yield from batch

    def stream(self, sql: str, params: list[Any] | None = None) -> Iterator[dict[str, Any]]:
        with self.connection() as con:
            check_read_only(con, sql)
            cur = con.cursor()  # its own result: a query meanwhile does not end this one
            try:
                cur.execute(sql, params or [])
                cols = [d[0] for d in cur.description]
                while batch := cur.fetchmany(STREAM_BATCH):
                    for row in batch:
                        yield dict(zip(cols, row, strict=True))
            finally:
                cur.close()

    # -- writes --------------------------------------------------------------------------
    def _insert(self, con: Any, table: str, columns: list[str], values: list[list[Any]]) -> None:
        if table not in INSERT_IF_ABSENT:
            # Every column, in the table's order, straight from Arrow: a view registered and
            # dropped in the transaction would keep each batch's Arrow table alive until the
            # commit (about 40 MB of a 50,000-case prompt's 150,000 rows).
            order = con.table(table).columns  # the file's own, as its migrations made it
            with without_pandas():  # DuckDB looks for pandas when it scans a Python object
                con.from_arrow(to_arrow(table, columns, values, order)).insert_into(table)
            return
        view = f"_batch_{table}"  # a few rows (versions, cache entries): ON CONFLICT needs SQL
        with without_pandas():
            con.register(view, to_arrow(table, columns, values))
        try:
            with without_pandas():
                con.execute(  # on its unique index or key
                    f"INSERT INTO {table} BY NAME SELECT * FROM {view} ON CONFLICT DO NOTHING"
                )
        finally:
            with suppress(Exception):  # after a failed insert the transaction is aborted
                con.unregister(view)

    @contextmanager
    def promotion_lock(self, env: str) -> Iterator[None]:
        """A file lock beside the store file (holds across processes on this host, and
        across hosts on a file system with working ``flock``)."""
        import fcntl

        path = self.path.with_name(f"{self.path.name}.promote-{env}.lck")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                sys.stderr.write(
                    f"promptrail: waiting for the promotion lock on {env}: held by {holder}\n"
                )
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"PID {os.getpid()} on {socket.gethostname()}".encode(), 0)
            yield
        finally:
            with suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _holder(exc: Exception) -> str:
    """Who holds the file, from DuckDB's lock error ("... (PID 123) ...")."""
    found = re.search(r"PID (\d+)", str(exc))
    who = f"PID {found.group(1)}" if found else "another process"
    return f"held by {who} on {socket.gethostname()}"


def open_store(target: str | Path) -> Store:
    """A migrated store at ``target`` (a path or a postgresql:// URL)."""
    store: Store = Store(target)
    store.migrate()
    return store


def mark_incomplete_runs(store: Store) -> list[str]:
    """Mark 'running' runs whose process is gone as 'incomplete'."""
    return store.mark_incomplete()


def check_read_only(con: Any, sql: str) -> None:
    import duckdb

    kinds = {s.type.name for s in con.extract_statements(sql)}
    if not kinds <= READ_STATEMENTS:
        raise duckdb.InvalidInputException(
            f"the store is read-only here ({', '.join(sorted(kinds - READ_STATEMENTS))} "
            "statements are not run by queries)"
        )
