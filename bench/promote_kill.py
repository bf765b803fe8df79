"""Kill `promptrail promote` at random moments and check that the next command leaves lock,
targets, store and audit consistent (the experiment that found 16 torn states in 37 kills).

    python bench/promote_kill.py            # 40 kills
    python bench/promote_kill.py --tries 100

Each try gates (records a passing run for) a new version, starts a real `promote` process,
SIGKILLs it after a random delay within the time a promotion takes, runs `drift` (which
settles a torn promotion first), and checks: the lock's hash is the store's live version, every
target's bundle verifies against the lock, every promotion has its audit row, no journal left.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def setup(root: Path) -> None:
    from promptrail.scaffold import init

    init(root)
    cfg = root / "promptrail.yaml"
    marker = "    gates: [lint, schema, regression, cost]\n"
    extra = "    targets: [{kind: file, path: dist/staging}, {kind: file, path: dist/mirror}]\n"
    cfg.write_text(cfg.read_text().replace(marker, marker + extra, 1))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.email=b@x", "-c", "user.name=b", "commit", "-qm", "init")


def new_version(root: Path, i: int) -> str:
    from release_helpers import record_gate_run

    from promptrail.store import Store
    from promptrail.workspace import Workspace

    version = f"0.{i + 1}.0"
    p = root / "prompts/faq-answer.yaml"
    text = re.sub(r"^version: .*$", f"version: {version}", p.read_text(), count=1, flags=re.M)
    p.write_text(
        re.sub(r"You answer questions( \(take \d+\))?", f"You answer questions (take {i})", text)
    )
    ws = Workspace(root)
    record_gate_run(Store(ws.store_path()), "staging", ws.resolve("faq-answer"))
    return version


def consistent(root: Path) -> tuple[bool, str]:
    from promptrail.lock import read_lock
    from promptrail.recovery import journal_path
    from promptrail.runtime import check_bundle
    from promptrail.store import Store
    from promptrail.workspace import Workspace

    ws = Workspace(root)
    store = Store(ws.store_path())
    lock = read_lock(ws.lock_path("staging")).get("faq-answer")
    live = store.query_dicts(
        "SELECT content_hash FROM live_versions WHERE env = 'staging' AND name = 'faq-answer'"
    )
    if (lock is None) != (not live) or (lock and lock.content_hash != live[0]["content_hash"]):
        return False, "lock and store disagree"
    if lock is not None:
        for folder in ("dist/staging", "dist/mirror"):
            try:
                bundle = json.loads((root / folder / "faq-answer.json").read_text())
            except OSError:
                return False, f"{folder}: no bundle"
            if not check_bundle(bundle, lock.content_hash).ok:
                return False, f"{folder}: bundle is not the locked one"
    promotions = store.query("SELECT count(*) FROM promotions")[1][0][0]
    audited = store.query("SELECT count(*) FROM audit_log WHERE event = 'promote'")[1][0][0]
    if promotions != audited:
        return False, "a promotion without its audit row"
    if journal_path(ws, "staging").exists():
        return False, "journal left behind"
    return True, ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tries", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    random.seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        os.environ["PROMPTRAIL_DB"] = str(root / ".promptrail" / "k.duckdb")
        os.environ["PROMPTRAIL_ACTOR"] = "bench"
        setup(root)
        cmd = [sys.executable, "-m", "promptrail.cli", "-C", str(root), "promote"]
        version = new_version(root, 0)
        start = time.perf_counter()
        subprocess.run(
            [*cmd, f"faq-answer@{version}", "--to", "staging"], check=True, capture_output=True
        )
        duration = time.perf_counter() - start
        from promptrail.cli import main as cli

        outcomes = {
            "finished before the kill": 0,
            "killed before the journal (nothing to settle)": 0,
            "settled: completed": 0,
            "settled: rolled back": 0,
        }
        torn = []
        for i in range(1, args.tries + 1):
            version = new_version(root, i)
            proc = subprocess.Popen(
                [*cmd, f"faq-answer@{version}", "--to", "staging"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(random.uniform(0.3, 1.0) * duration)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            import contextlib
            import io

            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                cli(["-C", str(root), "drift", "--env", "staging"])
            said = err.getvalue()
            if "completed the interrupted" in said:
                outcomes["settled: completed"] += 1
            elif "rolled back the interrupted" in said:
                outcomes["settled: rolled back"] += 1
            elif proc.returncode == 0:
                outcomes["finished before the kill"] += 1
            else:
                outcomes["killed before the journal (nothing to settle)"] += 1
            ok, why = consistent(root)
            if not ok:
                torn.append((i, why))
        print(f"promote takes {duration:.2f} s uncontended; {args.tries} kills at 30-100% of it")
        for k, v in outcomes.items():
            print(f"  {k}: {v}")
        print(f"  torn after the next command: {len(torn)} {torn if torn else ''}")


if __name__ == "__main__":
    main()
