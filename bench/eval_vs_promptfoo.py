"""The eval stage against a model that answers in 50 ms, promptrail beside promptfoo.

    python bench/eval_vs_promptfoo.py [--cases 1000] [--latency 0.05] [--concurrency 16]
                                      [--warm 10000] [--promptfoo DIR]

One fake OpenAI-compatible server (promptrail/devserver.py, its own process) serves both tools.
The suite: one prompt, N cases, two assertions per case (is-json, a JSON path equals).
1. promptrail's eval stage (the plain functions the gate flow calls), cache off;
2. promptfoo on the identical suite and server (``npx promptfoo eval``, cache off), when
   installed under --promptfoo (``npm install promptfoo`` there);
3. a warm-cache replay of --warm cases, and the peak memory of that process.
The physical limit is cases * latency / concurrency.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

CONFIG = """environments: [{name: dev}, {name: staging, gates: [lint, schema, regression, cost]}]
cache: {path: cache.jsonl}
providers: {openai: {concurrency: CONCURRENCY}}
"""
PROMPT = """name: ticket-echo
version: 1.0.0
model: {provider: openai, name: gpt-4o-mini, temperature: 0}
input_schema: {type: object, required: [ticket], properties: {ticket: {type: string}}}
messages:
  - {role: system, content: "Answer in JSON with the key ok."}
  - {role: user, content: "Ticket: {{ ticket }}"}
