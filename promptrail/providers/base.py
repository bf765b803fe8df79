"""The provider layer: requests, responses, and the one retry policy.

``ModelClient.complete`` is the only way promptrail calls a model. It answers from the cache
when it can (``replay`` answers only from it), limits concurrency per provider, and retries
transient failures (408, 409, 429, 5xx, timeouts, dropped connections) with exponential
backoff and full jitter, honouring ``retry-after``. Each attempt has a total deadline
(``timeout``) and a response size cap (``promptrail.net``, ``limits.provider_response_bytes``). The SDKs' own retries are off, so every
attempt is counted here. An API key never appears in an error, the cache or the store.

A provider kind is a module with ``payload(model, messages, params)``, ``make_client(settings)``,
``async call(client, request) -> (text, usage, model[, {"tool_calls": [...]}])``,
``classify(exc) -> Failure | None``, and optionally ``Settings`` (its promptrail.yaml keys) and
``check(model, params)`` (the settings it cannot take). Kinds, built-in ones included, register
under the ``promptrail.providers`` entry-point group; requests name a provider *instance*
(``promptrail.providers.kinds``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from promptrail.errors import OperationalError, UsageError
from promptrail.hashing import content_hash

if TYPE_CHECKING:
    from promptrail.providers.cache import LayeredCache, ResponseCache

DEFAULTS: dict[str, dict[str, Any]] = {
    "openai": {"concurrency": 16},
    "anthropic": {"concurrency": 8},
}
SETTINGS: dict[str, Any] = {
    "concurrency": 8,
    "timeout": 60.0,
    "max_attempts": 4,
    "backoff": 0.5,
    "max_backoff": 8.0,
}
MODES = ("off", "read-write", "replay")
# Environment variables whose values are scrubbed from every error message.
KEY_ENVS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


# The round trip of the HTTP request a call is making: the client's event hooks stamp the
# moment the request goes out and the moment the response headers arrive into the list this
# holds (set per call, so per asyncio task). Latency is that, not the SDK's request building,
# response parsing, or whatever else the event loop was doing meanwhile.
_ROUND_TRIP: ContextVar[list[float] | None] = ContextVar("promptrail_round_trip", default=None)


async def _request_sent(request: Any) -> None:
    stamps = _ROUND_TRIP.get()
    if stamps is not None:
        stamps[:] = [time.perf_counter()]


async def _response_received(response: Any) -> None:
    stamps = _ROUND_TRIP.get()
    if stamps:
        stamps.append(time.perf_counter())


def time_round_trips(client: Any) -> None:
    """Hook the round-trip timer into an SDK client's HTTP client (both official SDKs keep an
    httpx-style client, with ``event_hooks``, in ``_client``); a client without one is timed
    around the whole call instead."""
    http: Any = getattr(client, "_client", None)
    hooks = getattr(http, "event_hooks", None)
    if not isinstance(hooks, dict) or not {"request", "response"} <= set(hooks):
        return
    if _request_sent not in hooks["request"]:
        hooks["request"].append(_request_sent)
        hooks["response"].append(_response_received)
        http.event_hooks = hooks


@functools.cache
def _warm_http_stack() -> None:
    """Load what the SDKs' HTTP stack (httpx over anyio) loads on its first request: the async
    backend, its socket layer and resolver threads, ~0.1-0.4 s that would otherwise be inside
    the first calls' round trips."""
    try:
        import anyio

        anyio.run(anyio.getaddrinfo, "localhost", 80)
    except Exception:  # noqa: BLE001 - only a warm-up; the first call will say what is wrong
        pass


@dataclass(frozen=True)
class ModelRequest:
    provider: str
    model: str
    messages: tuple[dict[str, str], ...]
    params: dict[str, Any] = field(default_factory=dict)
    sample: int = 0  # which of a case's repeats: repeats are separate samples

    def key(self) -> str:
        body: dict[str, Any] = {
            "provider": self.provider,
            "model": self.model,
            "messages": list(self.messages),
            "params": self.params,
        }
        if self.sample:
            body["sample"] = self.sample
        return content_hash(body)


@dataclass
class ModelResponse:
    text: str
    input_tokens: int  # all input tokens, cached ones included (as genai-prices counts)
    output_tokens: int
    cached_tokens: int
    latency_ms: float
    cost_usd: float | None
    price_source: str
    model: str
    cached: bool = False
    attempts: int = 1  # HTTP attempts made; 0 when served from the cache
    tool_calls: list[dict[str, Any]] | None = None  # [{id, name, arguments}] when it called


class ProviderError(OperationalError):
    """A provider call failed for good: retries spent, or an error not worth retrying."""

    def __init__(
        self,
        message: str,
        kind: str = "provider",
        *,
        provider: str | None = None,
        status: int | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message, kind=kind)
        self.provider, self.status, self.attempts = provider, status, attempts


