"""The store as history grows: 1,000,000 case results over 50 prompts x versions x days, the
pass-rate-by-version-by-day query (target < 0.5 s), the size on disk; then 100,000 audit
rows and `audit verify` over them (target < 5 s).

    python bench/store_scale.py [--rows 1000000] [--audit-rows 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from promptrail import audit
from promptrail.store import Store

QUERY = """
SELECT c.prompt, c.version, date_trunc('day', r.started_at) AS day,
       avg(CASE WHEN c.passed THEN 1.0 ELSE 0.0 END) AS pass_rate, count(*) AS cases
FROM case_results c JOIN runs r USING (run_id)
WHERE c.role = 'candidate'
GROUP BY ALL ORDER BY c.prompt, day, c.version
"""
PROMPTS, DAYS, CASES_PER_RUN, BATCH = 50, 90, 200, 100_000


def populate(store: Store, rows: int) -> float:
    """Gate runs of 200 cases, spread over 50 prompts and 90 days; each prompt gets a new
    minor version every ~10 days. Written in Arrow batches of 100,000 rows."""
    rng = random.Random(1)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    runs = rows // CASES_PER_RUN
    elapsed = 0.0
    run_rows: list[dict] = []
    case_rows: list[dict] = []
    for r in range(runs):
        prompt = f"prompt-{r % PROMPTS:02d}"
        at = t0 + timedelta(days=DAYS * r / runs, minutes=r % 60)
        version = f"1.{(at - t0).days // 10}.0"
        run_id = f"gate-{r:06d}"
        run_rows.append(
            {
                "run_id": run_id,
                "kind": "gate",
                "status": "passed",
                "env": "staging",
                "started_at": at,
                "finished_at": at,
                "mode": "in-process",
                "cache_mode": "off",
                "args": {"names": [prompt]},
            }
        )
        base = {
            "run_id": run_id,
            "prompt": prompt,
            "version": version,
            "content_hash": f"sha256:{prompt}-{version}",
            "role": "candidate",
            "price_source": "bench",
            "cached": False,
            "attempts": 1,
            "created_at": at,
        }
        for c in range(CASES_PER_RUN):
            passed = rng.random() < 0.93
            case_rows.append(
                {
                    **base,
                    "case_id": f"case-{c:03d}",
                    "repeat": 0,
                    "vars": {"customer": "Ana", "ticket": f"ticket {c}"},
                    "output": '{"reply": "On it", "priority": "high"}',
                    "passed": passed,
                    "latency_ms": rng.random() * 900,
                    "input_tokens": 300 + c,
                    "output_tokens": 80,
                    "cached_tokens": 0,
                    "cost_usd": 0.0001,
                    "assertions": [{"type": "is-json", "status": "passed"}],
                }
            )
        if len(case_rows) >= BATCH:
            start = time.perf_counter()
            store.write({"runs": run_rows, "case_results": case_rows})
            elapsed += time.perf_counter() - start
            run_rows, case_rows = [], []
    if case_rows:
        start = time.perf_counter()
        store.write({"runs": run_rows, "case_results": case_rows})
        elapsed += time.perf_counter() - start
    return elapsed


def audit_rows(store: Store, n: int) -> None:
    """n chained rows, built with the same formula append_audit uses, in one Arrow batch."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    last = store.query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")[1]
    first, prev = (last[0][0] + 1, last[0][1]) if last else (1, audit.GENESIS)
    rows = []
    for seq in range(first, first + n):
        at = t0 + timedelta(seconds=seq * 60, microseconds=seq)
        payload = json.dumps(
            {
                "env": "staging",
                "status": "passed",
                "prompts": [
                    {
                        "name": f"prompt-{seq % PROMPTS:02d}",
                        "version": "1.2.0",
                        "content_hash": "sha256:" + "ab" * 32,
                        "status": "passed",
                    }
                ],
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        digest = audit.audit_hash(
            seq, at, "ci@example.com", "gate-run", f"gate-{seq:06d}", payload, prev
        )
        rows.append(
            {
                "seq": seq,
                "occurred_at": at,
                "actor": "ci@example.com",
                "event": "gate-run",
                "subject": f"gate-{seq:06d}",
                "payload": payload,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    store.write({"audit_log": rows})


def timed(fn, repeat: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--audit-rows", type=int, default=100_000)
    ap.add_argument("--keep", help="directory to keep the store in (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep or tmp) / "scale.duckdb"
        path.unlink(missing_ok=True)
        store = Store(path)
        load = populate(store, args.rows)
        median, best, result = timed(lambda: store.query(QUERY), 5)
        size = path.stat().st_size / 1e6
        print(
            f"{args.rows:,} case results written in {load:.1f} s "
            f"({args.rows / load:,.0f} rows/s, Arrow batches of {BATCH:,})"
        )
        print(
            f"pass rate by version by day: {len(result[1]):,} rows, median "
            f"{median * 1000:.0f} ms, best {best * 1000:.0f} ms (target < 500 ms; includes "
            "open and close)"
        )
        print(
            f"store size on disk: {size:.1f} MB ({size * 1e6 / args.rows:.0f} bytes per "
            "case result)"
        )

        start = time.perf_counter()
        audit_rows(store, args.audit_rows)
        built = time.perf_counter() - start
        median, best, result = timed(lambda: audit.verify(store), 3)
        assert result["status"] == "ok", result
        print(f"{args.audit_rows:,} audit rows chained and written in {built:.1f} s")
        print(
            f"audit verify: {result['rows']:,} rows, median {median:.2f} s, best "
            f"{best:.2f} s (target < 5 s)"
        )
        _, append, _ = timed(lambda: store.append_audit("bench", "me", "x", {"n": 1}), 10)
        print(f"append_audit on the full store: {append * 1000:.0f} ms (open, append, close)")
        print(f"store size on disk after the audit rows: {path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
