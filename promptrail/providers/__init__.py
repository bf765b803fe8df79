"""Model providers: OpenAI and Anthropic through their official SDKs, behind one client
with caching, per-provider concurrency limits and one retry policy."""

from promptrail.providers.base import (
    CacheMiss,
    ModelClient,
    ModelRequest,
    ModelResponse,
    ProviderError,
)
from promptrail.providers.cache import ResponseCache

__all__ = ["CacheMiss", "ModelClient", "ModelRequest", "ModelResponse", "ProviderError",
           "ResponseCache"]
