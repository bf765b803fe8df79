"""What a big run's rows cost in memory in the DuckDB store file, by how they are committed.

    python bench/duckdb_write_memory.py [--cases 50000] [--checks 2]

A gate writes each prompt's rows (case_results, and one scores row per check) through
``Store.write`` in one transaction, so a killed writer leaves whole prompts only. DuckDB
keeps a transaction's appended rows in memory until it commits; this measures how much, and
how much committing chunk by chunk (what giving up that rule would buy) would save, each in a
fresh process on a fresh file:

- ``one``: every row in one transaction (what the gate does);
- ``one-limited``: the same, with DuckDB's ``memory_limit`` at 64 MB;
- ``chunks``: a transaction per ``WRITE_CHUNK`` rows, with DuckDB's ``memory_limit`` at
  64 MB and a 4 MB checkpoint threshold, so committed rows could leave memory.

Each line: the process's RSS after imports (pyarrow's too, which the first write would import),
after the write, and its
peak during the write (MB), with DuckDB's own account (``duckdb_memory()``) after the write.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from eval_vs_promptfoo import SAMPLER  # noqa: E402

CHILD = (
    SAMPLER
    + r"""
import json, sys
from datetime import datetime, UTC
from itertools import islice

from promptrail.store import Store
from promptrail.store.base import WRITE_CHUNK

mode, path, cases, checks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
store = Store(path)
store.query("SELECT 1")  # open and migrate before measuring
from promptrail.store.base import arrow
arrow()  # and import pyarrow (42 MB), which the first write would: it is not the rows' cost
base = {"run_id": "gate-20260101T000000-000000", "prompt": "p000", "version": "1.0.0",
        "content_hash": "sha256:" + "a" * 64, "role": "candidate"}
checks_done = [{"type": "is-json", "status": "passed", "score": 1.0, "threshold": None,
                "reason": "valid JSON", "spec": {"type": "is-json"}}] * checks
now = datetime.now(UTC)

def case_rows():
    for i in range(cases):
        yield {**base, "case_id": f"c{i}", "repeat": 0, "vars": {"ticket": f"my site {i} is down"},
               "output": json.dumps({"ok": True, "echo": f"Ticket: my site {i} is down"}),
               "passed": True, "error": None, "latency_ms": 50.0, "input_tokens": 30,
               "output_tokens": 12, "cached_tokens": 0, "cost_usd": 1e-5,
               "price_source": "genai-prices", "cached": True, "attempts": 1,
               "assertions": checks_done, "created_at": now}

def score_rows():
    for i in range(cases):
        for a in checks_done:
            yield {**base, "case_id": f"c{i}", "repeat": 0, "metric": a["type"], "score": 1.0,
                   "passed": True, "threshold": None, "reason": a["reason"], "error": None}

before = rss()
threading.Thread(target=sample, args=(0.005,), daemon=True).start()
if mode != "one":
    with store.connection() as con:
        con.execute("SET memory_limit = '64MB'")
        con.execute("SET checkpoint_threshold = '4MB'")
if mode.startswith("one"):
    store.write({"case_results": case_rows(), "scores": score_rows()})
else:
    for table, rows in (("case_results", case_rows()), ("scores", score_rows())):
        while chunk := list(islice(rows, WRITE_CHUNK)):
            store.write({table: chunk})
time.sleep(0.05)
after = rss()
with store.connection() as con:
    own = con.execute("SELECT sum(memory_usage_bytes) // 1000000 FROM duckdb_memory()").fetchone()[0]
print(json.dumps({"before": before, "after": after, "peak": max(peak[0], after), "duckdb": own}))
"""
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=50_000)
    ap.add_argument("--checks", type=int, default=2)
    args = ap.parse_args()
    rows = args.cases * (1 + args.checks)
    print(f"{args.cases:,} cases, {args.checks} checks each: {rows:,} rows")
    print("| mode | RSS before MB | after | peak | peak - before | DuckDB's own account |")
    print("|---|---|---|---|---|---|")
    for mode in ("one", "one-limited", "chunks"):
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "store.duckdb")
            out = subprocess.run(
                [sys.executable, "-c", CHILD, mode, path, str(args.cases), str(args.checks)],
                capture_output=True,
                text=True,
                env={**os.environ, "PROMPTRAIL_DB": path},
                check=True,
            )
            m = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"| {mode} | {m['before']} | {m['after']} | {m['peak']} | "
                f"{m['peak'] - m['before']} | {m['duckdb']} MB |"
            )


if __name__ == "__main__":
    main()
