"""Profile the whole `promptrail gate` command on P prompts × N cases against the fake server.

    python bench/profile_gate.py [--prompts 50] [--cases 40] [--latency 0.05]
                                 [--tool cprofile|py-spy] [--top 40] [--out DIR]

cprofile (default): every thread is profiled in its own CPU time (the CLI's, the gate's worker pool, the eval
loop's), the profiles are merged, and the top functions by own time and by cumulative time
are printed; the merged profile is kept in --out for snakeviz/pstats. py-spy (``pip install
py-spy``): samples the real process, only the thread holding the GIL (so CPU, not waits);
writes a speedscope JSON and prints CPU seconds by what the samples were doing (imports by
package, model calls, store writes, reports, cases). The workspace and server are those of
``eval_vs_promptfoo.py``.
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

from eval_vs_promptfoo import KEY, start_server, write_workspace  # noqa: E402

CHILD = """
import cProfile, sys, threading, time
profiles = []  # one per thread, timed in that thread's CPU time (waits and other load excluded)

def per_thread(*args):
    prof = cProfile.Profile(time.thread_time)
    profiles.append(prof)
    sys.setprofile(None)
    prof.enable()

threading.setprofile(per_thread)
main_prof = cProfile.Profile(time.thread_time)
profiles.append(main_prof)
from promptrail.cli import main
main_prof.enable()
try:
    code = main(sys.argv[2:])
finally:
    main_prof.disable()
    threading.setprofile(None)
    import pstats
    stats = None
    for p in profiles:
        try:
            p.create_stats()
        except Exception:
            continue
        stats = pstats.Stats(p) if stats is None else (stats.add(p) or stats)
    stats.dump_stats(sys.argv[1])
sys.exit(code)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=50)
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--tool", choices=("cprofile", "py-spy"), default="cprofile")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="pr-profile-"))
    root = tmp / "ws"
    write_workspace(root, args.prompts, args.cases, args.concurrency)
    server, port = start_server(args.latency)
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "OPENAI_API_KEY": KEY,
        "PROMPTRAIL_DB": str(tmp / "gate.duckdb"),
    }
    gate = ["-C", str(root), "gate", "--cache", "off", "--json"]
    try:
        if args.tool == "cprofile":
            prof = args.out / f"gate-{args.prompts}x{args.cases}.prof"
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(prof), *gate],
                env=env,
                capture_output=True,
                text=True,
            )
            print(f"exit {proc.returncode}; profile in {prof}")
            import pstats

            stats = pstats.Stats(str(prof))
            stats.sort_stats("tottime").print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(args.top)
        else:
            speedscope = args.out / f"gate-{args.prompts}x{args.cases}.speedscope.json"
            exe = str(Path(sys.executable).with_name("promptrail"))
            proc = subprocess.run(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--format",
                    "speedscope",
                    "-o",
                    str(speedscope),
                    "--gil",
                    "--",
                    exe,
                    *gate,
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            print(proc.stderr[-2000:])
            if speedscope.exists():
                summarise(speedscope)
            print(f"exit {proc.returncode}; open {speedscope} in speedscope")
    finally:
        server.terminate()


# what a sample was doing, from its stack (outermost frame first): the first rule that matches
KINDS = [
    ("imports", lambda names: any("_find_and_load" in n for n in names)),
    ("model calls (SDK, HTTP)", lambda names: any(n.startswith("call ") for n in names)),
    ("store writes", lambda names: any("Store.write" in n for n in names)),
    ("reports", lambda names: any("write_run_reports" in n for n in names)),
    ("cases (vars, render, checks)", lambda names: any("Evaluator._case" in n for n in names)),
    ("event loop, other", lambda names: any("_run_once" in n for n in names)),
    ("gate, other", lambda names: True),
]


def summarise(speedscope: Path) -> None:
    """CPU seconds (samples of the thread holding the GIL) by what they were doing, and the
    imports by the package that was being imported."""
    import collections
    import json

    doc = json.loads(speedscope.read_text())
    frames = doc["shared"]["frames"]
    kinds: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    for profile in doc["profiles"]:
        for sample, weight in zip(profile["samples"], profile["weights"], strict=True):
            names = [f"{frames[i]['name']} {frames[i].get('file', '')}" for i in sample]
            kind = next(k for k, rule in KINDS if rule(names))
            kinds[kind] += weight
            if kind == "imports":
                files = [
                    frames[i].get("file", "") for i in sample if frames[i]["name"] == "<module>"
                ]
                outside = [f.split("site-packages/")[1] for f in files if "site-packages/" in f]
                packages[outside[0].split("/")[0] if outside else "promptrail, stdlib"] += weight
    print(f"CPU seconds sampled: {sum(kinds.values()):.2f}")
    for kind, seconds in kinds.most_common():
        print(f"  {seconds:6.2f}  {kind}")
    print("imports by package:")
    for package, seconds in packages.most_common(8):
        print(f"  {seconds:6.2f}  {package}")


if __name__ == "__main__":
    main()
