"""Where one whole `promptrail gate` command spends its time and memory, phase by phase.

    python bench/gate_phases.py [--prompts 50] [--cases 40] [--latency 0.05] [--runs 2]
    python bench/gate_phases.py --prompts 1 --cases 50000 --replay [--db postgresql://...]

The workspace and fake server are those of ``eval_vs_promptfoo.py``. The gate runs in a fresh
process (`promptrail.cli.main`, as the command does) with marks at: imports done, one-off
set-up before the first call (``Evaluator.get_ready``), the first case started, the last case
done, each prompt's rows written, and the reports. Each mark gives the wall seconds since the
process started its work, the process's CPU seconds, its RSS and its peak RSS so far (a
sampler thread, every 20 ms). ``--replay`` fills the cache as ``scale_cases.py`` does and runs
``--cache replay`` with no server: the large-suite memory figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from eval_vs_promptfoo import KEY, SAMPLER, start_server, write_workspace  # noqa: E402

CHILD = (
    SAMPLER
    + r"""
import sys
T0 = time.time()
threading.Thread(target=sample, args=(0.02,), daemon=True).start()
marks = []
def mark(what):
    marks.append((time.time() - T0, time.process_time(), rss(), max(peak[0], rss()), what))

import promptrail.evaluate as ev
import promptrail.reports as rp
import promptrail.store.base as sb
mark("imports")
get_ready = ev.Evaluator.get_ready
def timed_get_ready(self, *a):
    mark("set-up starts")
    get_ready(self, *a)
    mark("set-up done (SDKs, clients, price table)")
ev.Evaluator.get_ready = timed_get_ready
seen = {"first": None, "last": None}
case = ev.Evaluator._case
async def timed_case(self, *a):
    if seen["first"] is None:
        seen["first"] = True
        mark("first case starts")
    out = await case(self, *a)
    seen["last"] = (time.time() - T0, time.process_time(), rss(), max(peak[0], rss()))
    return out
ev.Evaluator._case = timed_case
write = sb.Store.write
def timed_write(self, batches, con=None):
    big = "case_results" in batches
    out = write(self, batches, con)
    if big:
        mark("a prompt's rows written")
    return out
sb.Store.write = timed_write
reports = rp.write_run_reports
def timed_reports(*a, **k):
    mark("reports start")
    out = reports(*a, **k)
    mark("reports written")
    return out
rp.write_run_reports = timed_reports

from promptrail.cli import main
code = main(["-C", sys.argv[1], "gate", "--cache", sys.argv[2], "--json"])
mark(f"command done (exit {code})")
if seen["last"]:
    marks.append((*seen["last"], "last case done"))
writes = [m for m in marks if m[4] == "a prompt's rows written"]
rest = [m for m in marks if m[4] != "a prompt's rows written"]
if writes:  # many prompts: the first and the last write only
    rest += [(*writes[0][:4], "first prompt's rows written"), (*writes[-1][:4], "last prompt's rows written")]
print("| wall s | CPU s | RSS MB | peak MB | mark |")
print("|---|---|---|---|---|")
for wall, cpu, now, top, what in sorted(rest):
    print(f"| {wall:.2f} | {cpu:.2f} | {now} | {top} | {what} |")
"""
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=50)
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--replay", action="store_true", help="from a filled cache, no server")
    ap.add_argument("--db", default=None, help="a store URL (default: a fresh DuckDB file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pr-phases-") as tmp:
        root = Path(tmp) / "ws"
        write_workspace(root, args.prompts, args.cases, args.concurrency)
        env = {**os.environ, "OPENAI_API_KEY": KEY}
        server = None
        if args.replay:
            from scale_cases import fill_cache

            fill_cache(root)
        else:
            server, port = start_server(args.latency)
            env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
        try:
            for run in range(args.runs):
                db = args.db or str(Path(tmp) / f"store-{run}.duckdb")
                mode = "replay" if args.replay else "off"
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(root), mode],
                    env={**env, "PROMPTRAIL_DB": db},
                    capture_output=True,
                    text=True,
                )
                table = out.stdout[out.stdout.find("| wall s") :]
                print(f"run {run + 1}: {args.prompts} x {args.cases}, cache {mode}\n{table}")
                if out.returncode != 0:
                    print(out.stderr[-2000:])
        finally:
            if server is not None:
                server.terminate()


if __name__ == "__main__":
    main()
