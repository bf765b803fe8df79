"""Kind ``openai-compatible``: any server speaking OpenAI's chat-completions protocol (vLLM,
Ollama, a LiteLLM proxy...) at its own ``base_url``, through the official openai SDK.

    providers:
      local-llama: {kind: openai-compatible, base_url: "http://127.0.0.1:11434/v1",
                    api_key_env: OLLAMA_KEY, price_as: gpt-4o-mini}

The key's variable is optional (local servers often take none). Its models are not in the
price table: give ``price_as`` or ``prices``, or the cost gate fails them as unpriced.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from promptrail.errors import UsageError
from promptrail.providers.kinds import BaseSettings
from promptrail.providers.openai import (  # noqa: F401 - this kind's request, call and errors
    call,
    check,
    classify,
    payload,
)

WIRE = "openai"
KEY_ENV = ""


class Settings(BaseSettings):
    base_url: str  # e.g. http://127.0.0.1:8000/v1
    api_key_env: str | None = None  # the variable holding the key, when the server takes one


def make_client(settings: Mapping[str, Any]) -> Any:
    env = settings.get("api_key_env")
    if env and not os.environ.get(str(env)):
        raise UsageError(
            f"{env} is not set: live calls need a key; use --cache replay "
            "to run on recorded responses",
            kind="credentials",
        )
    import openai

    return openai.AsyncOpenAI(
        api_key=os.environ.get(str(env)) if env else "unused",
        base_url=str(settings["base_url"]),
        max_retries=0,
        timeout=float(settings.get("timeout", 60)),
    )
