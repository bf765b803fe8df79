"""The provider layer: the real OpenAI and Anthropic SDKs against the local wire-level server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY, FakeLLMServer, last_user

from promptrail.errors import EXIT_OPERATIONAL, UsageError
from promptrail.providers import (
    CacheMiss,
    ModelClient,
    ModelRequest,
    ModelResponse,
    ProviderError,
    ResponseCache,
    price,
)
from promptrail.providers import anthropic as anthropic_provider
from promptrail.providers import openai as openai_provider
from promptrail.tokens import count_tokens

REPO = Path(__file__).parent.parent
# The SDK warns that this model is retired; it is here for its price-table entry.
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
FAST = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 5}
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    with FakeLLMServer(responder=lambda body, protocol: f"{protocol}: {last_user(body)}") as srv:
        for key, value in srv.env().items():
            monkeypatch.setenv(key, value)
        yield srv


def make_client(
    cache: ResponseCache | None = None, mode: str = "read-write", **settings: Any
) -> ModelClient:
    s = {**FAST, **settings}
    return ModelClient({"openai": dict(s), "anthropic": dict(s)}, cache=cache, mode=mode)


def request(
    provider: str = "openai", text: str = "hello", model: str | None = None, **params: Any
) -> ModelRequest:
    return ModelRequest(
        provider,
        model or MODELS[provider],
        ({"role": "system", "content": "Be brief."}, {"role": "user", "content": text}),
        params,
    )


def complete(client: ModelClient, *requests: ModelRequest) -> list[ModelResponse]:
    async def go() -> list[ModelResponse]:
        try:
            return list(await asyncio.gather(*(client.complete(r) for r in requests)))
        finally:
            await client.aclose()

    return asyncio.run(go())


def fails(client: ModelClient, req: ModelRequest) -> Exception:
    async def go() -> None:
        try:
            await client.complete(req)
        finally:
            await client.aclose()

    with pytest.raises(Exception) as info:
        asyncio.run(go())
    return info.value


# -- request bodies -------------------------------------------------------------------------
def test_openai_payload_is_the_chat_completions_body() -> None:
    msgs = ({"role": "system", "content": "S"}, {"role": "user", "content": "U"})
    assert openai_provider.payload(
        "gpt-4o-mini", msgs, {"temperature": 0.2, "max_tokens": 400, "stop": ["\n"]}
    ) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
        "temperature": 0.2,
        "max_tokens": 400,
        "stop": ["\n"],
    }


def test_anthropic_payload_moves_system_out_and_requires_max_tokens() -> None:
    msgs = (
        {"role": "system", "content": "S1"},
        {"role": "system", "content": "S2"},
        {"role": "user", "content": "U"},
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "U2"},
    )
    body = anthropic_provider.payload(
        "claude-3-5-haiku-latest", msgs, {"temperature": 0.2, "top_p": 0.9, "stop": "END"}
    )
    assert body == {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 1024,
        "system": "S1\n\nS2",
        "messages": [
            {"role": "user", "content": "U"},
            {"role": "assistant", "content": "A"},
            {"role": "user", "content": "U2"},
        ],
        "stop_sequences": ["END"],
    }  # sampling params: a 400 since 2026-10-21
    assert anthropic_provider.payload("m", msgs[2:3], {"max_tokens": 50})["max_tokens"] == 50
    assert "system" not in anthropic_provider.payload("m", msgs[2:3], {})


def test_importing_the_provider_layer_imports_no_sdk() -> None:
    code = (
        "import sys, promptrail.providers, promptrail.providers.openai, "
        "promptrail.providers.anthropic, promptrail.tokens\n"
        "print([m for m in ('openai', 'anthropic', 'httpx', 'genai_prices', 'bpe_openai') "
        "if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert out.strip() == "[]"


def test_request_key_is_a_canonical_content_hash() -> None:
    a = request(temperature=1)
    assert a.key().startswith("sha256:") and a.key() == request(temperature=1.0).key()
    assert a.key() != request(temperature=0.5).key()
    assert a.key() != request("anthropic", model=MODELS["openai"], temperature=1).key()
    assert a.key() != ModelRequest(a.provider, a.model, a.messages, a.params, sample=1).key()


# -- round trips ----------------------------------------------------------------------------
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_round_trip_through_the_real_sdk(server: FakeLLMServer, provider: str) -> None:
    client = make_client(mode="off")
    [resp] = complete(client, request(provider, "What is 2+2?", max_tokens=20))
    assert resp.text == f"{provider}: What is 2+2?"
    assert resp.model == MODELS[provider] and not resp.cached and resp.attempts == 1
    assert resp.input_tokens == len("Be brief.") // 4 + 1 + len("What is 2+2?") // 4 + 1
    assert resp.output_tokens == len(resp.text) // 4 + 1 and resp.cached_tokens == 0
    assert resp.cost_usd is not None and resp.cost_usd > 0
    assert resp.price_source.startswith("genai-prices ")
    assert resp.latency_ms > 0
    assert client.stats == {"calls": 1, "cache_hits": 0, "retries": 0, "failures": 0}
    [sent] = server.requests
    assert sent["path"] == ("/v1/chat/completions" if provider == "openai" else "/v1/messages")
    key = FAKE_OPENAI_KEY if provider == "openai" else FAKE_ANTHROPIC_KEY
    assert key in json.dumps(sent["headers"])  # the key is sent...


def test_anthropic_gets_system_at_top_level(server: FakeLLMServer) -> None:
    complete(make_client(mode="off"), request("anthropic", "hi", temperature=0.3))
    body = server.requests[0]["body"]
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["max_tokens"] == 1024 and "temperature" not in body


def test_unknown_model_has_no_cost(server: FakeLLMServer) -> None:
    [resp] = complete(make_client(mode="off"), request(model="acme-llm-9000"))
    assert resp.text and resp.cost_usd is None
    assert resp.price_source.startswith("genai-prices ")


def test_prices_and_tokens() -> None:
    full, src = price("openai", "gpt-4o-mini", 1000, 100)
    part, _ = price("openai", "gpt-4o-mini", 1000, 100, cached_tokens=800)
    assert full is not None and part is not None and 0 < part < full
    assert abs(full - (1000 * 0.15 + 100 * 0.6) / 1e6) < 1e-12 and src.startswith("genai-prices")
    assert price("anthropic", "claude-3-5-haiku-latest", 1000, 100)[0] > 0  # type: ignore[operator]
    assert price("openai", "acme-llm-9000", 1000, 100)[0] is None
    assert price("acme", "gpt-4o-mini", 1000, 100)[0] is None
    assert count_tokens("Hello world") == 2 and count_tokens("") == 0
    assert count_tokens("Hello world", "claude-3-5-haiku-latest") == count_tokens("Hello world")


# -- cache ----------------------------------------------------------------------------------
def test_read_write_then_replay_with_the_server_stopped(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rec" / "cache.jsonl"
    reqs = [request("openai", "one"), request("anthropic", "two")]
    live = complete(make_client(ResponseCache(path)), *reqs)
    again = make_client(ResponseCache(path))
    complete(again, *reqs)  # read-write answers from the cache
    assert again.stats["cache_hits"] == 2 and len(server.requests) == 2
    server.stop()
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(key)  # replay needs no key
    replay = make_client(ResponseCache(path), mode="replay")
    replayed = complete(replay, *reqs)
    assert replay.stats == {"calls": 0, "cache_hits": 2, "retries": 0, "failures": 0}
    for a, b in zip(live, replayed, strict=True):
        assert b.cached and b.attempts == 0 and not a.cached
        assert (b.text, b.input_tokens, b.output_tokens, b.model, b.cost_usd) == (
            a.text,
            a.input_tokens,
            a.output_tokens,
            a.model,
            a.cost_usd,
        )
        assert b.latency_ms == round(a.latency_ms, 1)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 2 and set(rows[0]) == {
        "key",
        "provider",
        "model",
        "response",
        "recorded_at",
    }
    assert "cost_usd" not in rows[0]["response"]


def test_replay_miss_names_the_request(tmp_path: Path) -> None:
    req = request(text="never recorded")
    err = fails(make_client(ResponseCache(tmp_path / "c.jsonl"), mode="replay"), req)
    assert isinstance(err, CacheMiss) and req.key() in str(err)
    assert err.exit_code == EXIT_OPERATIONAL


def test_api_keys_never_reach_the_cache_or_errors(server: FakeLLMServer, tmp_path: Path) -> None:
    path = tmp_path / "cache.jsonl"
    complete(make_client(ResponseCache(path)), request("openai"), request("anthropic"))
    stored = path.read_text()
    assert FAKE_OPENAI_KEY not in stored and FAKE_ANTHROPIC_KEY not in stored
    assert "authorization" not in stored.lower()
    for provider, key in (("openai", FAKE_OPENAI_KEY), ("anthropic", FAKE_ANTHROPIC_KEY)):
        server.fail(401)  # the fake echoes the key it got, as some do
        err = fails(make_client(), request(provider, "x"))
        assert isinstance(err, ProviderError) and key not in str(err)
        assert f"authentication failed for {provider} (HTTP 401)" in str(err)


def test_cache_loads_ten_thousand_entries_fast(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    response = {
        "text": "x" * 200,
        "input_tokens": 100,
        "output_tokens": 50,
        "cached_tokens": 0,
        "latency_ms": 12.5,
        "model": "gpt-4o-mini",
    }
    with path.open("w") as fh:
        for i in range(10_000):
            fh.write(
                json.dumps(
                    {
                        "key": f"sha256:{i:064x}",
                        "provider": "openai",
                        "model": "gpt-4o-mini",
                        "response": response,
                        "recorded_at": "2026-01-01T00:00:00+00:00",
                    }
                )
                + "\n"
            )
        fh.write('{"key": "torn')  # a writer killed mid-line
    cache = ResponseCache(path)  # how fast: bench/eval_vs_promptfoo.py's warm-cache run
    assert len(cache) == 10_000 and cache.get(f"sha256:{9999:064x}") == response


def test_cache_entries_come_back_as_recorded(tmp_path: Path) -> None:
    """Entries are read back from their lines: whatever a line holds, with tool calls,
    without optional fields, or with a field this version does not know, comes back; the
    newest line of a key wins, and a key never recorded is a miss."""
    path = tmp_path / "cache.jsonl"
    base = {"text": "hi", "input_tokens": 3, "output_tokens": 1, "cached_tokens": 0}
    shapes = {
        "plain": {**base, "latency_ms": 1.0, "model": "gpt-4o-mini"},
        "tools": {**base, "model": "m", "tool_calls": [{"name": "f", "arguments": {"a": 1}}]},
        "partial": {"text": None, "output_tokens": 0},
        "newer": {**base, "reasoning_tokens": 7},
    }
    with path.open("w") as fh:
        fh.write(json.dumps({"key": "plain", "response": {"text": "older"}}) + "\n")
        for key, response in shapes.items():
            fh.write(json.dumps({"key": key, "response": response}) + "\n")
    cache = ResponseCache(path)
    assert {key: cache.get(key) for key in shapes} == shapes and len(cache) == 4
    assert cache.get("missing") is None and "missing" not in cache and "plain" in cache
    # a put is found at once, by this object and by a new one
    from promptrail.providers import ModelRequest, ModelResponse

    cache.put(
        "new", ModelRequest("openai", "m", ()), ModelResponse("fresh", 1, 2, 0, 3.0, None, "t", "m")
    )
    assert cache.get("new")["text"] == "fresh" == ResponseCache(path).get("new")["text"]
    assert cache.get("plain") == shapes["plain"]


def test_cache_lines_are_read_back_in_any_order(tmp_path: Path) -> None:
    """Lines are read back through a window of the file: in recording order, shuffled, and
    lines longer than the window all come back whole."""
    import random

    from promptrail.providers.cache import WINDOW

    path = tmp_path / "cache.jsonl"
    sizes = [10, 300, WINDOW - 40, WINDOW + 1, 3 * WINDOW, 5]
    responses = {f"k{i}": {"text": "x" * sizes[i % len(sizes)] + str(i)} for i in range(600)}
    with path.open("w") as fh:
        for key, response in responses.items():
            fh.write(json.dumps({"key": key, "response": response}) + "\n")
    keys = list(responses)
    shuffled = random.Random(7).sample(keys, len(keys))
    for order in (keys, shuffled, keys[::-1]):
        cache = ResponseCache(path)
        assert [cache.get(k) for k in order] == [responses[k] for k in order]


def test_cache_appends_from_concurrent_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "cache.jsonl"
    code = f"""
