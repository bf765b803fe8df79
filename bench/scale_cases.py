"""Large suites through the whole `promptrail gate` command: a warm cache, and peak memory.

    python bench/scale_cases.py [--warm 10000] [--big 50000] [--runs 3]

1. --warm cases recorded once (``--cache read-write`` against the fake server at 0 ms), then
   ``gate --cache replay`` (no server running): the whole command, wall, CPU and peak RSS,
   median of --runs, a fresh store each run. Target: under 3 s for 10,000 cases.
2. --big cases through ``gate --cache replay`` from a cache written directly (the same lines a
   recording writes, keyed by the same request hashes; no calls, so it is quick on a shared
   machine): peak RSS of the whole command (target: under 300 MB at 50,000), wall and CPU.
   ``--big-live`` records them through the fake server instead. ``--stores`` says which
   stores take the big run: the DuckDB file, PostgreSQL (a throwaway server from Debian's
   package, as tests/pgserver.py starts it, or ``--url``), or both (the default).

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

from eval_vs_promptfoo import (  # noqa: E402
    KEY,
    measure,
    server_stats,
    start_server,
    write_workspace,
)


def gate(root: Path, db: Path | str, mode: str, port: int | None) -> dict:
    if isinstance(db, Path):
        db.unlink(missing_ok=True)
    env = {**os.environ, "PROMPTRAIL_DB": str(db), "OPENAI_API_KEY": KEY}
    if port is not None:
        env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    exe = str(Path(sys.executable).with_name("promptrail"))
    return measure([exe, "-C", str(root), "gate", "--cache", mode, "--json"], env)


def fill_cache(root: Path) -> None:
    """Write the cache a recording would, for every case of every prompt, without calls."""
    import json

    from promptrail.providers import ModelRequest
    from promptrail.render import render_messages
    from promptrail.suites import load_suite
    from promptrail.workspace import Workspace

    ws = Workspace(str(root))
    with (root / "cache.jsonl").open("w") as fh:
        for name in ws.prompt_names():
            resolved = ws.resolve(name)
            suite = load_suite(ws, name)
            assert suite is not None
            params = {k: v for k, v in resolved.model.items() if k not in ("provider", "name")}
            for case in suite.cases:
                messages = tuple(render_messages(resolved, case.vars))
                req = ModelRequest(resolved.provider, resolved.model["name"], messages, params)
                text = json.dumps({"ok": True, "echo": messages[-1]["content"][-40:]})
                response = {
                    "text": text,
                    "input_tokens": 30,
                    "output_tokens": len(text) // 4 + 1,
                    "cached_tokens": 0,
                    "latency_ms": 50.0,
                    "model": req.model,
                }
                line = {"key": req.key(), "provider": req.provider, "model": req.model}
                fh.write(json.dumps({**line, "response": response}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warm", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--big-live", action="store_true")
    ap.add_argument(
        "--stores",
        default="duckdb,postgres",
        help="the big suite against: duckdb (a file), postgres (a throwaway server, or --url)",
    )
    ap.add_argument("--url", default=None, help="an existing PostgreSQL database to use")
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
            if args.big_live:
                server, port = start_server(0.0)
                try:
                    gate(root, tmp / "rec-big.duckdb", "read-write", port)
                finally:
                    server.terminate()
            else:
                fill_cache(root)
            for store in args.stores.split(","):
                pg = None
                if store == "postgres" and args.url is None:
                    sys.path.insert(0, str(BENCH.parent / "tests"))
                    import pgserver

                    pg = pgserver.start()
                db: Path | str = tmp / "big.duckdb"
                if store == "postgres":
                    db = args.url or pg.create_database()  # type: ignore[union-attr]
                try:
                    big = gate(root, db, "replay", None)
                finally:
                    if pg is not None:
                        pg.stop()
                print(
                    f"{args.big} cases from the cache, whole command, {store} store: exit "
                    f"{big['code']}, {big['wall']:.2f} s wall, {big['cpu']:.2f} CPU-s, "
                    f"peak RSS {big['rss_mb']:.0f} MB"
                )
                if big["code"] != 0:
                    print(big["stderr"][-1000:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
