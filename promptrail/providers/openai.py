"""OpenAI chat completions through the official SDK (imported only when a client is made).

The SDK reads ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` itself, so any server that speaks the
wire protocol works. ``payload`` is what ``promptrail render`` shows; it imports nothing heavy.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from promptrail.errors import UsageError
from promptrail.providers.base import Failure, ModelRequest
from promptrail.providers.kinds import BaseSettings

KEY_ENV = "OPENAI_API_KEY"
WIRE = "openai"
REASONING = re.compile(r"^(o\d|gpt-5)")  # reasoning models: o1, o3, o4-mini, gpt-5...
# settings every chat model takes; reasoning models take the second set instead
TAKES = frozenset(
    {
        "temperature",
        "max_tokens",
        "top_p",
        "stop",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "parallel_tool_calls",
    }
)
REASONING_TAKES = frozenset(
    {"max_tokens", "stop", "seed", "reasoning_effort", "parallel_tool_calls"}
)
NEUTRAL = frozenset({"tools", "tool_choice", "output_schema"})


class Settings(BaseSettings):
    """An OpenAI instance: the API (or a server speaking it) and the key's variable."""

    base_url: str | None = None  # default: OPENAI_BASE_URL, then api.openai.com
    api_key_env: str = KEY_ENV
    organization: str | None = None


def is_reasoning(model: str) -> bool:
    return bool(REASONING.match(model))


def check(model: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The settings this model cannot take, with why."""
    reasoning = is_reasoning(model)
    takes = REASONING_TAKES if reasoning else TAKES
    out = []
    for key in params:
        if key in NEUTRAL or key in takes:
            continue
        if key in TAKES | REASONING_TAKES:
            why = (
                f"{model} is a reasoning model: the API rejects {key}"
                if reasoning
                else f"{model} is not a reasoning model: the API rejects {key}"
            )
        else:
            why = f"the OpenAI chat API has no {key}"
        out.append((key, why))
    return out


def tool_call_wire(call: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": call["id"],
        "type": "function",
        "function": {
            "name": call["name"],
            "arguments": json.dumps(call.get("arguments") or {}, ensure_ascii=False),
        },
    }


def message_wire(m: Mapping[str, Any]) -> dict[str, Any]:
    if m["role"] == "tool":
        return {"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]}
    out: dict[str, Any] = {"role": m["role"], "content": m["content"]}
    if m.get("tool_calls"):
        out["tool_calls"] = [tool_call_wire(c) for c in m["tool_calls"]]
        out["content"] = m["content"] or None
    return out


def tool_choice_wire(choice: Any) -> Any:
    if isinstance(choice, Mapping):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def response_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    return {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": body, "strict": True},
    }


def payload(
    model: str, messages: Iterable[Mapping[str, Any]], params: Mapping[str, Any]
) -> dict[str, Any]:
    """The chat.completions request body."""
    body: dict[str, Any] = {"model": model, "messages": [message_wire(m) for m in messages]}
    reasoning = is_reasoning(model)
    for key, value in params.items():
        if value is None:
            continue
        if key == "tools":
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t["name"],
                        "description": t.get("description", ""),
                        "parameters": t.get("parameters") or {"type": "object", "properties": {}},
                    },
                }
                for t in value
            ]
        elif key == "tool_choice":
            body["tool_choice"] = tool_choice_wire(value)
        elif key == "output_schema":
            body["response_format"] = response_format(value)
        elif key == "max_tokens" and reasoning:
            body["max_completion_tokens"] = value  # reasoning models reject max_tokens
        else:
            body[key] = value
    return body


def make_client(settings: Mapping[str, Any]) -> Any:
    env = str(settings.get("api_key_env") or KEY_ENV)
    if not os.environ.get(env):
        raise UsageError(
            f"{env} is not set: live calls need a key; use --cache replay "
            "to run on recorded responses",
            kind="credentials",
        )
    import openai

    from promptrail import net

    timeout = float(settings.get("timeout", 60))
    return openai.AsyncOpenAI(
        api_key=os.environ[env],
        base_url=settings.get("base_url") or None,
        organization=settings.get("organization") or None,
        max_retries=0,
        timeout=timeout,
        http_client=net.async_client(timeout, flavor=net.sdk_flavor("openai._base_client")),
    )


async def call(
    client: Any, request: ModelRequest
) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    # The SDK's own client, HTTP stack and errors, but neither of its per-call model layers:
    # chat.completions.create would re-validate and transform every argument (~0.8 ms of CPU
    # per call) and a ChatCompletion model would be built from the answer (~0.4 ms), a third
    # of the eval stage's CPU when a suite runs thousands of cases. The body is posted as
    # built and the answer read as the JSON the API documents.
    data = await client.post(
        "/chat/completions",
        cast_to=object,  # the SDK's JSON, as is
        body=payload(request.model, request.messages, request.params),
    )
    if not isinstance(data, dict):
        import openai

        why = f"the chat completion is not a JSON object: {str(data)[:200]!r}"
        raise openai.APIError(why, None, body=data)  # type: ignore[arg-type]
    return parse_completion(data, request.model)


def parse_completion(
    data: Mapping[str, Any], model: str
) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """(text, usage, model, extra) of a chat completion's JSON; extra holds ``tool_calls``."""
    usage = data.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    choices = data.get("choices") or []
    message = (choices[0] or {}).get("message") if choices else None
    message = message if isinstance(message, dict) else {}
    text = message.get("content")
    calls = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            continue
        try:
            args: Any = json.loads(fn.get("arguments") or "{}")
        except (TypeError, ValueError):
            args = fn.get("arguments")  # kept as sent: the tool-call assertion reports it
        calls.append({"id": call.get("id"), "name": fn.get("name"), "arguments": args})
    return (
        text if isinstance(text, str) else "",
        {  # None when the answer has no usage: checked (never priced as free) by the client
            "input_tokens": usage.get("prompt_tokens"),
            "output_tokens": usage.get("completion_tokens"),
            "cached_tokens": details.get("cached_tokens", 0) or 0,
        },
        data.get("model") or model,
        {"tool_calls": calls} if calls else {},
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
