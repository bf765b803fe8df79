"""The PostgreSQL team store beside the DuckDB file, in one run:

1. 8 concurrent `promptrail gate` processes (the example workspace, --cache replay) into one
   store: rows lost (expected 8 runs x 38 cases), the audit chain, and per run the time spent
   in store calls (p50/p95/max over the runs);
2. `at` and `history` on 100,000 audit rows / 10,000 promotions, whole CLI commands;
3. pass rate by prompt by version by day over 1,000,000 case rows.

    python bench/team_store.py [--gates 8] [--audit 100000] [--promotions 10000]
                               [--rows 1000000] [--url postgresql://...]

Without --url a throwaway PostgreSQL server (Debian's postgresql package, default fsync
settings) is started and removed. Figures are medians; the machine is shared, so noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "bench")]

from audit_scale import populate as populate_audit  # noqa: E402
from store_scale import populate as populate_cases  # noqa: E402

from promptrail import audit  # noqa: E402
from promptrail.scaffold import init  # noqa: E402
from promptrail.store import Store  # noqa: E402

PASS_RATE = """
SELECT c.prompt, c.version, date_trunc('day', r.started_at) AS day,
       avg(CASE WHEN c.passed THEN 1.0 ELSE 0.0 END) AS pass_rate, count(*) AS cases
FROM case_results c JOIN runs r USING (run_id)
WHERE c.role = 'candidate'
GROUP BY 1, 2, 3 ORDER BY 1, 3, 2
"""

# A gate run whose Store calls are timed: the sum per run goes to stderr as JSON.
TIMED_GATE = """
import json, sys, time
from promptrail.store import base
spent = [0.0]
def timed(fn):
    def run(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent[0] += time.perf_counter() - t
    return run
for name in ("write", "execute", "append_audit"):
    setattr(base.Store, name, timed(getattr(base.Store, name)))
from promptrail.cli import main
code = main(sys.argv[1:])
sys.stderr.write("STORE-SECONDS " + json.dumps(spent[0]) + "\\n")
sys.exit(code)
"""


def example(tmp: Path) -> Path:
    root = tmp / "example"
    root.mkdir()
    for name in (
        "promptrail.yaml",
        "prompts",
        "components",
        "schemas",
        "suites",
        "environments",
        "recordings",
    ):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", "-C", str(root), *args], check=True)
    return root


def concurrent_gates(ws: Path, db: str, n: int) -> str:
    env = {**os.environ, "PROMPTRAIL_DB": db, "PROMPTRAIL_ACTOR": "bench"}
    cmd = [sys.executable, "-c", TIMED_GATE, "-C", str(ws), "gate", "--json", "--cache", "replay"]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    outs = [p.communicate(timeout=1800) for p in procs]
    wall = time.perf_counter() - start
    failed = [o[1][-500:] for p, o in zip(procs, outs, strict=True) if p.returncode != 0]
    spent = sorted(
        float(line.split()[1])
        for _, err in outs
        for line in err.splitlines()
        if line.startswith("STORE-SECONDS")
    )
    store = Store(db)
    runs = {json.loads(out)["run_id"] for out, _ in outs if out.strip().startswith("{")}
    cases = (
        store.query(
            f"SELECT count(*) FROM case_results WHERE run_id IN ({', '.join('?' for _ in runs)})",
            list(runs),
        )[1][0][0]
        if runs
        else 0
    )
    lost = n * 38 - cases
    chain = audit.verify(store)
    p95 = spent[min(len(spent) - 1, int(round(0.95 * (len(spent) - 1))))] if spent else float("nan")
    return (
        f"{n} gates in {wall:.1f} s wall: {len(failed)} failed, rows lost {lost}, chain "
        f"{chain['status']} ({chain['rows']} rows); store time per run p50 "
        f"{statistics.median(spent):.2f} s, p95 {p95:.2f} s, max {max(spent):.2f} s"
        + (f"\n  failures: {failed}" if failed else "")
    )


def cli_time(ws: Path, db: str, *args: str, runs: int = 5) -> float:
    env = {**os.environ, "PROMPTRAIL_DB": db}
    exe = str(Path(sys.executable).with_name("promptrail"))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([exe, "-C", str(ws), *args], env=env, capture_output=True)
        times.append(time.perf_counter() - start)
        assert proc.returncode == 0, proc.stderr[-500:]
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gates", type=int, default=8)
    ap.add_argument("--audit", type=int, default=100_000)
    ap.add_argument("--promotions", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--url", help="an empty PostgreSQL server's admin URL (default: start one)")
    args = ap.parse_args()
    server = None
    if args.url is None:
        import pgserver

        server = pgserver.start(durable=True)

    def database() -> str:
        if server is not None:
            return server.create_database()
        import uuid

        import psycopg

        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.url, autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return args.url.rsplit("/", 1)[0] + "/" + name

    try:
        with tempfile.TemporaryDirectory() as tmp_:
            tmp = Path(tmp_)
            ws = example(tmp)
            print("## 1. concurrent gates into one store")
            print("postgres:", concurrent_gates(ws, database(), args.gates))
            print("duckdb:  ", concurrent_gates(ws, str(tmp / "gates.duckdb"), args.gates))

            print(
                f"\n## 2. at / history on {args.audit:,} audit rows, "
                f"{args.promotions:,} promotions (whole CLI command, median of 5)"
            )
            small = tmp / "small"
            init(small)
            for label, db in (("postgres", database()), ("duckdb", str(tmp / "audit.duckdb"))):
                start = time.perf_counter()
                populate_audit(Store(db), args.audit, args.promotions)
                Store(db).close()
                load = time.perf_counter() - start
                at = cli_time(small, db, "at", "production", "2025-03-15T14:47:00Z", "--json")
                one = cli_time(small, db, "at", "production", "2025-03-15T14:47:00Z", "prompt-043")
                hist = cli_time(small, db, "history", "prompt-042", "--json")
                print(
                    f"{label}: at {at:.2f} s, at one prompt {one:.2f} s, history {hist:.2f} s "
                    f"(populated in {load:.0f} s)"
                )

            print(f"\n## 3. pass rate by prompt by version by day over {args.rows:,} case rows")
            for label, db in (("postgres", database()), ("duckdb", str(tmp / "cases.duckdb"))):
                store = Store(db)
                load = populate_cases(store, args.rows)
                if label == "postgres":
                    store.execute("ANALYZE")
                times = []
                for _ in range(5):
                    start = time.perf_counter()
                    rows = store.query(PASS_RATE)[1]
                    times.append(time.perf_counter() - start)
                print(
                    f"{label}: {len(rows):,} rows, median {statistics.median(times) * 1000:.0f} ms, "
                    f"best {min(times) * 1000:.0f} ms (written in {load:.0f} s)"
                )
                store.close()
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