class BadUsage(OperationalError):
    """The provider's (or a recording's) token usage is missing or impossible: the call
    cannot be priced, so its case is an error, never a free pass of the cost gate."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="bad-usage")


def usage_problem(usage: Any) -> str | None:
    """What is wrong with a usage record, or None: every count an integer >= 0, cached
    tokens no more than input tokens."""
    if not isinstance(usage, dict) or (
        usage.get("input_tokens") is None and usage.get("output_tokens") is None
    ):
        return "the response has no usage"
    for key in ("input_tokens", "output_tokens", "cached_tokens"):
        value = usage.get(key, 0 if key == "cached_tokens" else None)
        if value is None:
            return f"the response's usage has no {key}"
        if isinstance(value, bool) or not isinstance(value, int):
            return f"the response's usage {key} is not a whole number: {value!r}"
        if value < 0:
            return f"the response's usage {key} is negative: {value}"
    if usage.get("cached_tokens", 0) > usage["input_tokens"]:
        return "the response's usage counts more cached tokens than input tokens"
    return None


class CacheMiss(OperationalError):
    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message, kind="cache-miss")
        self.key = key


@dataclass
class Failure:
    """What a provider module reports about a failed call, without the SDK's types."""

    status: int | None  # HTTP status; None for connection errors and timeouts
    retry_after: float | None  # seconds, from retry-after-ms / retry-after
    message: str
    retryable: bool | None = None  # None: decide from the status

    def __post_init__(self) -> None:
        if self.retryable is None:
            s = self.status
            self.retryable = s is None or s in (408, 409, 429) or s >= 500


def scrub(text: str, extra: tuple[str, ...] = ()) -> str:
    """The text without any API key in use (by value) or anything shaped like one."""
    from promptrail.secrets import REDACTED, redact

    for secret in (*(os.environ.get(k, "") for k in KEY_ENVS), *extra):
        if secret and len(secret) >= 8:
            text = text.replace(secret, REDACTED)
    return str(redact(text))


def backoff_delay(attempt: int, settings: dict[str, Any], retry_after: float | None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    cap = float(settings["max_backoff"])
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, cap)
    return random.uniform(0, min(cap, float(settings["backoff"]) * 2 ** (attempt - 1)))


def provider_module(name: str, configured: dict[str, dict[str, Any]] | None = None) -> ModuleType:
    """The module of the provider instance ``name`` (its kind's, through the entry points)."""
    from promptrail.providers.kinds import instance_kind, kind_module

    return kind_module(instance_kind(name, configured))


