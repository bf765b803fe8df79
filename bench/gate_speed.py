"""A cold `promptrail gate` of the example workspace in replay mode, as a user runs it:
in-process (no Prefect server), and through a running Prefect server.

    python bench/gate_speed.py [--runs 3]

Targets: under 5 s in-process; under 2 s more than that through a running server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import prefectserver  # noqa: E402  (the tests' throwaway server)


def gate(env: dict[str, str], runs: int, db: Path) -> list[float]:
    exe = str(Path(sys.executable).with_name("promptrail"))
    times = []
    for _ in range(runs):
        db.unlink(missing_ok=True)
        start = time.perf_counter()
        proc = subprocess.run(
            [exe, "-C", str(REPO), "gate", "--cache", "replay", "--json"],
            env={**env, "PROMPTRAIL_DB": str(db)},
            capture_output=True,
        )
        times.append(time.perf_counter() - start)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    try:
        plain = gate(env, args.runs, tmp / "plain.duckdb")
        print(
            f"in-process: median {statistics.median(plain):.2f} s, "
            f"best {min(plain):.2f} s (target 5 s)"
        )
        home = tmp / "prefect"
        with prefectserver.running(home) as url:
            flowed = gate(
                {**prefectserver.environment(home), "PREFECT_API_URL": url},
                args.runs,
                tmp / "pf.duckdb",
            )
        over = statistics.median(flowed) - statistics.median(plain)
        print(
            f"through a running Prefect server: median {statistics.median(flowed):.2f} s, "
            f"{over:+.2f} s over in-process (target +2 s)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
