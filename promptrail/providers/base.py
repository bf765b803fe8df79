"""The provider layer: requests, responses, the cache, and the one retry policy.

``ModelClient.complete`` is the only way promptrail calls a model. It answers from the cache
when it can (``replay`` answers only from it), limits concurrency per provider, and retries
transient failures (429, 5xx, timeouts, dropped connections) with exponential backoff and
full jitter, honouring ``retry-after``. The SDKs' own retries are off so attempts are counted
here. An API key never appears in an error, the cache or the store.
"""

from __future__ import annotations

import asyncio
import importlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

from promptrail.errors import OperationalError
from promptrail.hashing import content_hash

RETRYABLE = {408, 409, 429, 500, 502, 503, 504, 529}
DEFAULTS = {"openai": {"concurrency": 16}, "anthropic": {"concurrency": 8}}
SETTINGS = {"concurrency": 8, "timeout": 60.0, "max_attempts": 4, "backoff": 0.5,
            "max_backoff": 8.0}


@dataclass(frozen=True)
class ModelRequest:
    provider: str
    model: str
    messages: tuple[dict[str, str], ...]
    params: dict[str, Any] = field(default_factory=dict)
    sample: int = 0          # which of a case's repeats: repeats are separate samples

    def key(self) -> str:
        body: dict[str, Any] = {"provider": self.provider, "model": self.model,
                                "messages": list(self.messages), "params": self.params}
        if self.sample:
            body["sample"] = self.sample
        return content_hash(body)


@dataclass
class ModelResponse:
    text: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    latency_ms: float
    cost_usd: float | None
    price_source: str
    model: str
    cached: bool = False
    attempts: int = 1


class ProviderError(OperationalError):
    def __init__(self, message: str, kind: str = "provider") -> None:
        super().__init__(message, kind=kind)


class CacheMiss(OperationalError):
    def __init__(self, message: str) -> None:
        super().__init__(message, kind="cache-miss")


@dataclass
class Failure:
    """What a provider module reports about a failed call, without the SDK's types."""

    status: int | None            # HTTP status, None for connection errors and timeouts
    retry_after: float | None
    message: str


class ModelClient:
    def __init__(self, providers: dict[str, dict[str, Any]] | None = None,
                 cache: Any = None, mode: str = "read-write") -> None:
        if mode not in ("off", "read-write", "replay"):
            raise ValueError(f"unknown cache mode {mode!r}")
        self.settings = {name: {**SETTINGS, **DEFAULTS.get(name, {}), **(providers or {}).get(
            name, {})} for name in set(DEFAULTS) | set(providers or {})}
        self.cache = cache if mode != "off" else None
        self.mode = mode
        self._clients: dict[str, Any] = {}
        self._sems: dict[str, asyncio.Semaphore] = {}
        self.stats = {"calls": 0, "cache_hits": 0, "retries": 0, "failures": 0}

    def _module(self, provider: str) -> Any:
        try:
            return importlib.import_module(f"promptrail.providers.{provider}")
        except ModuleNotFoundError:
            raise ProviderError(f"unknown provider {provider!r}") from None

    def _settings(self, provider: str) -> dict[str, Any]:
        return self.settings.get(provider) or {**SETTINGS}

    async def complete(self, request: ModelRequest) -> ModelResponse:
        from promptrail.providers.pricing import price

        key = request.key()
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.stats["cache_hits"] += 1
                cost, source = price(request.provider, request.model, hit["input_tokens"],
                                     hit["output_tokens"], hit.get("cached_tokens", 0))
                return ModelResponse(hit["text"], hit["input_tokens"], hit["output_tokens"],
                                     hit.get("cached_tokens", 0), hit.get("latency_ms", 0.0),
                                     cost, source, hit.get("model", request.model), cached=True,
                                     attempts=0)
        if self.mode == "replay":
            raise CacheMiss(f"no recorded response for this {request.provider}/{request.model} "
                            f"request ({key[:19]}…) and the cache mode is replay")
        module = self._module(request.provider)
        settings = self._settings(request.provider)
        sem = self._sems.get(request.provider)
        if sem is None:
            sem = self._sems[request.provider] = asyncio.Semaphore(int(settings["concurrency"]))
        async with sem:
            text, usage, model, latency, attempts = await self._call(module, request, settings)
        cost, source = price(request.provider, request.model, usage["input_tokens"],
                             usage["output_tokens"], usage.get("cached_tokens", 0))
        response = ModelResponse(text, usage["input_tokens"], usage["output_tokens"],
                                 usage.get("cached_tokens", 0), latency, cost, source, model,
                                 attempts=attempts)
        if self.cache is not None:
            self.cache.put(key, request, response)
        return response

    async def _call(self, module: Any, request: ModelRequest,
                    settings: dict[str, Any]) -> tuple[str, dict[str, int], str, float, int]:
        client = self._clients.get(request.provider)
        if client is None:
            client = self._clients[request.provider] = module.make_client(settings)
        attempts_allowed = max(1, int(settings["max_attempts"]))
        delay = float(settings["backoff"])
        last: Failure | None = None
        for attempt in range(1, attempts_allowed + 1):
            self.stats["calls"] += 1
            started = time.perf_counter()
            try:
                text, usage, model = await module.call(client, request)
                return text, usage, model, (time.perf_counter() - started) * 1000, attempt
            except Exception as exc:  # noqa: BLE001 - classified by the provider module
                failure = module.classify(exc)
                if failure is None:
                    raise
                last = failure
            if last.status is not None and last.status not in RETRYABLE:
                break
            if attempt == attempts_allowed:
                break
            self.stats["retries"] += 1
            wait = random.uniform(0, min(delay, float(settings["max_backoff"])))
            if last.retry_after is not None:
                wait = min(max(wait, last.retry_after), float(settings["max_backoff"]))
            await asyncio.sleep(wait)
            delay *= 2
        self.stats["failures"] += 1
        assert last is not None
        what = f"HTTP {last.status}" if last.status is not None else "no answer"
        if last.status in (401, 403):
            raise ProviderError(f"authentication failed for {request.provider} ({what}): "
                                "check the API key")
        raise ProviderError(f"{request.provider} {request.model}: {what} after {attempt} "
                            f"attempt{'s' if attempt > 1 else ''}: {last.message}")

    async def aclose(self) -> None:
        for client in self._clients.values():
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        self._clients.clear()
