"""The tamper-evident audit log: verify the chain, export it for compliance.

Each row's hash covers its sequence number, time, actor, event, subject, payload and the
previous row's hash, so an edited, deleted or reordered row breaks the chain at that row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptrail.errors import UsageError
from promptrail.store.db import GENESIS, Store, audit_hash, micros

FORMATS = ("csv", "json", "parquet")


def verify(store: Store) -> dict[str, Any]:
    rows = 0
    expected_prev, expected_seq = GENESIS, 1
    with store.connection() as con:
        cur = con.execute("SELECT seq, occurred_at, actor, event, subject, payload, prev_hash, hash "
                          "FROM audit_log ORDER BY seq")
        while batch := cur.fetchmany(10_000):
            for seq, at, actor, event, subject, payload, prev, digest in batch:
                rows += 1
                reason = None
                if seq != expected_seq:
                    reason = f"expected seq {expected_seq}, found {seq} (a row is missing)"
                elif prev != expected_prev:
                    reason = "prev_hash does not match the previous row (deleted or reordered)"
                elif audit_hash(seq, micros(at), actor or "", event or "", subject or "",
                                payload or "", prev) != digest:
                    reason = "the row's content does not match its hash (edited)"
                if reason:
                    return {"status": "broken", "rows": rows, "first_bad_seq": seq,
                            "reason": reason}
                expected_prev, expected_seq = digest, seq + 1
    return {"status": "ok", "rows": rows, "first_bad_seq": None, "reason": None}


def export(store: Store, fmt: str, out: str | Path) -> dict[str, Any]:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    options = {"csv": "(FORMAT csv, HEADER)", "json": "(FORMAT json, ARRAY true)",
               "parquet": "(FORMAT parquet)"}[fmt]
    with store.connection() as con:
        path_sql = str(tmp).replace("'", "''")
        con.execute(f"COPY (SELECT * FROM audit_log ORDER BY seq) TO '{path_sql}' {options}")
        rows = con.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    tmp.replace(out)
    return {"format": fmt, "path": str(out), "rows": rows}
