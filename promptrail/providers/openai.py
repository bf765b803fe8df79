"""OpenAI chat completions through the official SDK (imported only when a client is made).

The SDK reads ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` itself, so any server that speaks the
wire protocol works. ``payload`` is what ``promptrail render`` shows; it imports nothing heavy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from promptrail.errors import UsageError
from promptrail.providers.base import Failure, ModelRequest

KEY_ENV = "OPENAI_API_KEY"


def payload(
    model: str, messages: Iterable[Mapping[str, str]], params: Mapping[str, Any]
) -> dict[str, Any]:
    """The chat.completions request body."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
    }
    body.update({k: v for k, v in params.items() if v is not None})
    return body


def make_client(settings: Mapping[str, Any]) -> Any:
    if not os.environ.get(KEY_ENV):
        raise UsageError(
            f"{KEY_ENV} is not set: live calls need a key; use --cache replay "
            "to run on recorded responses",
            kind="credentials",
        )
    import openai

    from promptrail import net

    timeout = float(settings.get("timeout", 60))
    return openai.AsyncOpenAI(max_retries=0, timeout=timeout, http_client=net.async_client(timeout))


async def call(client: Any, request: ModelRequest) -> tuple[str, dict[str, int], str]:
    # The SDK's own client and types, posting the body as built: chat.completions.create
    # would re-validate and transform every argument, ~0.8 ms of CPU per call, which is a
    # quarter of the eval stage's CPU when a suite runs thousands of cases.
    from openai.types.chat import ChatCompletion

    resp = await client.post(
        "/chat/completions",
        cast_to=ChatCompletion,
        body=payload(request.model, request.messages, request.params),
    )
    usage = resp.usage
    details = getattr(usage, "prompt_tokens_details", None)
    text = resp.choices[0].message.content if resp.choices else None
    return (
        text or "",
        {
            "input_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
            "output_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
            "cached_tokens": int(getattr(details, "cached_tokens", 0) or 0),
        },
        resp.model or request.model,
    )


def sdk_kwargs(method: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The body as keyword arguments of an SDK method: what it does not name (a newer API
    parameter, say) travels in ``extra_body`` instead of failing with a TypeError."""
    names = _parameters(getattr(method, "__func__", method))
    kwargs = {k: v for k, v in body.items() if k in names}
    extra = {k: v for k, v in body.items() if k not in names}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


@lru_cache(maxsize=16)
def _parameters(func: Any) -> frozenset[str]:
    import inspect

    return frozenset(inspect.signature(func).parameters) - {
        "extra_body",
        "extra_headers",
        "extra_query",
        "timeout",
    }


def classify(exc: Exception) -> Failure | None:
    import openai

    return classify_sdk(exc, openai)


def classify_sdk(exc: Exception, sdk: Any) -> Failure | None:
    """Shared by both SDKs: they are generated from the same template."""
    if isinstance(exc, sdk.APIStatusError):
        return Failure(exc.status_code, retry_after(exc.response.headers), error_message(exc))
    if isinstance(exc, sdk.APIConnectionError):  # APITimeoutError is one of these
        return Failure(None, None, type(exc).__name__)
    if isinstance(exc, sdk.APIError):  # e.g. a response that does not parse
        return Failure(None, None, f"{type(exc).__name__}: {exc}", retryable=False)
    return None


def retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds; HTTP dates ignored)."""
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None


def error_message(exc: Exception) -> str:
    """The API's own error message, short; keys are scrubbed by the caller."""
    body = getattr(exc, "body", None)
    msg: Any = None
    if isinstance(body, dict):
        err = body.get("error")
        msg = err.get("message") if isinstance(err, dict) else body.get("message")
    return str(msg or getattr(exc, "message", "") or type(exc).__name__)[:300]