"""


def write_workspace(root: Path, cases: int, concurrency: int) -> None:
    (root / "prompts").mkdir(parents=True)
    (root / "suites").mkdir()
    (root / "promptrail.yaml").write_text(CONFIG.replace("CONCURRENCY", str(concurrency)))
    (root / "prompts/ticket-echo.yaml").write_text(PROMPT)
    rows = [
        json.dumps({"id": f"c{i}", "vars": {"ticket": f"my site {i} is down"}})
        for i in range(cases)
    ]
    (root / "suites/cases.jsonl").write_text("\n".join(rows) + "\n")
    (root / "suites/ticket-echo.yaml").write_text(
        "prompt: ticket-echo\ndefaults:\n  assert:\n    - {type: is-json}\n"
        "    - {type: json-path, path: $.ok, value: true}\ndataset: cases.jsonl\n"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(latency: float) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(BENCH)}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "promptrail/devserver.py"),
            "--port",
            str(port),
            "--latency",
            str(latency),
            "--responder",
            "responders:json_ok",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc, port


EVAL = """
import json, os, resource, sys, time
from promptrail.workspace import Workspace
from promptrail.evaluate import Evaluator
ws = Workspace(sys.argv[1])
resolved = ws.resolve("ticket-echo")
import openai  # noqa: F401 - the SDK's import (~0.8 s) is a fixed cost, timed apart
start = time.perf_counter()
with Evaluator(ws, cache_mode=sys.argv[2]) as ev:
    run = ev.evaluate(resolved)
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "cases": run.total, "pass_rate": run.pass_rate,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def promptrail_eval(root: Path, port: int, mode: str) -> dict:
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "OPENAI_API_KEY": "sk-bench-0000000000",
    }
    out = subprocess.run(
        [sys.executable, "-c", EVAL, str(root), mode],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def promptfoo_eval(pf_dir: Path, root: Path, port: int, cases: int, concurrency: int) -> dict:
    tests = [{"vars": {"ticket": f"my site {i} is down"}} for i in range(cases)]
    cfg = {
        "prompts": [
            json.dumps(
                [
                    {"role": "system", "content": "Answer in JSON with the key ok."},
                    {"role": "user", "content": "Ticket: {{ ticket }}"},
                ]
            )
        ],
        "providers": [
            {
                "id": "openai:chat:gpt-4o-mini",
                "config": {
                    "apiBaseUrl": f"http://127.0.0.1:{port}/v1",
                    "apiKey": "sk-bench-0000000000",
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
        "tests": tests,
    }
    path = root / "promptfooconfig.json"
    path.write_text(json.dumps(cfg))
    env = {
        **os.environ,
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_CONFIG_DIR": str(root / ".promptfoo"),
        "PROMPTFOO_CACHE_ENABLED": "false",
        "NO_COLOR": "1",
    }
    exe = pf_dir / "node_modules/.bin/promptfoo"
    # promptfoo 0.120 looks for its migrations at the package root; they ship in dist/
    pkg = pf_dir / "node_modules/promptfoo"
    if not (pkg / "drizzle").exists() and (pkg / "dist/drizzle").exists():
        (pkg / "drizzle").symlink_to(pkg / "dist/drizzle")
    start = time.perf_counter()
    proc = subprocess.run(
        [
            str(exe),
            "eval",
            "-c",
            str(path),
            "--no-cache",
            "--max-concurrency",
            str(concurrency),
            "--no-progress-bar",
            "--no-table",
            "-o",
            str(root / "pf.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=root,
    )
    elapsed = time.perf_counter() - start
    ok = proc.returncode in (0, 100)
    result = {"seconds": elapsed, "returncode": proc.returncode}
    if ok and (root / "pf.json").exists():
        data = json.loads((root / "pf.json").read_text())
        stats = data.get("results", {}).get("stats", {})
        result.update(passed=stats.get("successes"), failed=stats.get("failures"))
    else:
        result["stderr"] = proc.stderr[-800:]
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--warm", type=int, default=10000)
    ap.add_argument(
        "--promptfoo",
        type=Path,
        default=None,
        help="a folder where `npm install promptfoo@0.120.0` was run (later "
        "releases need Node 22; this machine has Node 20)",
    )
    args = ap.parse_args()
    limit = args.cases * args.latency / args.concurrency
    tmp = Path(tempfile.mkdtemp())
    server, port = start_server(args.latency)
    try:
        root = tmp / "ws"
        write_workspace(root, args.cases, args.concurrency)
        pr = promptrail_eval(root, port, "off")
        print(
            f"promptrail eval stage (the SDK's 0.8 s import timed apart): "
            f"{args.cases} cases in {pr['seconds']:.2f} s "
            f"({pr['seconds'] / limit:.2f}x the {limit:.2f} s limit), pass rate "
            f"{pr['pass_rate']:.0%}"
        )
        env = {
            **os.environ,
            "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "OPENAI_API_KEY": "sk-bench-0000000000",
            "PROMPTRAIL_DB": str(tmp / "g.duckdb"),
        }
        start = time.perf_counter()
        subprocess.run(
            [
                str(Path(sys.executable).with_name("promptrail")),
                "-C",
                str(root),
                "gate",
                "--cache",
                "off",
                "--json",
            ],
            env=env,
            capture_output=True,
        )
        whole = time.perf_counter() - start
        print(
            f"promptrail gate, the whole command (lint, eval, schema, regression, cost, "
            f"store, reports): {whole:.2f} s"
        )
        if args.promptfoo and (args.promptfoo / "node_modules/.bin/promptfoo").exists():
            pf = promptfoo_eval(args.promptfoo, root, port, args.cases, args.concurrency)
            print(
                f"promptfoo eval: {args.cases} cases in {pf['seconds']:.2f} s "
                f"({pf['seconds'] / limit:.2f}x the limit); {pf}"
            )
            print(
                f"ratio promptfoo / promptrail: {pf['seconds'] / pr['seconds']:.2f} (eval "
                f"stage), {pf['seconds'] / whole:.2f} (whole commands)"
            )
        else:
            print("promptfoo: not installed (pass --promptfoo DIR after `npm install promptfoo`)")
    finally:
        server.terminate()
    fast, fport = start_server(0.0)
    try:
        warm = tmp / "warm"
        write_workspace(warm, args.warm, 64)
        promptrail_eval(warm, fport, "read-write")  # fill the cache
        replay = promptrail_eval(warm, fport, "replay")
        print(
            f"warm cache: {args.warm} cases in {replay['seconds']:.2f} s, peak memory "
            f"{replay['peak_mb']:.0f} MB"
        )
    finally:
        fast.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
