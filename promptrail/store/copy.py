"""``promptrail store copy SRC DST``: move a history between stores (a local DuckDB file into a
team PostgreSQL store, or back), rows as they are, in one transaction, then verify.

The destination must hold no history yet (an audit chain cannot be merged into another: its
rows are numbered and linked). Rows are copied verbatim, audit rows included, so the chain's
hashes still verify; the copy is checked after it commits: same row counts per table, the
destination's chain verifies, and its last hash is the source's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptrail.errors import UsageError
from promptrail.store.base import Store
from promptrail.store.migrations import TABLES
from promptrail.store.target import parse

BATCH = 50_000


def copy(source: str | Path, destination: str | Path) -> dict[str, Any]:
    from promptrail import audit

    src_target = parse(source, origin="SRC")
    dst_target = parse(destination, origin="DST")
    if src_target.kind == "duckdb" and not Path(str(src_target.path)).is_file():
        raise UsageError(f"no store at {src_target.label}", kind="store")
    if src_target.label == dst_target.label:
        raise UsageError("SRC and DST are the same store")
    src: Store = Store(src_target, read_only=True)
    dst: Store = Store(dst_target)
    held = [t for t in TABLES if dst.query(f"SELECT count(*) FROM {t}")[1][0][0]]
    if held:
        raise UsageError(
            f"{dst.label} already holds history ({', '.join(held)}): copy into an empty store",
            kind="store",
        )
    counts: dict[str, int] = {}
    with dst.transaction() as con:
        for table, cols in TABLES.items():
            names = [c for c, _ in cols]
            select = ", ".join(f'"{c}"' for c in names)
            order = " ORDER BY seq" if table == "audit_log" else ""
            data = src.arrow(f"SELECT {select} FROM {table}{order}")
            counts[table] = data.num_rows
            for batch in data.to_batches(BATCH):
                if batch.num_rows:
                    values = [batch.column(i).to_pylist() for i in range(len(names))]
                    dst._insert(con, table, names, values)
    copied = {t: dst.query(f"SELECT count(*) FROM {t}")[1][0][0] for t in TABLES}
    if copied != counts:
        raise UsageError(f"the copy does not match its source: {counts} -> {copied}")
    check = audit.verify(dst)
    last = "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1"
    same_head = src.query(last)[1] == dst.query(last)[1]
    if not same_head and check["status"] == "ok":
        check = {**check, "status": "broken", "reason": "the last hash differs from the source's"}
    return {
        "source": src.label,
        "destination": dst.label,
        "rows": sum(counts.values()),
        "tables": counts,
        "audit": check,
    }
