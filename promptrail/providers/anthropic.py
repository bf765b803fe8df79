"""Anthropic messages through the official SDK (imported only when a client is made).

System messages go to the top-level ``system`` string; ``max_tokens`` is required by the API
(1024 when the prompt does not say); OpenAI's ``stop`` becomes ``stop_sequences``. The
sampling parameters ``temperature``, ``top_p`` and ``top_k`` are left out: API version
2026-10-21, which SDK 2.x sends, rejects them with HTTP 400 at any value, and the SDK no
longer takes them. ``render`` shows the body without them. The SDK reads
``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` itself (the base URL without ``/v1``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from promptrail.errors import UsageError
from promptrail.providers.base import Failure, ModelRequest
from promptrail.providers.openai import classify_sdk, sdk_kwargs

KEY_ENV = "ANTHROPIC_API_KEY"
DEFAULT_MAX_TOKENS = 1024
DROPPED = frozenset({"temperature", "top_p", "top_k"})


def payload(
    model: str, messages: Iterable[Mapping[str, str]], params: Mapping[str, Any]
) -> dict[str, Any]:
    """The messages.create request body."""
    messages = list(messages)
    body: dict[str, Any] = {"model": model, "max_tokens": DEFAULT_MAX_TOKENS}
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    if system:
        body["system"] = system
    body["messages"] = [
        {"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"
    ]
    for key, value in params.items():
        if value is None or key in DROPPED:
            continue
        if key == "stop":  # OpenAI's name; a string or a list there
            body["stop_sequences"] = [value] if isinstance(value, str) else list(value)
        else:
            body[key] = value
    return body


def make_client(settings: Mapping[str, Any]) -> Any:
    if not (os.environ.get(KEY_ENV) or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
        raise UsageError(
            f"{KEY_ENV} is not set: live calls need a key; use --cache replay "
            "to run on recorded responses",
            kind="credentials",
        )
    import anthropic

    from promptrail import net

    timeout = float(settings.get("timeout", 60))
    return anthropic.AsyncAnthropic(
        max_retries=0, timeout=timeout, http_client=net.async_client(timeout, flavor=_http_flavor())
    )


async def call(client: Any, request: ModelRequest) -> tuple[str, dict[str, int], str]:
    create = client.messages.create
    resp = await create(
        **sdk_kwargs(create, payload(request.model, request.messages, request.params))
    )
    text = "".join(
        getattr(block, "text", "") or ""
        for block in resp.content
        if getattr(block, "type", "") == "text"
    )
    u = resp.usage
    read = int(getattr(u, "cache_read_input_tokens", 0) or 0)
    write = int(getattr(u, "cache_creation_input_tokens", 0) or 0)
    # Anthropic counts cache reads and writes apart from input_tokens; promptrail (like
    # genai-prices and OpenAI) counts all input, cached_tokens being part of it.
    return (
        text,
        {
            "input_tokens": int(u.input_tokens) + read + write,
            "output_tokens": int(u.output_tokens),
            "cached_tokens": read,
        },
        resp.model or request.model,
    )


def classify(exc: Exception) -> Failure | None:
    import anthropic

    return classify_sdk(exc, anthropic)


def _http_flavor() -> str:
    """The httpx the installed SDK takes: anthropic 2.x moved to the httpx2 fork."""
    import anthropic._base_client as base

    return "httpx2" if hasattr(base, "httpx2") else "httpx"
