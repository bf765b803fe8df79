"""A newcomer's first minutes, timed: the README's two commands on a fresh clone.

    python bench/setup_speed.py [--cold] [--tests]

Clones this repository (its committed HEAD) into a temporary folder and runs the README's
first command there exactly as written, with the machine's uv cache (warm) or an empty one
(``--cold``: every distribution downloaded again). ``--tests`` also times
``python -m pytest -m "not e2e"`` and the full ``python -m pytest`` in that clone.
Reports wall seconds; compare runs made side by side, the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def first_command() -> str:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"^```bash\n(.*?)^```", readme, flags=re.S | re.M)
    assert block is not None
    return block.group(1).splitlines()[0].split("#", 1)[0].strip()


def timed(command: str, cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0,):
        sys.stderr.write(proc.stdout.decode()[-2000:] + proc.stderr.decode()[-2000:])
    return elapsed, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", action="store_true", help="an empty uv cache: download everything")
    ap.add_argument("--tests", action="store_true", help="also time the test commands")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="promptrail-setup-"))
    clone = scratch / "promptrail"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PROMPTRAIL_DB")}
    if args.cold:
        env["UV_CACHE_DIR"] = str(scratch / "uv-cache")
    command = first_command()
    rows = [("README first command" + (" (cold cache)" if args.cold else " (warm cache)"),)]
    seconds, code = timed(command, clone, env)
    rows[0] += (seconds, code)
    if args.tests:
        activate = ". .venv/bin/activate && "
        for label, cmd in (
            ("python -m pytest -m 'not e2e'", "python -m pytest -q -m 'not e2e'"),
            ("python -m pytest (all)", "python -m pytest -q"),
        ):
            seconds, code = timed(activate + cmd, clone, env)
            rows.append((label, seconds, code))
    load = os.getloadavg()[0]
    print(f"{'what':<45} {'seconds':>8} {'exit':>5}   (load average {load:.1f}, 2 cores)")
    for label, seconds, code in rows:
        print(f"{label:<45} {seconds:>8.1f} {code:>5}")


if __name__ == "__main__":
    main()
