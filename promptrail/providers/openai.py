"""OpenAI chat completions through the official SDK (imported only when a call is made).

The SDK reads ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` itself, so any server that speaks the
wire protocol works.
"""

from __future__ import annotations

import os
from typing import Any

from promptrail.errors import UsageError
from promptrail.providers.base import Failure, ModelRequest


def payload(model: str, messages: list[dict[str, str]] | tuple[dict[str, str], ...],
            params: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model,
                            "messages": [{"role": m["role"], "content": m["content"]}
                                         for m in messages]}
    body.update({k: v for k, v in params.items() if v is not None})
    return body


def make_client(settings: dict[str, Any]) -> Any:
    if not os.environ.get("OPENAI_API_KEY"):
        raise UsageError("OPENAI_API_KEY is not set: live calls need a key; use --cache replay "
                         "to run on recorded responses", kind="credentials")
    import openai

    return openai.AsyncOpenAI(max_retries=0, timeout=float(settings.get("timeout", 60)))


async def call(client: Any, request: ModelRequest) -> tuple[str, dict[str, int], str]:
    resp = await client.chat.completions.create(
        **payload(request.model, request.messages, request.params))
    usage = resp.usage
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    return (resp.choices[0].message.content or "", {
        "input_tokens": usage.prompt_tokens if usage else 0,
        "output_tokens": usage.completion_tokens if usage else 0,
        "cached_tokens": (getattr(details, "cached_tokens", 0) or 0) if details else 0,
    }, resp.model or request.model)


def classify(exc: Exception) -> Failure | None:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return Failure(exc.status_code, _retry_after(exc.response.headers),
                       _safe_message(exc))
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return Failure(None, None, type(exc).__name__)
    return None


def _retry_after(headers: Any) -> float | None:
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None


def _safe_message(exc: Exception) -> str:
    from promptrail.secrets import redact

    body = getattr(exc, "body", None)
    msg = body.get("message") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        msg = body["error"].get("message")
    return str(redact(str(msg or getattr(exc, "message", "") or type(exc).__name__)))[:300]
