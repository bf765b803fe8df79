"""What one model call costs in CPU, layer by layer: the official openai SDK's client as
promptrail calls it (``client.post`` with the body as built), promptrail's HTTP client alone
(the SDK's transport: size cap, address guard, no redirects), and a plain ``httpx2`` client.

    python bench/sdk_overhead.py [--calls 2000] [--concurrency 16] [--rounds 2]

Against the fake server (``eval_vs_promptfoo.py``'s, answering at once), from one event
loop, at most ``--concurrency`` in flight; CPU of this process per call, interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from eval_vs_promptfoo import KEY, start_server  # noqa: E402

BODY = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are assistant p001. Answer in JSON with the key ok."},
        {"role": "user", "content": "Ticket: my site 1 is down"},
    ],
    "temperature": 0,
}


async def run(calls: int, concurrency: int, rounds: int, port: int) -> dict[str, list[float]]:
    import httpx2
    import openai

    from promptrail import net

    base = f"http://127.0.0.1:{port}/v1"
    flavor = net.sdk_flavor("openai._base_client")
    sdk = openai.AsyncOpenAI(
        api_key=KEY,
        base_url=base,
        max_retries=0,
        timeout=60,
        http_client=net.async_client(60, flavor=flavor),
    )
    ours = net.async_client(60, flavor=flavor)
    plain = httpx2.AsyncClient(
        timeout=60, limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
    )
    auth = {"Authorization": f"Bearer {KEY}"}

    async def via_sdk() -> Any:
        return await sdk.post("/chat/completions", cast_to=object, body=BODY)

    async def via_ours() -> Any:
        return (await ours.post(f"{base}/chat/completions", json=BODY, headers=auth)).json()

    async def via_plain() -> Any:
        return (await plain.post(f"{base}/chat/completions", json=BODY, headers=auth)).json()

    ways: dict[str, Callable[[], Awaitable[Any]]] = {
        "openai SDK (client.post), promptrail's HTTP client": via_sdk,
        "promptrail's HTTP client alone": via_ours,
        "plain httpx2 client": via_plain,
    }
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            assert isinstance(await call(), dict)

    results: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, call in ways.items():
            await asyncio.gather(*(one(call) for _ in range(50)))  # connections, warm
            start = time.process_time()
            await asyncio.gather(*(one(call) for _ in range(calls)))
            results[name].append((time.process_time() - start) / calls * 1000)
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    server, port = start_server(0.0)
    try:
        results = asyncio.run(run(args.calls, args.concurrency, args.rounds, port))
    finally:
        server.terminate()
    print("| layer | CPU ms per call (median of rounds) |\n|---|---|")
    for name, per_call in results.items():
        print(f"| {name} | {statistics.median(per_call):.3f} |")


if __name__ == "__main__":
    main()
