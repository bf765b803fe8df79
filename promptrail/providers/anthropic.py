"""Anthropic messages through the official SDK (imported only when a client is made).

System messages go to the top-level ``system`` string; ``max_tokens`` is required by the API
(1024 when the prompt does not say); ``stop`` becomes ``stop_sequences``; tools become
``{name, description, input_schema}``; ``tool_choice`` maps to ``auto | none | any | tool``;
tool results travel in user turns as ``tool_result`` blocks; structured output is
``output_config.format`` (``json_schema``), reasoning effort ``output_config.effort`` and a
thinking budget ``thinking: {type: enabled, budget_tokens}``.

API version 2026-10-21, which SDK 2.x sends, rejects ``temperature``, ``top_p`` and
``top_k`` at any value (the SDK no longer takes them): a prompt setting one for Anthropic is a
lint error (``check``), never silently dropped. A prompt version recorded before that check
(read from git history) still builds, without them. The SDK reads ``ANTHROPIC_API_KEY`` and
``ANTHROPIC_BASE_URL`` itself (the base URL without ``/v1``); an instance may name its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from promptrail.errors import UsageError
from promptrail.providers.base import Failure, ModelRequest
from promptrail.providers.kinds import BaseSettings
from promptrail.providers.openai import classify_sdk, sdk_kwargs

KEY_ENV = "ANTHROPIC_API_KEY"
WIRE = "anthropic"
DEFAULT_MAX_TOKENS = 1024
DROPPED = frozenset({"temperature", "top_p", "top_k"})
TAKES = frozenset({"max_tokens", "stop", "reasoning_effort", "thinking_budget"})
NEUTRAL = frozenset({"tools", "tool_choice", "output_schema"})
EFFORTS = ("low", "medium", "high", "xhigh", "max")
CHOICES = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}


class Settings(BaseSettings):
    """An Anthropic instance: the API (or a server speaking it) and the key's variable."""

    base_url: str | None = None  # default: ANTHROPIC_BASE_URL, then api.anthropic.com
    api_key_env: str = KEY_ENV


def check(model: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for key, value in params.items():
        if key in NEUTRAL:
            continue
        if key in DROPPED:
            out.append((key, f"the Anthropic API (2026-10-21) rejects {key} at any value"))
        elif key not in TAKES:
            out.append((key, f"the Anthropic messages API has no {key}"))
        elif key == "reasoning_effort" and value not in EFFORTS:
            out.append((key, f"Anthropic takes effort {', '.join(EFFORTS)}, not {value!r}"))
    budget = params.get("thinking_budget")
    if budget is not None and budget >= int(params.get("max_tokens") or DEFAULT_MAX_TOKENS):
        out.append(("thinking_budget", "the thinking budget must be below max_tokens"))
    return out


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if content else []


def messages_wire(messages: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """User/assistant turns; tool results become tool_result blocks of a user turn, merged
    with the user turn around them so the turns alternate as the API requires."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m["role"]
        if role == "system":
            continue
        if role == "tool":
            role = "user"
            content: Any = [
                {"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": m["content"]}
            ]
        elif m.get("tool_calls"):
            content = _blocks(m["content"]) + [
                {"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["arguments"]}
                for c in m["tool_calls"]
            ]
        else:
            content = m["content"]
        if (
            out
            and out[-1]["role"] == role == "user"
            and (m["role"] == "tool" or isinstance(out[-1]["content"], list))
        ):
            out[-1]["content"] = _blocks(out[-1]["content"]) + _blocks(content)
            continue
        out.append({"role": role, "content": content})
    return out


def payload(
    model: str, messages: Iterable[Mapping[str, Any]], params: Mapping[str, Any]
) -> dict[str, Any]:
    """The messages.create request body."""
    messages = list(messages)
    body: dict[str, Any] = {"model": model, "max_tokens": DEFAULT_MAX_TOKENS}
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    if system:
        body["system"] = system
    body["messages"] = messages_wire(messages)
    output: dict[str, Any] = {}
    for key, value in params.items():
        if value is None or key in DROPPED:
            continue
        if key == "stop":  # OpenAI's name; a string or a list there
            body["stop_sequences"] = [value] if isinstance(value, str) else list(value)
        elif key == "tools":
            body["tools"] = [
                {
                    "name": t["name"],
                    "description": t.get("description", ""),
                    "input_schema": t.get("parameters") or {"type": "object", "properties": {}},
                }
                for t in value
            ]
        elif key == "tool_choice":
            body["tool_choice"] = (
                {"type": "tool", "name": value["name"]}
                if isinstance(value, Mapping)
                else CHOICES[value]
            )
        elif key == "output_schema":
            schema = {k: v for k, v in value.items() if k not in ("$schema", "$id")}
            output["format"] = {"type": "json_schema", "schema": schema}
        elif key == "reasoning_effort":
            output["effort"] = value
        elif key == "thinking_budget":
            body["thinking"] = {"type": "enabled", "budget_tokens": value}
        elif key == "parallel_tool_calls":
            continue  # check() reports it; kept out of the wire for old versions
        else:
            body[key] = value
    if output:
        body["output_config"] = output
    return body


def make_client(settings: Mapping[str, Any]) -> Any:
    env = str(settings.get("api_key_env") or KEY_ENV)
    if not (os.environ.get(env) or (env == KEY_ENV and os.environ.get("ANTHROPIC_AUTH_TOKEN"))):
        raise UsageError(
            f"{env} is not set: live calls need a key; use --cache replay "
            "to run on recorded responses",
            kind="credentials",
        )
    import anthropic

    from promptrail import net

    timeout = float(settings.get("timeout", 60))
    return anthropic.AsyncAnthropic(
        api_key=os.environ.get(env) or None,
        base_url=settings.get("base_url") or None,
        max_retries=0,
        timeout=timeout,
        http_client=net.async_client(timeout, flavor=_http_flavor()),
    )


async def call(
    client: Any, request: ModelRequest
) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    create = client.messages.create
    resp = await create(
        **sdk_kwargs(create, payload(request.model, request.messages, request.params))
    )
    return parse_message(resp, request.model)


def parse_message(resp: Any, model: str) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """(text, usage, model, extra) of a message; extra holds ``tool_calls``."""
    text = "".join(
        getattr(block, "text", "") or ""
        for block in resp.content
        if getattr(block, "type", "") == "text"
    )
    calls = [
        {"id": block.id, "name": block.name, "arguments": block.input}
        for block in resp.content
        if getattr(block, "type", "") == "tool_use"
    ]
    u = resp.usage
    read = int(getattr(u, "cache_read_input_tokens", 0) or 0)
    write = int(getattr(u, "cache_creation_input_tokens", 0) or 0)
    given = getattr(u, "input_tokens", None)
    # Anthropic counts cache reads and writes apart from input_tokens; promptrail (like
    # genai-prices and OpenAI) counts all input, cached_tokens being part of it.
    return (
        text,
        {  # None when the answer has no usage: checked (never priced as free) by the client
            "input_tokens": given + read + write if isinstance(given, int) else given,
            "output_tokens": getattr(u, "output_tokens", None),
            "cached_tokens": read,
        },
        resp.model or model,
        {"tool_calls": calls} if calls else {},
    )


def classify(exc: Exception) -> Failure | None:
    import anthropic

    return classify_sdk(exc, anthropic)


def _http_flavor() -> str:
    """The httpx the installed SDK takes: anthropic 2.x moved to the httpx2 fork."""
    from promptrail import net

    return net.sdk_flavor("anthropic._base_client")
