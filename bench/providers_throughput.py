"""Provider-layer throughput: live calls through the real SDK, then a warm-cache replay.

    python bench/providers_throughput.py [--calls 1000] [--latency 0.05] [--concurrency 16]
                                         [--cached 10000]

1. ``--calls`` requests through ``ModelClient`` (cache off) against the fake server, each
   answered after ``--latency`` seconds, at most ``--concurrency`` at once: the physical limit
   is calls * latency / concurrency.
2. ``--cached`` entries written to a cache file, then replayed (``mode="replay"``): the load of
   the file plus a complete() per entry, priced from tokens on every read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakeserver import FakeLLMServer  # noqa: E402

from promptrail.providers import ModelClient, ModelRequest, ResponseCache  # noqa: E402


def req(i: int) -> ModelRequest:
    return ModelRequest(
        "openai",
        "gpt-4o-mini",
        (
            {"role": "system", "content": "You answer support tickets briefly."},
            {"role": "user", "content": f"Ticket {i}: my site is down."},
        ),
        {"temperature": 0.2, "max_tokens": 200},
    )


async def run_all(client: ModelClient, requests: list[ModelRequest]) -> None:
    try:
        await asyncio.gather(*(client.complete(r) for r in requests))
    finally:
        await client.aclose()


def live(calls: int, latency: float, concurrency: int) -> None:
    with FakeLLMServer(latency=latency) as server:
        os.environ.update(server.env())
        client = ModelClient({"openai": {"concurrency": concurrency}}, mode="off")
        # warm up: SDK import and one connection, outside the timing
        asyncio.run(run_all(ModelClient({"openai": {"concurrency": 1}}, mode="off"), [req(-1)]))
        started = time.perf_counter()
        asyncio.run(run_all(client, [req(i) for i in range(calls)]))
        wall = time.perf_counter() - started
        limit = calls * latency / concurrency
        print(
            f"live: {calls} calls, latency {latency * 1000:.0f} ms, concurrency "
            f"{concurrency}: {wall:.2f} s wall vs {limit:.2f} s physical limit "
            f"({wall / limit:.2f}x; {calls / wall:.0f} calls/s); max in flight "
            f"{server.max_in_flight}; stats {client.stats}"
        )


def replay(entries: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cache.jsonl"
        requests = [req(i) for i in range(entries)]
        with path.open("w", encoding="utf-8") as fh:
            for i, r in enumerate(requests):
                fh.write(
                    json.dumps(
                        {
                            "key": r.key(),
                            "provider": r.provider,
                            "model": r.model,
                            "response": {
                                "text": f"reply {i} " * 20,
                                "input_tokens": 20 + i % 50,
                                "output_tokens": 40 + i % 200,
                                "cached_tokens": 0,
                                "latency_ms": 480.0,
                                "model": "gpt-4o-mini-2024-07-18",
                            },
                            "recorded_at": "2026-01-01T00:00:00+00:00",
                        }
                    )
                    + "\n"
                )
        size = path.stat().st_size / 1e6
        started = time.perf_counter()
        cache = ResponseCache(path)
        n = len(cache)
        loaded = time.perf_counter() - started
        client = ModelClient(cache=cache, mode="replay")
        asyncio.run(run_all(client, requests))
        wall = time.perf_counter() - started
        print(
            f"replay: {n} cached entries ({size:.1f} MB): load {loaded * 1000:.0f} ms, "
            f"load + {entries} complete() {wall:.2f} s "
            f"({wall / entries * 1e6:.0f} µs per call); stats {client.stats}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--cached", type=int, default=10_000)
    args = ap.parse_args()
    live(args.calls, args.latency, args.concurrency)
    replay(args.cached)


if __name__ == "__main__":
    main()