import sys
from promptrail.providers import ModelRequest, ModelResponse, ResponseCache
cache = ResponseCache({str(path)!r})
for i in range(200):
    req = ModelRequest("openai", "gpt-4o-mini", ({{"role": "user", "content": sys.argv[1] + str(i)}},), {{}})
    cache.put(req.key(), req, ModelResponse("y" * 5000, 1, 2, 0, 3.0, None, "t", "gpt-4o-mini"))
"""
    procs = [subprocess.Popen([sys.executable, "-c", code, f"p{n}-"], cwd=REPO) for n in range(4)]
    assert all(p.wait(timeout=30) == 0 for p in procs)
    lines = path.read_text().splitlines()
    assert len(lines) == 800 and all(json.loads(line)["response"]["text"] for line in lines)
    assert len(ResponseCache(path)) == 800


# -- retries --------------------------------------------------------------------------------
def test_429_with_retry_after_then_500_then_success(server: FakeLLMServer) -> None:
    server.fail(429, retry_after=0.2)
    server.fail(500)
    client = make_client(mode="off", max_backoff=1)
    started = time.perf_counter()
    [resp] = complete(client, request("anthropic"))
    assert resp.attempts == 3 and resp.text
    assert time.perf_counter() - started >= 0.2  # retry-after was honoured
    assert client.stats == {"calls": 3, "cache_hits": 0, "retries": 2, "failures": 0}


def test_retry_after_is_capped_and_retry_after_ms_read(server: FakeLLMServer) -> None:
    server.fail(429, retry_after=60)
    server.fail(503, retry_after_ms=30)
    started = time.perf_counter()
    [resp] = complete(make_client(mode="off"), request())
    # capped: a 60 s retry-after is not waited out (the bound is loose for busy machines)
    assert resp.attempts == 3 and time.perf_counter() - started < 30


def test_dropped_connections_and_timeouts_are_retried(server: FakeLLMServer) -> None:
    server.fail(0)
    [resp] = complete(make_client(mode="off"), request())
    assert resp.attempts == 2
    server.latency = 0.3
    err = fails(make_client(mode="off", timeout=0.1, max_attempts=2), request("anthropic"))
    assert isinstance(err, ProviderError) and "no response after 2 attempts" in str(err)


def test_retries_spent_is_an_operational_error(server: FakeLLMServer) -> None:
    server.fail(503, times=10)
    client = make_client(mode="off", max_attempts=3)
    err = fails(client, request())
    assert isinstance(err, ProviderError) and err.exit_code == EXIT_OPERATIONAL
    assert "openai" in str(err) and "HTTP 503" in str(err) and "3 attempts" in str(err)
    assert (err.status, err.attempts) == (503, 3) and len(server.requests) == 3
    assert client.stats == {"calls": 3, "cache_hits": 0, "retries": 2, "failures": 1}


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(server: FakeLLMServer, status: int) -> None:
    server.fail(status, times=5)
    err = fails(make_client(mode="off"), request())
    assert isinstance(err, ProviderError) and err.attempts == 1 and len(server.requests) == 1
    if status in (401, 403):
        assert f"authentication failed for openai (HTTP {status})" in str(err)
    else:
        assert f"HTTP {status} after 1 attempt" in str(err)


# -- limits and credentials -----------------------------------------------------------------
def test_concurrency_limit_is_respected(server: FakeLLMServer) -> None:
    server.latency = 0.05
    started = time.perf_counter()
    responses = complete(
        make_client(mode="off", concurrency=4), *(request(text=f"q{i}") for i in range(20))
    )
    elapsed = time.perf_counter() - started
    assert len(responses) == 20 and server.max_in_flight == 4
    assert elapsed >= 20 / 4 * 0.05 * 0.95  # five waves of 50 ms


def test_missing_key_is_a_usage_error(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    for provider in ("openai", "anthropic"):
        err = fails(make_client(mode="off"), request(provider))
        assert isinstance(err, UsageError)
        assert str(err).startswith(
            f"{provider.upper()}_API_KEY is not set: live calls need a key; use --cache replay"
        )
    assert server.requests == []


def test_unknown_provider_and_mode_are_usage_errors() -> None:
    req = ModelRequest("acme", "m", ({"role": "user", "content": "x"},), {})
    assert isinstance(fails(make_client(mode="off"), req), UsageError)
    with pytest.raises(UsageError):
        ModelClient(mode="sometimes")
    with pytest.raises(UsageError, match=r"providers.openai.concurrency: Input should be"):
        ModelClient({"openai": {"concurrency": "lots"}})
    assert (
        ModelClient({"openai": {"concurrency": None, "timeout": "30"}}).settings["openai"][
            "concurrency"
        ]
        == 16
    )
