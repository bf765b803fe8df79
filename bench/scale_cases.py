"""Large suites through the whole `promptrail gate` command: a warm cache, and peak memory.

    python bench/scale_cases.py [--warm 10000] [--big 50000] [--runs 3]

1. --warm cases recorded once (``--cache read-write`` against the fake server at 0 ms), then
   ``gate --cache replay`` (no server running): the whole command, wall, CPU and peak RSS,
   median of --runs, a fresh store each run. Target: under 3 s for 10,000 cases.
2. --big cases, ``gate --cache off`` against the fake server at 0 ms: peak RSS of the whole
   command (target: under 300 MB at 50,000) and its wall and CPU.

Datasets of this size are over the 1 MiB cap on YAML files; they load under their own cap
(``limits.dataset_bytes``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from eval_vs_promptfoo import KEY, measure, server_stats, start_server, write_workspace  # noqa: E402


def gate(root: Path, db: Path, mode: str, port: int | None) -> dict:
    db.unlink(missing_ok=True)
    env = {**os.environ, "PROMPTRAIL_DB": str(db), "OPENAI_API_KEY": KEY}
    if port is not None:
        env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    exe = str(Path(sys.executable).with_name("promptrail"))
    return measure([exe, "-C", str(root), "gate", "--cache", mode, "--json"], env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warm", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    tmp = Path(tempfile.mkdtemp(prefix="pr-scale-"))
    try:
        if args.warm:
            root = tmp / "warm"
            write_workspace(root, 1, args.warm, 64)
            server, port = start_server(0.0)
            try:
                rec = gate(root, tmp / "rec.duckdb", "read-write", port)
                seen = server_stats(port)
            finally:
                server.terminate()
            print(
                f"record {args.warm} cases: exit {rec['code']}, {seen['requests']} requests, "
                f"{rec['wall']:.2f} s, {rec['cpu']:.2f} CPU-s, {rec['rss_mb']:.0f} MB"
            )
            runs = [gate(root, tmp / "replay.duckdb", "replay", None) for _ in range(args.runs)]
            codes = {r["code"] for r in runs}
            print(
                f"warm cache, {args.warm} cases, whole command (median of {args.runs}): "
                f"{statistics.median(r['wall'] for r in runs):.2f} s wall, "
                f"{statistics.median(r['cpu'] for r in runs):.2f} CPU-s, "
                f"{statistics.median(r['rss_mb'] for r in runs):.0f} MB peak; exit codes {codes}"
            )
        if args.big:
            root = tmp / "big"
            write_workspace(root, 1, args.big, 64)
            server, port = start_server(0.0)
            try:
                big = gate(root, tmp / "big.duckdb", "off", port)
                seen = server_stats(port)
            finally:
                server.terminate()
            print(
                f"{args.big} cases, cache off, whole command: exit {big['code']}, "
                f"{seen['requests']} requests, {big['wall']:.2f} s wall, {big['cpu']:.2f} CPU-s, "
                f"peak RSS {big['rss_mb']:.0f} MB"
            )
            if big["code"] != 0:
                print(big["stderr"][-1000:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
