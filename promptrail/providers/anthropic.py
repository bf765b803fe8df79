"""Anthropic messages through the official SDK (imported only when a call is made).

System messages go to the top-level ``system`` field; ``max_tokens`` is required by the API.
The SDK reads ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` itself.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from promptrail.errors import UsageError
from promptrail.providers.base import Failure, ModelRequest
from promptrail.providers.openai import _retry_after, _safe_message

DEFAULT_MAX_TOKENS = 1024


def payload(model: str, messages: list[dict[str, str]] | tuple[dict[str, str], ...],
            params: dict[str, Any]) -> dict[str, Any]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    body: dict[str, Any] = {"model": model, "max_tokens": DEFAULT_MAX_TOKENS}
    if system:
        body["system"] = system
    body["messages"] = [{"role": m["role"], "content": m["content"]} for m in messages
                        if m["role"] != "system"]
    for key, value in params.items():
        if value is None:
            continue
        body["stop_sequences" if key == "stop" else key] = value
    return body


def make_client(settings: dict[str, Any]) -> Any:
    if not os.environ.get("ANTHROPIC_API_KEY"):
        raise UsageError("ANTHROPIC_API_KEY is not set: live calls need a key; use --cache "
                         "replay to run on recorded responses", kind="credentials")
    import anthropic

    return anthropic.AsyncAnthropic(max_retries=0, timeout=float(settings.get("timeout", 60)))


@lru_cache(maxsize=1)
def _sdk_params() -> frozenset[str]:
    import inspect

    import anthropic

    return frozenset(inspect.signature(anthropic.resources.messages.AsyncMessages.create)
                     .parameters)


async def call(client: Any, request: ModelRequest) -> tuple[str, dict[str, int], str]:
    body = payload(request.model, request.messages, request.params)
    # SDK 2.x no longer names sampling parameters such as temperature; the wire protocol
    # still takes them, so whatever the SDK does not name travels in extra_body
    known = _sdk_params()
    extra = {k: body.pop(k) for k in list(body) if k not in known}
    resp = await client.messages.create(**body, **({"extra_body": extra} if extra else {}))
    text = "".join(getattr(block, "text", "") for block in resp.content)
    u = resp.usage
    return text, {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cached_tokens": getattr(u, "cache_read_input_tokens", 0) or 0,
    }, resp.model or request.model


def classify(exc: Exception) -> Failure | None:
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        return Failure(exc.status_code, _retry_after(exc.response.headers),
                       _safe_message(exc))
    if isinstance(exc, (anthropic.APITimeoutError, anthropic.APIConnectionError)):
        return Failure(None, None, type(exc).__name__)
    return None
