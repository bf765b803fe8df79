"""Kind ``bedrock``: Anthropic models on AWS Bedrock through the anthropic SDK's
``AnthropicBedrock`` client (the request body is Anthropic's; the SDK moves the model into
the path, ``/model/<id>/invoke``, and signs the call).

    providers:
      claude-aws: {kind: bedrock, region: eu-central-1, price_as: claude-3-5-haiku-latest}

Credentials: ``api_key_env`` names a variable holding a Bedrock API key (sent as a bearer
token); without it the AWS credentials of the environment sign the request (SigV4, which
needs boto3, from promptrail's ``s3`` extra).
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
    base_url: str | None = None  # default: https://bedrock-runtime.<region>.amazonaws.com
    api_key_env: str | None = None  # a Bedrock API key; else AWS credentials sign


def make_client(settings: Mapping[str, Any]) -> Any:
    import anthropic

    env = settings.get("api_key_env")
    common: dict[str, Any] = {
        "aws_region": str(settings["region"]),
        "base_url": settings.get("base_url") or None,
        "max_retries": 0,
        "timeout": float(settings.get("timeout", 60)),
    }
    if env:
        if not os.environ.get(str(env)):
            raise UsageError(f"{env} is not set: live calls need a key", kind="credentials")
        return anthropic.AsyncAnthropicBedrock(api_key=os.environ[str(env)], **common)
    from promptrail.extras import ensure

    # the SDK signs with botocore, which the s3 extra brings (or set api_key_env instead)
    ensure("botocore", "s3", "signing Bedrock calls with AWS credentials")
    if not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
        raise UsageError(
            "no AWS credentials (AWS_ACCESS_KEY_ID or AWS_PROFILE) for Bedrock",
            kind="credentials",
        )
    return anthropic.AsyncAnthropicBedrock(**common)
