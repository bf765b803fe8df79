"""The store across processes, on both engines where it applies: the DuckDB file lock (a
writer waits for the holder, names it, gives up after its timeout), a killed writer (whole
transactions only, the run marked incomplete), dead runs found by PID on this host and by
heartbeat elsewhere, and concurrent writers beside a reader that lose nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from promptrail import audit
from promptrail.errors import OperationalError
from promptrail.store import Store, mark_incomplete_runs, open_store

REPO = Path(__file__).parent.parent
T0 = datetime(2026, 3, 1, tzinfo=UTC)


# -- the file lock ----------------------------------------------------------------------------
def _hold(path: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the store open for ``seconds``."""
    code = (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', "
        "flush=True); time.sleep(float(sys.argv[2])); con.close()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_locked_store_is_waited_for_and_says_who_holds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(tmp_path / "l.duckdb")
    store.close()
    holder = _hold(store.path, 0.8)
    store.write({"runs": [{"run_id": "after"}]})
    assert store.query("SELECT run_id FROM runs")[1] == [("after",)]
    holder.wait()
    err = capsys.readouterr().err
    assert f"waiting for the store {store.path}: held by PID {holder.pid} on " in err


def test_a_store_locked_too_long_is_an_operational_error(tmp_path: Path) -> None:
    store = open_store(tmp_path / "l.duckdb")
    store.lock_timeout = 0.5
    store.close()
    holder = _hold(store.path, 60)
    try:
        start = time.monotonic()
        with pytest.raises(OperationalError) as err:
            store.query("SELECT 1")
        # gave up after lock_timeout instead of waiting out the holder (loose: busy machines)
        assert 0.5 <= time.monotonic() - start < 30
        assert str(store.path) in str(err.value) and err.value.exit_code == 3
        assert f"PID {holder.pid}" in str(err.value)
    finally:
        holder.kill()
        holder.wait()


def test_a_store_that_cannot_be_opened_is_an_operational_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-db.duckdb").write_text("hello, I am not a database\n" * 100)
    with pytest.raises(OperationalError, match="cannot open the store .*not-a-db.duckdb"):
        Store(tmp_path / "not-a-db.duckdb").query("SELECT 1")


# -- crashes ----------------------------------------------------------------------------------
@pytest.mark.e2e  # several processes or 100k rows: seconds, not milliseconds
def test_killed_process_leaves_a_readable_store_and_an_incomplete_run(store_url: str) -> None:
    db = store_url
    script = textwrap.dedent("""
        import datetime, os, socket, sys
        from promptrail.store import Store
        s = Store(sys.argv[1]); now = datetime.datetime.now(datetime.timezone.utc)
        s.write({'runs': [{'run_id': 'r1', 'status': 'running', 'started_at': now,
                           'host': socket.gethostname(), 'pid': os.getpid()}]})
        print('started', flush=True)
        i = 0
        while True:
            with s.transaction() as con:
                s.write({'case_results': [{'run_id': 'r1', 'case_id': f'c{i}-{j}',
                                           'passed': True} for j in range(200)]}, con=con)
                s.append_audit('batch', 'me', 'r1', {'i': i}, con=con)
            i += 1
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(db)
    rows = store.query("SELECT count(*) FROM case_results")[1][0][0]
    batches = store.query("SELECT count(*) FROM audit_log")[1][0][0]
    assert rows > 0 and rows == 200 * batches  # whole transactions only
    assert store.query("SELECT status FROM runs WHERE run_id = 'r1'")[1] == [("incomplete",)]
    assert audit.verify(store)["status"] == "ok"


def test_dead_runs_are_found_by_pid_here_and_by_heartbeat_elsewhere(store_url: str) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    younger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        host = socket.gethostname()
        store = Store(store_url)
        store.write(
            {
                "runs": [
                    {
                        "run_id": "dead",
                        "status": "running",
                        "host": host,
                        "pid": gone.pid,
                        "started_at": T0,
                    },
                    {
                        "run_id": "me",
                        "status": "running",
                        "host": host,
                        "pid": os.getpid(),
                        "started_at": datetime.now(UTC),
                    },
                    {
                        "run_id": "reused",
                        "status": "running",
                        "host": host,
                        "pid": younger.pid,
                        "started_at": datetime.now(UTC) - timedelta(hours=1),
                    },
                    {
                        "run_id": "elsewhere",
                        "status": "running",
                        "host": "other-host",
                        "pid": 1,
                        "started_at": T0,
                        "heartbeat_at": datetime.now(UTC) - timedelta(seconds=30),
                    },
                    {  # a CI runner thrown away mid-run: its heartbeat stopped long ago
                        "run_id": "elsewhere-dead",
                        "status": "running",
                        "host": "other-host",
                        "pid": 1,
                        "started_at": T0,
                        "heartbeat_at": datetime.now(UTC) - timedelta(hours=1),
                    },
                    {"run_id": "done", "status": "passed", "host": host, "pid": gone.pid},
                ]
            }
        )
        assert sorted(mark_incomplete_runs(store)) == ["dead", "elsewhere-dead", "reused"]
        assert dict(store.query("SELECT run_id, status FROM runs")[1]) == {
            "dead": "incomplete",
            "me": "running",
            "reused": "incomplete",
            "elsewhere": "running",
            "elsewhere-dead": "incomplete",
            "done": "passed",
        }
        store.heartbeat("me")  # a live run's lease is renewed
        beat = store.query("SELECT heartbeat_at FROM runs WHERE run_id = 'me'")[1][0][0]
        assert beat is not None and datetime.now(UTC) - beat < timedelta(minutes=1)
    finally:
        younger.kill()
        younger.wait()


# -- concurrent processes ---------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys
    from promptrail.store import Store
    s, w = Store(sys.argv[1]), int(sys.argv[2])
    for b in range(50):
        with s.transaction() as con:
            s.write({'case_results': [{'run_id': f'w{w}', 'case_id': f'b{b}-c{c}',
                                       'repeat': 0, 'passed': True} for c in range(200)]},
                    con=con)
            s.append_audit('batch', f'w{w}', f'w{w}/b{b}', {'rows': 200}, con=con)
""")
READER = textwrap.dedent("""
    import sys, time
    from promptrail.store import Store
    s, reads, last = Store(sys.argv[1]), 0, 0
    while True:
        n = s.query('SELECT count(*) FROM case_results')[1][0][0]
        assert n >= last and n % 200 == 0, n       # never a partial transaction
        last, reads = n, reads + 1
        if n == 40000:
            break
    print(reads)
""")


@pytest.mark.e2e  # several processes or 100k rows: seconds, not milliseconds
def test_concurrent_writers_and_a_reader_lose_nothing(store_url: str) -> None:
    db = store_url
    open_store(db).close()
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(w)], cwd=REPO)
        for w in range(4)
    ]
    try:
        assert [w.wait(timeout=240) for w in writers] == [0, 0, 0, 0]
        out, _ = reader.communicate(timeout=60)
        assert reader.returncode == 0 and int(out) > 1
    finally:
        for proc in (*writers, reader):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    store = Store(db)
    assert store.query("SELECT run_id, count(*) FROM case_results GROUP BY 1 ORDER BY 1")[1] == [
        (f"w{w}", 10_000) for w in range(4)
    ]
    assert store.query("SELECT count(DISTINCT (run_id, case_id)) FROM case_results")[1] == [
        (40_000,)
    ]
    assert audit.verify(store) == {
        "status": "ok",
        "rows": 200,
        "first_bad_seq": None,
        "reason": None,
    }