class ModelClient:
    def __init__(
        self,
        providers: dict[str, dict[str, Any]] | None = None,
        cache: ResponseCache | LayeredCache | None = None,
        mode: str = "read-write",
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"unknown cache mode {mode!r} (use one of: {', '.join(MODES)})")
        if mode == "replay" and cache is None:
            raise UsageError("cache mode replay needs a response cache")
        from promptrail.providers.kinds import BUILTIN_INSTANCES, instance_kind, instance_settings

        self.configured = {k: (v or {}) for k, v in (providers or {}).items()}
        self.settings: dict[str, dict[str, Any]] = {}
        for name in sorted(set(BUILTIN_INSTANCES) | set(self.configured)):
            kind = instance_kind(name, self.configured)
            self.settings[name] = instance_settings(
                name, self.configured.get(name), defaults={**SETTINGS, **DEFAULTS.get(kind, {})}
            )
        self.cache = cache if mode != "off" else None
        self.mode = mode
        self._clients: dict[str, Any] = {}
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._warm_lock = threading.Lock()
        self.part: tuple[int, int] | None = None  # (this process, of how many): see workers
        # calls: HTTP attempts sent; retries: attempts after a failed one; failures: requests
        # that ended in ProviderError; cache_hits: requests answered from the cache.
        self.stats: dict[str, int] = {"calls": 0, "cache_hits": 0, "retries": 0, "failures": 0}

    def limit(self, provider: str) -> int:
        """The configured concurrency limit for ``provider`` (all processes together)."""
        return int(self._settings(provider)["concurrency"])

    def concurrency(self, provider: str) -> int:
        """Calls this client may have in flight to ``provider``: the configured limit, or
        this process's share of it when a run is split across processes (``part``)."""
        limit = self.limit(provider)
        if self.part is None:
            return limit
        from promptrail.workers import share

        return max(1, share(limit, *self.part))

    def _settings(self, provider: str) -> dict[str, Any]:
        s = self.settings.get(provider)
        if s is None:  # a third-party kind named as its own instance
            s = self.settings[provider] = {**SETTINGS}
        return s

    def warm(self, provider: str, model: str) -> None:
        """Do a provider's one-off work now, off the event loop: import its SDK, make its
        client, load the price table. Done lazily on the loop, it would land inside the
        round trips of the first calls in flight. Without a key nothing is made yet: a run
        answered from the cache needs none."""
        from promptrail.providers.pricing import price_for

        price_for(provider, self.settings.get(provider) or {"kind": provider}, model, 0, 0)
        if self.mode == "replay" or provider in self._clients:
            return
        module = provider_module(provider, self.configured)
        with self._warm_lock:
            if provider in self._clients:
                return
            try:
                client = module.make_client(self._settings(provider))
            except UsageError:
                return  # no key: the first live call says so
            time_round_trips(client)
            self._clients[provider] = client
        _warm_http_stack()

    def _price(self, request: ModelRequest, usage: dict[str, Any]) -> tuple[float | None, str]:
        from promptrail.providers.pricing import price_for

        return price_for(
            request.provider,
            self.settings.get(request.provider) or {"kind": request.provider},
            request.model,
            int(usage["input_tokens"]),
            int(usage["output_tokens"]),
            int(usage.get("cached_tokens", 0) or 0),
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        key = request.key() if self.cache is not None else ""  # no cache: no hashing
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.stats["cache_hits"] += 1
                problem = usage_problem(hit)
                if problem is not None:
                    raise BadUsage(
                        f"{request.provider}/{request.model}: recorded response {key}: {problem}"
                    )
                cached_tokens = int(hit.get("cached_tokens", 0))
                cost, source = self._price(request, hit)
                return ModelResponse(
                    hit["text"],
                    hit["input_tokens"],
                    hit["output_tokens"],
                    cached_tokens,
                    float(hit.get("latency_ms", 0.0)),
                    cost,
                    source,
                    hit.get("model") or request.model,
                    cached=True,
                    attempts=0,
                    tool_calls=hit.get("tool_calls"),
                )
        if self.mode == "replay":
            raise CacheMiss(
                f"no recorded response for {request.provider}/{request.model} "
                f"request {key} and the cache mode is replay: record it with "
                "--cache read-write",
                key,
            )
        module = provider_module(request.provider, self.configured)
        settings = self._settings(request.provider)
        sem = self._sems.get(request.provider)
        if sem is None:
            sem = self._sems[request.provider] = asyncio.Semaphore(
                self.concurrency(request.provider)
            )
        async with sem:
            text, usage, model, latency, attempts, extra = await self._call(
                module, request, settings
            )
        problem = usage_problem(usage)
        if problem is not None:  # not cached: the next run asks again
            raise BadUsage(f"{request.provider}/{request.model}: {problem}")
        cached_tokens = int(usage.get("cached_tokens", 0))
        cost, source = self._price(request, usage)
        response = ModelResponse(
            text,
            usage["input_tokens"],
            usage["output_tokens"],
            cached_tokens,
            latency,
            cost,
            source,
            model,
            attempts=attempts,
            tool_calls=extra.get("tool_calls") or None,
        )
        if self.cache is not None:
            self.cache.put(key, request, response)
        return response

    async def _call(
        self, module: ModuleType, request: ModelRequest, settings: dict[str, Any]
    ) -> tuple[str, dict[str, Any], str, float, int, dict[str, Any]]:
        client = self._clients.get(request.provider)
        if client is None:
            client = self._clients[request.provider] = module.make_client(settings)
            time_round_trips(client)
        allowed = max(1, int(settings["max_attempts"]))
        attempt = 0
        while True:
            attempt += 1
            self.stats["calls"] += 1
            stamps: list[float] = []
            token = _ROUND_TRIP.set(stamps)
            started = time.perf_counter()
            deadline = float(settings["timeout"])
            try:
                # a total deadline per attempt: the SDK's timeout is per read, so a server
                # dribbling a byte at a time would never time out on it alone
                got = await asyncio.wait_for(module.call(client, request), deadline)
                ended = time.perf_counter()
                if len(stamps) == 2:
                    started, ended = stamps
                text, usage, model = got[:3]  # a kind may add a 4th: {"tool_calls": [...]}
                extra = got[3] if len(got) > 3 and isinstance(got[3], dict) else {}
                return text, usage, model, (ended - started) * 1000, attempt, extra
            except TimeoutError:
                failure = Failure(None, None, f"no complete response within {deadline:g}s")
            except Exception as exc:  # noqa: BLE001 - the provider module classifies it
                from promptrail.net import refusal

                refused = refusal(exc)  # over the size cap, a metadata address: not retried
                failure = (
                    Failure(None, None, refused, retryable=False)
                    if refused
                    else module.classify(exc)
                )
                if failure is None:
                    raise
            finally:
                _ROUND_TRIP.reset(token)
            if not failure.retryable or attempt >= allowed:
                self.stats["failures"] += 1
                raise self._error(request, failure, attempt, client) from None
            self.stats["retries"] += 1
            await asyncio.sleep(backoff_delay(attempt, settings, failure.retry_after))

    def _error(
        self, request: ModelRequest, failure: Failure, attempts: int, client: Any
    ) -> ProviderError:
        what = f"HTTP {failure.status}" if failure.status is not None else "no response"
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        keys = tuple(
            str(v)
            for v in (getattr(client, "api_key", None), getattr(client, "auth_token", None))
            if v
        )
        detail = scrub(failure.message, keys)
        if failure.status in (401, 403):
            env = (self.settings.get(request.provider) or {}).get("api_key_env") or getattr(
                provider_module(request.provider, self.configured), "KEY_ENV", "the API key"
            )
            msg = (
                f"authentication failed for {request.provider} ({what}) after {tries}: "
                f"check {env}: {detail}"
            )
        else:
            msg = f"{request.provider} {request.model}: {what} after {tries}: {detail}"
        return ProviderError(
            msg, provider=request.provider, status=failure.status, attempts=attempts
        )

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
