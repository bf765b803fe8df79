"""Time whole promptrail commands as a user runs them, and check what they import.

    python bench/cli_speed.py            # 1,000 prompts sharing 20 components
    python bench/cli_speed.py --prompts 200

Targets (2 cores): --help < 0.3 s, lock --check on 1,000 prompts < 2 s, lint < 4 s, and none
of prefect, deepeval, pandas or the provider SDKs imported by lint, lock or --help.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from gen_workspace import generate  # noqa: E402

HEAVY = ("prefect", "deepeval", "pandas", "openai", "anthropic", "pyarrow")


def timed(cmd: list[str], cwd: Path, runs: int) -> tuple[float, float, int]:
    times, code = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True)
        times.append(time.perf_counter() - start)
        code = proc.returncode
    return statistics.median(times), min(times), code


def heavy_imports(args: list[str], cwd: Path) -> list[str]:
    code = (
        "import sys, runpy; sys.argv = ['promptrail', *sys.argv[1:]]\n"
        "from promptrail.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"sys.stderr.write('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    err = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True
    ).stderr
    line = err.rsplit("HEAVY:", 1)[-1].strip() if "HEAVY:" in err else ""
    return [m for m in line.split(",") if m]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=1000)
    ap.add_argument("--components", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("promptrail"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root, args.prompts, args.components)
        subprocess.run([exe, "lock"], cwd=root, check=True, capture_output=True)
        rows = []
        for label, cmd, target in (
            ("promptrail --help", [exe, "--help"], 0.3),
            (f"lock --check ({args.prompts} prompts)", [exe, "lock", "--check"], 2.0),
            (f"lock ({args.prompts} prompts, unchanged)", [exe, "lock"], None),
            (f"lint ({args.prompts} prompts)", [exe, "lint"], 4.0),
        ):
            median, best, code = timed(cmd, root, args.runs)
            heavy = heavy_imports(cmd[1:], root)
            rows.append((label, median, best, target, code, heavy))
    print(
        f"python {sys.version.split()[0]}, PYTHONDONTWRITEBYTECODE="
        f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')}, {os.cpu_count()} cores"
    )
    print("| command | median s | best s | target s | exit | heavy imports |")
    print("|---|---|---|---|---|---|")
    for label, median, best, target, code, heavy in rows:
        print(
            f"| {label} | {median:.2f} | {best:.2f} | {target or '-'} | {code} | "
            f"{', '.join(heavy) or 'none'} |"
        )


if __name__ == "__main__":
    main()
