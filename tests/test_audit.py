"""The hash-chained audit log: the chain's formula, tamper detection, atomic appends inside a
transaction, threads, exports that verify on their own, and 100,000 rows in under 5 s."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from storehelp import is_pg, raw_execute

from promptrail import audit
from promptrail.errors import UsageError
from promptrail.hashing import content_hash
from promptrail.store import Store


@pytest.fixture
def store(store_url: str) -> Store:
    return Store(store_url)


def chain(store: Store, n: int = 5) -> None:
    for i in range(n):
        store.append_audit("test", "me", f"s{i}", {"i": i, "nested": {"b": [1, 2.5]}})


def test_rows_link_and_hash_as_documented(store: Store) -> None:
    first = store.append_audit("promote", "alice", "production/p", {"version": "1.0.0"})
    chain(store, 2)
    rows = store.query_dicts("SELECT * FROM audit_log ORDER BY seq")
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["prev_hash"] == audit.GENESIS == "sha256:" + "0" * 64
    assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:-1]]
    r = rows[0]
    at = r["occurred_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    assert (
        r["hash"]
        == first["hash"]
        == content_hash(
            {
                "seq": 1,
                "at": at,
                "actor": "alice",
                "event": "promote",
                "subject": "production/p",
                "payload": {"version": "1.0.0"},
                "prev_hash": audit.GENESIS,
                "actor_source": "caller",  # a library caller's plain string
            }
        )
    )
    assert r["actor_source"] == "caller" and r["hmac"] is None
    assert json.loads(r["payload"]) == {"version": "1.0.0"} and r["occurred_at"].tzinfo


@pytest.mark.parametrize(
    "payload",
    [
        '{"a":1.0,"b":[1e3,2.5,-0.0],"c":"x"}',
        '{"t":"line\\r\\nnext"}',
        '{"t":"cr\\u000Dhere"}',
        '{"é":"ünï","n":null,"z":{"y":[true,false]}}',
        '{"big":123456789012345678901234567890}',
        '{"k":"back\\\\rslash"}',
    ],
)
def test_the_fast_hash_is_content_hash(payload: str) -> None:
    at = datetime(2026, 3, 15, 14, 47, 0, 1, tzinfo=UTC)
    for actor in ("alice", "al\rice"):
        expected = content_hash(
            {
                "seq": 9,
                "at": "2026-03-15T14:47:00.000001+00:00",
                "actor": actor,
                "event": "e",
                "subject": "s",
                "payload": json.loads(payload),
                "prev_hash": audit.GENESIS,
            }
        )
        for when in (at, audit.micros(at), audit.iso(at)):
            assert audit.audit_hash(9, when, actor, "e", "s", payload, audit.GENESIS) == expected
        assert (
            audit.audit_hash(9, at, actor, "e", "s", json.loads(payload), audit.GENESIS) == expected
        )


def test_empty_log_verifies(store: Store) -> None:
    assert audit.verify(store) == {"status": "ok", "rows": 0, "first_bad_seq": None, "reason": None}


TAMPERING = {
    "edit payload": ("UPDATE audit_log SET payload = '{\"i\":99}' WHERE seq = 3", 3, "edited"),
    "edit actor": ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", 2, "edited"),
    "edit time": (
        "UPDATE audit_log SET occurred_at = occurred_at + INTERVAL '1 second' WHERE seq = 4",
        4,
        "edited",
    ),
    "null a field": ("UPDATE audit_log SET subject = NULL WHERE seq = 1", 1, "edited"),
    "rehash one row": (
        "UPDATE audit_log SET hash = 'sha256:' || repeat('1', 64) WHERE seq = 2",
        2,
        "edited",
    ),
    "delete middle": ("DELETE FROM audit_log WHERE seq = 4", 5, "deleted"),
    "delete first": ("DELETE FROM audit_log WHERE seq = 1", 2, "deleted"),
    "delete and renumber": (
        "DELETE FROM audit_log WHERE seq = 2; UPDATE audit_log SET seq = seq - 1 WHERE seq > 2",
        2,
        "prev_hash",
    ),
    "swap two rows": (  # in two steps: PostgreSQL checks the key row by row
        "UPDATE audit_log SET seq = -seq WHERE seq IN (2, 3); UPDATE audit_log SET seq = "
        "CASE seq WHEN -2 THEN 3 WHEN -3 THEN 2 END WHERE seq < 0",
        2,
        "prev_hash",
    ),
    "forge a row": (
        "INSERT INTO audit_log SELECT 6, now(), 'me', 'test', 's5', '{}', hash, "
        "'sha256:' || repeat('2', 64), 'flag', NULL FROM audit_log WHERE seq = 5",
        6,
        "edited",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampering_is_found_at_the_first_bad_row(store: Store, case: str) -> None:
    sql, bad_seq, why = TAMPERING[case]
    chain(store)
    assert audit.verify(store)["status"] == "ok"
    raw_execute(store, sql)  # tampering bypasses promptrail
    result = audit.verify(store)
    assert result["status"] == "broken" and result["first_bad_seq"] == bad_seq, result
    assert why in result["reason"]


def test_an_audit_row_commits_with_its_promotion_or_not_at_all(store: Store) -> None:
    row = {
        "promotion_id": "p1",
        "name": "p",
        "version": "1.0.0",
        "env": "production",
        "promoted_at": datetime.now(UTC),
        "kind": "promote",
    }
    with pytest.raises(RuntimeError), store.transaction() as con:
        store.write({"promotions": [row]}, con=con)
        store.append_audit("promote", "alice", "production/p", {"version": "1.0.0"}, con=con)
        raise RuntimeError("deploy failed")
    assert store.query("SELECT count(*) FROM promotions")[1] == [(0,)]
    assert store.query("SELECT count(*) FROM audit_log")[1] == [(0,)]
    with store.transaction() as con:
        store.write({"promotions": [row]}, con=con)
        a = store.append_audit("promote", "alice", "production/p", {"n": 1}, con=con)
        b = store.append_audit("promote", "alice", "production/p", {"n": 2}, con=con)
    assert (a["seq"], b["seq"], b["prev_hash"]) == (1, 2, a["hash"])
    assert audit.verify(store)["rows"] == 2


def test_threads_of_one_process_append_in_turn(store: Store) -> None:
    def work(t: int) -> None:
        for i in range(10):
            store.append_audit("t", f"thread-{t}", f"{i}", {"t": t, "i": i})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert audit.verify(store) == {
        "status": "ok",
        "rows": 60,
        "first_bad_seq": None,
        "reason": None,
    }


def test_payloads_are_stored_as_canonical_redacted_json(store: Store) -> None:
    when = datetime(2026, 3, 15, 14, 47, tzinfo=UTC)
    store.append_audit(
        "x",
        "me",
        "y",
        {"b": 1, "a": ("t", when), "é": 1.0, "key": "sk-ant-api03-abcdefghijklmnopqrstuv"},
    )
    payload = store.query("SELECT payload FROM audit_log")[1][0][0]
    assert payload == ('{"a":["t","2026-03-15 14:47:00+00:00"],"b":1,"key":"[REDACTED]","é":1.0}')
    assert is_pg(store) == (store.dialect == "postgres")  # the same text on both engines
    assert audit.verify(store)["status"] == "ok"


@pytest.mark.parametrize("fmt", audit.FORMATS)
def test_exports_verify_on_their_own(store: Store, tmp_path: Path, fmt: str) -> None:
    chain(store, 4)
    store.append_audit("note", "me", 'with, comma\nand "quotes"', {"text": "a\nb", "n": None})
    out = tmp_path / "out" / f"audit.{fmt}"
    assert audit.export(store, fmt, out) == {"format": fmt, "path": str(out), "rows": 5}
    assert not list(out.parent.glob(".*.tmp"))
    assert audit.verify_export(out) == {
        "status": "ok",
        "rows": 5,
        "first_bad_seq": None,
        "reason": None,
    }
    con = duckdb.connect()
    reader = {"csv": "read_csv", "json": "read_json", "parquet": "read_parquet"}[fmt]
    assert con.execute(f"SELECT min(seq), max(seq) FROM {reader}('{out}')").fetchone() == (1, 5)


def test_a_tampered_export_is_found(store: Store, tmp_path: Path) -> None:
    chain(store, 3)
    out = tmp_path / "audit.json"
    audit.export(store, "json", out)
    rows = json.loads(out.read_text())
    rows[1]["actor"] = "mallory"
    out.write_text(json.dumps(rows))
    assert audit.verify_export(out)["first_bad_seq"] == 2
    with pytest.raises(UsageError):
        audit.verify_export(tmp_path / "audit.xml")
    with pytest.raises(UsageError):
        audit.export(store, "xml", tmp_path / "audit.xml")


@pytest.mark.e2e  # several processes or 100k rows: seconds, not milliseconds
def test_verify_checks_100k_rows(tmp_path: Path) -> None:
    """Rows built with the same formula and loaded in one Arrow batch, as a year of busy
    CI would leave them. (How fast: bench/audit_scale.py; tests assert behaviour only.)"""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows, prev = [], audit.GENESIS
    for seq in range(1, 100_001):
        at = t0 + timedelta(seconds=seq * 7, microseconds=seq % 1000)
        payload = json.dumps(
            {"run_id": f"gate-{seq}", "status": "passed", "prompts": seq % 9},
            sort_keys=True,
            separators=(",", ":"),
        )
        digest = audit.audit_hash(
            seq, at, "ci@example.com", "gate-run", f"gate-{seq}", payload, prev
        )
        rows.append(
            {
                "seq": seq,
                "occurred_at": at,
                "actor": "ci@example.com",
                "event": "gate-run",
                "subject": f"gate-{seq}",
                "payload": payload,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    store = Store(tmp_path / "big.duckdb")  # DuckDB only; bench/ has the PostgreSQL figures
    store.write({"audit_log": rows})
    store.append_audit("promote", "alice", "production/p", {"after": "bulk"})
    result = audit.verify(store)
    assert result == {"status": "ok", "rows": 100_001, "first_bad_seq": None, "reason": None}
    store.execute("UPDATE audit_log SET payload = '{}' WHERE seq = 99999")
    assert audit.verify(store)["first_bad_seq"] == 99_999
