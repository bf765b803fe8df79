"""The store as history grows: 1,000,000 case results, the pass-rate-by-version-by-day query,
and the size on disk.

    python bench/store_scale.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from promptrail.store import Store

QUERY = """
SELECT c.prompt, c.version, date_trunc('day', r.started_at) AS day,
       avg(CASE WHEN c.passed THEN 1.0 ELSE 0.0 END) AS pass_rate, count(*) AS cases
FROM case_results c JOIN runs r USING (run_id)
WHERE c.role = 'candidate'
GROUP BY ALL ORDER BY c.prompt, day
"""


def populate(store: Store, rows: int, batch: int = 100_000) -> float:
    rng = random.Random(1)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    prompts = [f"prompt-{i:02d}" for i in range(50)]
    per_run = 200
    runs = rows // per_run
    started = time.perf_counter()
    run_rows, case_rows = [], []
    for r in range(runs):
        run_id = f"gate-{r:06d}"
        at = t0 + timedelta(minutes=r * 7)
        prompt = prompts[r % 50]
        version = f"1.{(r // 50) % 20}.0"
        run_rows.append({"run_id": run_id, "kind": "gate", "status": "passed",
                         "env": "staging", "started_at": at})
        for c in range(per_run):
            case_rows.append({"run_id": run_id, "prompt": prompt, "version": version,
                              "content_hash": f"sha256:{prompt}{version}",
                              "role": "candidate", "case_id": f"c{c}", "repeat": 0,
                              "passed": rng.random() < 0.93, "latency_ms": rng.random() * 900,
                              "input_tokens": 300, "output_tokens": 80, "cost_usd": 0.0001,
                              "cached": False, "created_at": at})
        if len(case_rows) >= batch:
            store.write({"runs": run_rows, "case_results": case_rows})
            run_rows, case_rows = [], []
    if case_rows:
        store.write({"runs": run_rows, "case_results": case_rows})
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.duckdb"
        store = Store(path)
        load = populate(store, args.rows)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            _, result = store.query(QUERY)
            times.append(time.perf_counter() - start)
        size = path.stat().st_size / 1e6
        print(f"{args.rows:,} case results inserted in {load:.1f} s "
              f"({args.rows / load:,.0f} rows/s, Arrow batches of 100,000)")
        print(f"pass rate by version by day: {len(result):,} rows, median "
              f"{sorted(times)[2] * 1000:.0f} ms, best {min(times) * 1000:.0f} ms (target 500)")
        print(f"store size on disk: {size:.1f} MB ({size * 1e6 / args.rows:.0f} bytes per "
              "case result)")


if __name__ == "__main__":
    main()
