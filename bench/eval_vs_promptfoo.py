"""promptrail beside promptfoo on one fake model server: whole command against whole command,
eval stage against eval stage, interleaved, medians.

    python bench/eval_vs_promptfoo.py [--reps 3] [--concurrency 16] [--suites 1x1000,1x5000,50x40]
                                      [--latencies 0.05,0] [--promptfoo DIR] [--json OUT]

One fake OpenAI-wire server (``promptrail/devserver.py``, its own process) serves both tools;
between runs the bench reads and resets its counters (``GET /_stats?reset=1``), so every row
says how many requests the server saw and the most it had in flight. Suites: P prompts × N
cases, two checks per case (is-json; the JSON field ``ok`` is true), each prompt its own
system message. For each suite, latency and repeat, in turn:

- ``promptrail gate --cache off`` (lint, schema, regression, cost, the store, reports): the
  whole command, a fresh store each time;
- promptrail's eval stage alone: ``Evaluator.evaluate`` over every prompt, timed inside a
  process that has already imported everything (the stage, not the start-up);
- ``promptfoo eval --no-cache`` (the whole command), and promptfoo's own stage figure from
  its result file (``evalDurationMs`` or its timestamps when present).

Each row: wall seconds, CPU seconds (user + system of the process and its children, from
``wait4``), peak RSS, requests the server saw, max in flight, exit code, and wall / limit where
the physical limit is N·L/C (calls × latency / concurrency); the server also reports how long
it really took per call (its threads share one GIL and two cores with the client), and the
last column divides by the limit at that time. Requests must equal the calls the
suite needs and exit codes must be 0 (promptfoo: 0, or 100 when a check failed); a row that
does not is marked. The machine's load average is printed before and after: on a shared
machine compare CPU seconds and medians, not single walls.

promptfoo: ``npm install node@22 promptfoo`` in a scratch folder (kept out of git) and pass it
as --promptfoo; its bundled Node 22 runs it (promptfoo 0.123 needs Node >= 22.22).
"""

from __future__ import annotations

import argparse
import json
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
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
KEY = "sk-bench-0000000000"
# for a child process's code (``python -c``): its RSS now and its peak, sampled in a thread
SAMPLER = r"""
import threading, time

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

peak = [0]
def sample(every):
    while True:
        peak[0] = max(peak[0], rss())
        time.sleep(every)
"""

CONFIG = """environments: [{name: dev}, {name: staging, gates: [lint, schema, regression, cost]}]
cache: {path: cache.jsonl}
providers: {openai: {concurrency: CONCURRENCY}}
"""
PROMPT = """name: NAME
version: 1.0.0
model: {provider: openai, name: gpt-4o-mini, temperature: 0}
input_schema: {type: object, required: [ticket], properties: {ticket: {type: string}}}
messages:
  - {role: system, content: "You are assistant NAME. Answer in JSON with the key ok."}
  - {role: user, content: "Ticket: {{ ticket }}"}
"""
SUITE = """prompt: NAME
defaults:
  assert:
    - {type: is-json}
    - {type: json-path, path: $.ok, value: true}
dataset: data/NAME.jsonl
"""


def names(prompts: int) -> list[str]:
    return [f"p{i:03d}" for i in range(prompts)]


def write_workspace(root: Path, prompts: int, cases: int, concurrency: int) -> None:
    for d in ("prompts", "suites/data"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "promptrail.yaml").write_text(CONFIG.replace("CONCURRENCY", str(concurrency)))
    rows = "".join(
        json.dumps({"id": f"c{i}", "vars": {"ticket": f"my site {i} is down"}}) + "\n"
        for i in range(cases)
    )
    for name in names(prompts):
        (root / f"prompts/{name}.yaml").write_text(PROMPT.replace("NAME", name))
        (root / f"suites/{name}.yaml").write_text(SUITE.replace("NAME", name))
        (root / f"suites/data/{name}.jsonl").write_text(rows)
    subprocess.run(["git", "init", "-q", str(root)], check=True)


def promptfoo_config(root: Path, prompts: int, cases: int, port: int) -> Path:
    cfg = {
        "prompts": [
            {
                "id": name,
                "raw": json.dumps(
                    [
                        {
                            "role": "system",
                            "content": f"You are assistant {name}. Answer in JSON with the key ok.",
                        },
                        {"role": "user", "content": "Ticket: {{ ticket }}"},
                    ]
                ),
            }
            for name in names(prompts)
        ],
        "providers": [
            {
                "id": "openai:chat:gpt-4o-mini",
                "config": {
                    "apiBaseUrl": f"http://127.0.0.1:{port}/v1",
                    "apiKey": KEY,
                    "temperature": 0,
                },
            }
        ],
        "defaultTest": {
            "assert": [
                {"type": "is-json"},
                {"type": "javascript", "value": "JSON.parse(output).ok === true"},
            ]
        },
        "tests": [{"vars": {"ticket": f"my site {i} is down"}} for i in range(cases)],
    }
    path = root / "promptfooconfig.json"
    path.write_text(json.dumps(cfg))
    return path


