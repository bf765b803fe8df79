"""A third-party provider kind, installed in tests as a real distribution: ``echo-llm``.

It speaks OpenAI's chat-completions wire protocol over the standard library (no SDK), takes
its own settings (``endpoint``, ``token_env``) and refuses ``seed``.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from typing import Any

from promptrail.providers.base import Failure
from promptrail.providers.kinds import BaseSettings
from promptrail.providers.openai import payload as openai_payload

WIRE = "openai"


class Settings(BaseSettings):
    endpoint: str
    token_env: str = "ECHO_TOKEN"


def check(model: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    return [("seed", "echo-llm has no seed")] if "seed" in params else []


def payload(model: str, messages: Any, params: dict[str, Any]) -> dict[str, Any]:
    return openai_payload(model, messages, params)


def make_client(settings: dict[str, Any]) -> dict[str, Any]:
    return {"endpoint": settings["endpoint"], "token": os.environ.get(settings["token_env"], "")}


async def call(client: dict[str, Any], request: Any) -> tuple[str, dict[str, int], str]:
    body = json.dumps(payload(request.model, request.messages, request.params)).encode()

    def post() -> dict[str, Any]:
        req = urllib.request.Request(
            client["endpoint"] + "/chat/completions",
            data=body,
            headers={
                "content-type": "application/json",
                "authorization": f"Bearer {client['token']}",
            },
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    data = await asyncio.to_thread(post)
    usage = data["usage"]
    return (
        data["choices"][0]["message"]["content"] or "",
        {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
        data["model"],
    )


def classify(exc: Exception) -> Failure | None:
    if isinstance(exc, urllib.error.HTTPError):
        return Failure(exc.code, None, exc.reason or "", retryable=exc.code >= 500)
    return None
