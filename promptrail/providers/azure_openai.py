"""Kind ``azure-openai``: Azure OpenAI deployments through the openai SDK's Azure client.

    providers:
      azure-prod: {kind: azure-openai, endpoint: "https://acme.openai.azure.com",
                   api_version: "2024-10-21", api_key_env: AZURE_OPENAI_API_KEY,
                   price_as: gpt-4o-mini}

A prompt's ``model.name`` is the deployment name (the SDK routes to
``/openai/deployments/<name>/chat/completions``), unless ``deployment`` pins one for the
instance. Deployment names are not in the price table: ``price_as`` maps them to a model.
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
KEY_ENV = "AZURE_OPENAI_API_KEY"


class Settings(BaseSettings):
    endpoint: str  # https://<resource>.openai.azure.com
    api_version: str  # e.g. 2024-10-21
    deployment: str | None = None  # one deployment for every model name
    api_key_env: str = KEY_ENV


def make_client(settings: Mapping[str, Any]) -> Any:
    env = str(settings.get("api_key_env") or KEY_ENV)
    if not os.environ.get(env):
        raise UsageError(
            f"{env} is not set: live calls need a key; use --cache replay "
            "to run on recorded responses",
            kind="credentials",
        )
    import openai

    return openai.AsyncAzureOpenAI(
        azure_endpoint=str(settings["endpoint"]),
        api_version=str(settings["api_version"]),
        azure_deployment=settings.get("deployment") or None,
        api_key=os.environ[env],
        max_retries=0,
        timeout=float(settings.get("timeout", 60)),
    )