# -- measuring a child process -----------------------------------------------------------
def measure(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> dict[str, Any]:
    """Run ``cmd``; wall, CPU (user+sys incl. its children) and peak RSS of that process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # communicate() would reap the child itself; read the pipes in threads and wait4 here
    import threading

    out: dict[str, str] = {}

    def drain(name: str, stream: Any) -> None:
        out[name] = stream.read()

    threads = [
        threading.Thread(target=drain, args=("stdout", proc.stdout)),
        threading.Thread(target=drain, args=("stderr", proc.stderr)),
    ]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "code": proc.returncode,
        "stdout": out.get("stdout", ""),
        "stderr": out.get("stderr", ""),
    }


def server_stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats?reset=1", timeout=10) as r:
        return dict(json.loads(r.read()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(latency: float) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "promptrail.devserver",
            "--port",
            str(port),
            "--latency",
            str(latency),
            "--responder",
            "responders:json_ok",
        ],
        env={**os.environ, "PYTHONPATH": f"{BENCH}{os.pathsep}{REPO}"},
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc, port


# -- the three runs ------------------------------------------------------------------------
STAGE = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from promptrail.workspace import Workspace
from promptrail.evaluate import Evaluator
from promptrail.suites import load_suite
ws = Workspace(sys.argv[1])
names = ws.prompt_names()
resolved = [ws.resolve(n) for n in names]
suites = {n: load_suite(ws, n) for n in names}
ev = Evaluator(ws, cache_mode="off")
ev.get_ready(resolved, suites)          # imports, clients, price table: start-up, not stage
t0, c0 = time.perf_counter(), time.process_time()
with ThreadPoolExecutor(8) as pool:     # as the gate runs prompts
    runs = list(pool.map(ev.evaluate, resolved))
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
ev.close()
print(json.dumps({"stage_wall": wall, "stage_cpu": cpu,
                  "cases": sum(r.total for r in runs),
                  "passed": sum(sum(c.passed for c in r.cases) for r in runs)}))
"""


def run_promptrail_gate(root: Path, port: int, tmp: Path) -> dict[str, Any]:
    db = tmp / "gate.duckdb"
    db.unlink(missing_ok=True)
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "OPENAI_API_KEY": KEY,
        "PROMPTRAIL_DB": str(db),
    }
    exe = str(Path(sys.executable).with_name("promptrail"))
    r = measure([exe, "-C", str(root), "gate", "--cache", "off", "--json"], env)
    try:
        doc = json.loads(r["stdout"])
        r["status"] = doc.get("status")
    except ValueError:
        r["status"] = "no json: " + r["stderr"][-300:]
    return r


def run_promptrail_stage(root: Path, port: int) -> dict[str, Any]:
    env = {**os.environ, "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": KEY}
    r = measure([sys.executable, "-c", STAGE, str(root)], env)
    if r["code"] == 0:
        r.update(json.loads(r["stdout"].strip().splitlines()[-1]))
    return r


def run_promptfoo(pf_dir: Path, root: Path, config: Path, concurrency: int) -> dict[str, Any]:
    node = pf_dir / "node_modules/.bin/node"
    entry = pf_dir / "node_modules/promptfoo/dist/src/entrypoint.js"
    out = root / "pf.json"
    out.unlink(missing_ok=True)
    home = root / ".promptfoo"
    shutil.rmtree(home, ignore_errors=True)
    env = {
        **os.environ,
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_CONFIG_DIR": str(home),
        "PROMPTFOO_CACHE_ENABLED": "false",
        "NO_COLOR": "1",
    }
    cmd = [
        str(node),
        str(entry),
        "eval",
        "-c",
        str(config),
        "--no-cache",
        "--max-concurrency",
        str(concurrency),
        "--no-progress-bar",
        "--no-table",
        "-o",
        str(out),
    ]
    r = measure(cmd, env, cwd=root)
    if out.exists():
        data = json.loads(out.read_text())
        results = data.get("results", {})
        stats = results.get("stats", {})
        r["passed"] = stats.get("successes")
        r["failed"] = stats.get("failures")
        r["errors"] = stats.get("errors")
        stage = stats.get("durationMs") or results.get("durationMs")
        if stage:
            r["stage_wall"] = float(stage) / 1000
    return r


