"""Kind ``vertex``: Anthropic models on Google Vertex AI through the anthropic SDK's
``AnthropicVertex`` client (the request body is Anthropic's; the SDK moves the model into
the path, ``.../publishers/anthropic/models/<id>:rawPredict``).

    providers:
      claude-gcp: {kind: vertex, region: europe-west1, project_id: acme-prod,
                   access_token_env: VERTEX_TOKEN, price_as: claude-3-5-haiku-latest}

``access_token_env`` names a variable holding an OAuth access token; without it the SDK uses
Google application-default credentials (which need the google-auth package).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from promptrail.errors import UsageError
from promptrail.providers.anthropic import (  # noqa: F401 - this kind's request, call and errors
    call,
    check,
    classify,
    payload,
)
from promptrail.providers.kinds import BaseSettings

WIRE = "anthropic"
KEY_ENV = ""


class Settings(BaseSettings):
    region: str
    project_id: str
    base_url: str | None = None  # default: https://<region>-aiplatform.googleapis.com/v1
    access_token_env: str | None = None


def make_client(settings: Mapping[str, Any]) -> Any:
    import anthropic

    env = settings.get("access_token_env")
    token = None
    if env:
        token = os.environ.get(str(env))
        if not token:
            raise UsageError(f"{env} is not set: live calls need a token", kind="credentials")
    else:
        try:
            import google.auth  # noqa: F401
        except ImportError:
            raise UsageError(
                "Vertex without access_token_env needs Google credentials: "
                "pip install google-auth, or set access_token_env",
                kind="missing-extra",
            ) from None
    return anthropic.AsyncAnthropicVertex(
        region=str(settings["region"]),
        project_id=str(settings["project_id"]),
        access_token=token,
        base_url=settings.get("base_url") or None,
        max_retries=0,
        timeout=float(settings.get("timeout", 60)),
    )
