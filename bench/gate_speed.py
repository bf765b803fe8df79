"""A cold `promptrail gate` of the example workspace in replay mode, as a user runs it:
in-process (no Prefect server), and through a running Prefect server.

    python bench/gate_speed.py [--runs 3]

Targets: under 5 s in-process; under 2 s more than that through a running server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    plain = gate(env, args.runs, tmp / "plain.duckdb")
    print(
        f"in-process: median {statistics.median(plain):.2f} s, best {min(plain):.2f} s (target 5 s)"
    )
    port = free_port()
    home = tmp / "prefect"
    server_env = {
        **env,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/api"
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        flowed = gate({**server_env, "PREFECT_API_URL": url}, args.runs, tmp / "pf.duckdb")
        over = statistics.median(flowed) - statistics.median(plain)
        print(
            f"through a running Prefect server: median {statistics.median(flowed):.2f} s, "
            f"{over:+.2f} s over in-process (target +2 s)"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