LABELS = {"gate": "promptrail gate", "stage": "promptrail stage", "promptfoo": "promptfoo eval"}


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v: float | None, spec: str = ".2f") -> str:
    return "—" if v is None else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--suites", default="1x1000,1x5000,50x40")
    ap.add_argument("--latencies", default="0.05,0")
    ap.add_argument("--promptfoo", type=Path, default=None)
    ap.add_argument("--skip", default="", help="comma list of: gate,stage,promptfoo")
    ap.add_argument("--json", type=Path, default=None, help="write every run here")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if args.promptfoo is not None:
        args.promptfoo = args.promptfoo.resolve()
    has_pf = args.promptfoo is not None and (args.promptfoo / "node_modules/.bin/node").exists()
    if not has_pf:
        skip.add("promptfoo")
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}")
    tmp = Path(tempfile.mkdtemp(prefix="pr-bench-"))
    all_rows: list[dict[str, Any]] = []
    table: list[str] = []
    try:
        for latency in [float(x) for x in args.latencies.split(",")]:
            server, port = start_server(latency)
            try:
                for spec in args.suites.split(","):
                    prompts, cases = (int(x) for x in spec.split("x"))
                    calls = prompts * cases
                    limit = calls * latency / args.concurrency
                    root = tmp / f"ws-{spec}"
                    if not root.exists():
                        write_workspace(root, prompts, cases, args.concurrency)
                    pf_config = promptfoo_config(root, prompts, cases, port)
                    server_stats(port)
                    rows: dict[str, list[dict[str, Any]]] = {}
                    for rep in range(args.reps):
                        runs = [k for k in ("gate", "stage", "promptfoo") if k not in skip]
                        if rep % 2:
                            runs.reverse()  # interleave: neither tool always goes first
                        for kind in runs:
                            label = LABELS[kind]
                            if kind == "gate":
                                r = run_promptrail_gate(root, port, tmp)
                            elif kind == "stage":
                                r = run_promptrail_stage(root, port)
                            else:
                                r = run_promptfoo(args.promptfoo, root, pf_config, args.concurrency)
                            st = server_stats(port)
                            r.update(st, tool=label, suite=spec, latency=latency, rep=rep)
                            ok_codes = (0, 100) if "promptfoo" in label else (0,)
                            r["ok"] = r["code"] in ok_codes and st["requests"] == calls
                            if not r["ok"]:
                                print(
                                    f"  !! {label} {spec} @{latency}: exit {r['code']}, "
                                    f"{st['requests']} requests (expected {calls}) "
                                    f"{r.get('stderr', '')[-400:]}",
                                    flush=True,
                                )
                            r.pop("stdout", None)
                            r.pop("stderr", None)
                            rows.setdefault(label, []).append(r)
                            all_rows.append(r)
                            print(
                                f"  {spec} @{latency * 1000:.0f}ms rep {rep} {label}: "
                                f"{r['wall']:.2f} s wall, {r['cpu']:.2f} CPU-s, "
                                f"{r['rss_mb']:.0f} MB, {st['requests']} req, "
                                f"max {st['max_in_flight']} in flight, exit {r['code']}"
                                + (
                                    f", stage {r['stage_wall']:.2f} s"
                                    if r.get("stage_wall")
                                    else ""
                                ),
                                flush=True,
                            )
                    for label, rs in rows.items():
                        wall, cpu = median(rs, "wall"), median(rs, "cpu")
                        stage = median(rs, "stage_wall")
                        stage_cpu = median(rs, "stage_cpu")
                        ratio = f"{wall / limit:.2f}×" if limit and wall else "—"
                        sratio = f"{stage / limit:.2f}×" if limit and stage else "—"
                        per_case = f"{(cpu or 0) / calls * 1000:.2f}"
                        # the limit at the latency the server really took (its threads, the
                        # GIL, the OS): what no client could beat on this machine
                        served = median(rs, "handled_ms") or 0.0
                        real = calls * served / 1000 / args.concurrency
                        rratio = f"{(stage or wall) / real:.2f}×" if real else "—"
                        table.append(
                            f"| {spec} | {latency * 1000:.0f} ms | {label} | {fmt(wall)} | "
                            f"{ratio} | {fmt(stage)} | {sratio} | {fmt(cpu)} | {per_case} | "
                            f"{fmt(stage_cpu)} | {fmt(median(rs, 'rss_mb'), '.0f')} | "
                            f"{int(median(rs, 'requests') or 0)} | "
                            f"{int(median(rs, 'max_in_flight') or 0)} | "
                            f"{'ok' if all(r['ok'] for r in rs) else 'CHECK'} | {limit:.2f} | "
                            f"{served:.1f} | {rratio} |"
                        )
            finally:
                server.terminate()
                server.wait(timeout=10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nload average after: {os.getloadavg()}; medians of {args.reps} interleaved runs\n")
    print(
        "| suite | latency | what | wall s | wall / limit | stage s | stage / limit | CPU-s "
        "(whole process) | CPU ms / case | stage CPU-s | peak RSS MB | requests | "
        "max in flight | codes & counts | limit s | server ms per call | stage (or wall) / "
        "limit at the server's time |"
    )
    print("|---" * 17 + "|")
    for line in table:
        print(line)
    if args.json:
        args.json.write_text(json.dumps(all_rows, indent=1))


if __name__ == "__main__":
    main()
