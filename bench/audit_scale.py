"""`at`, `history` and `audit verify` on a large store, timed as whole CLI commands.

python bench/audit_scale.py [--audit 100000] [--promotions 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from promptrail.scaffold import init
from promptrail.store import Store
from promptrail.store.db import GENESIS, audit_hash, micros


def populate(store: Store, audit_rows: int, promotions: int) -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    names = [f"prompt-{i:03d}" for i in range(100)]
    promo, versions = [], []
    for i in range(promotions):
        name = names[i % 100]
        version = f"1.{i // 100}.0"
        h = f"sha256:{name}-{version}"
        promo.append(
            {
                "promotion_id": f"p{i}",
                "name": name,
                "version": version,
                "content_hash": h,
                "env": ("staging", "production")[i % 2],
                "actor": "alice",
                "approvals": ["bob"],
                "kind": "promote",
                "promoted_at": t0 + timedelta(minutes=30 * i),
            }
        )
        versions.append(
            {
                "name": name,
                "version": version,
                "content_hash": h,
                "resolved": {
                    "messages": [{"role": "system", "content": f"You are {name} {version}."}],
                    "model": {"provider": "openai", "name": "gpt-4o-mini"},
                },
                "first_seen_at": t0 + timedelta(minutes=30 * i),
            }
        )
    store.write({"promotions": promo, "prompt_versions": versions})
    rows, prev = [], GENESIS
    for seq in range(1, audit_rows + 1):
        at = t0 + timedelta(seconds=seq * 150)
        payload = json.dumps({"n": seq})  # the text the JSON column stores
        digest = audit_hash(seq, micros(at), "alice", "gate-run", f"run-{seq}", payload, prev)
        rows.append(
            {
                "seq": seq,
                "occurred_at": at,
                "actor": "alice",
                "event": "gate-run",
                "subject": f"run-{seq}",
                "payload": {"n": seq},
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    store.write({"audit_log": rows})


def timed(cmd: list[str], env: dict[str, str], runs: int = 3) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        out = proc.stdout[:200]
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--audit", type=int, default=100_000)
    ap.add_argument("--promotions", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        init(ws)
        db = Path(tmp) / "big.duckdb"
        start = time.perf_counter()
        populate(Store(db), args.audit, args.promotions)
        print(
            f"populated {args.audit:,} audit rows and {args.promotions:,} promotions in "
            f"{time.perf_counter() - start:.1f} s"
        )
        env = {**os.environ, "PROMPTRAIL_DB": str(db)}
        exe = str(Path(sys.executable).with_name("promptrail"))
        for label, cmd, target in (
            (
                "at production <time>",
                [exe, "-C", str(ws), "at", "production", "2025-03-15T14:47:00Z", "--json"],
                1.0,
            ),
            (
                "at production <time> prompt-043",
                [exe, "-C", str(ws), "at", "production", "2025-03-15T14:47:00Z", "prompt-043"],
                1.0,
            ),
            ("history prompt-042", [exe, "-C", str(ws), "history", "prompt-042", "--json"], 1.0),
            ("audit verify", [exe, "-C", str(ws), "audit", "verify", "--json"], 5.0),
        ):
            seconds, out = timed(cmd, env)
            print(f"| {label} | {seconds:.2f} s | target {target} s | {out.strip()[:80]!r} |")


if __name__ == "__main__":
    main()
