"""Model providers: OpenAI and Anthropic through their official SDKs, behind one client with
a response cache, per-provider concurrency limits and one retry policy.

Importing this package imports no SDK: the provider modules import theirs when a client is
made, so ``promptrail render`` (which only builds request bodies) stays fast.
"""

from promptrail.providers.base import (
    CacheMiss,
    Failure,
    ModelClient,
    ModelRequest,
    ModelResponse,
    ProviderError,
    provider_module,
)
from promptrail.providers.cache import ResponseCache
from promptrail.providers.pricing import price

__all__ = [
    "CacheMiss",
    "Failure",
    "ModelClient",
    "ModelRequest",
    "ModelResponse",
    "ProviderError",
    "ResponseCache",
    "price",
    "provider_module",
]
