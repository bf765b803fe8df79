"""Provider kinds and the named provider instances of promptrail.yaml.

A *kind* is a provider plugin (``promptrail.plugins``): a module registered under the
``promptrail.providers`` entry-point group, the built-ins in pyproject.toml exactly as a third
party registers one. It has:

- ``Settings``: a pydantic model of its keys in promptrail.yaml (unknown keys are errors);
- ``check(model, params) -> list[(setting, problem)]``: the model settings it cannot take;
- ``payload(model, messages, params)``: the request body it sends (no SDK import);
- ``make_client(settings)``, ``async call(client, request)``, ``classify(exc)``.

An *instance* is a name under ``providers:`` with a ``kind:`` and that kind's settings, e.g.
``clinic-llm: {kind: anthropic, base_url: http://..., api_key_env: CLINIC_KEY}``. The names
``openai`` and ``anthropic`` are instances of their own kind without saying so. Prompts name an
instance in ``model.provider`` (and in ``model.overrides``).

Importing this module imports no SDK; a kind's module is imported when first looked up.
"""

from __future__ import annotations

import difflib
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from promptrail.errors import UsageError

BUILTIN_INSTANCES = ("openai", "anthropic")  # instance names that are their own kind
CONFIG = "promptrail.yaml"


class TokenPrice(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid")
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)


class BaseSettings(BaseModel):
    """Keys every kind takes: limits, retries, and how its models are priced."""

    model_config = ConfigDict(extra="forbid")
    kind: str | None = None
    concurrency: int = Field(default=8, ge=1)
    timeout: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=4, ge=1)
    backoff: float = Field(default=0.5, ge=0)
    max_backoff: float = Field(default=8.0, ge=0)
    # price a model as another one the price table knows (one name for every model, or a
    # mapping model -> priced model), or give per-token prices per model ("*": any model)
    price_as: str | dict[str, str] | None = None
    prices: dict[str, TokenPrice] | None = None


def kind_module(kind: str) -> ModuleType:
    """The module implementing a provider kind: a ``promptrail.providers`` plugin."""
    from promptrail import plugins

    module = plugins.get("provider", kind, file=CONFIG)
    if not isinstance(module, ModuleType):
        raise UsageError(
            f"provider kind {kind!r}: its entry point must name a module, not {module!r}",
            file=CONFIG,
        )
    return module


def known_kinds() -> list[str]:
    from promptrail import plugins

    return plugins.names("provider")


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known: {', '.join(sorted(known))})" if known else ""


def instance_kind(name: str, configured: dict[str, dict[str, Any]] | None) -> str:
    """The kind of the provider instance ``name``; unknown names are errors."""
    spec = (configured or {}).get(name)
    if isinstance(spec, dict) and spec.get("kind"):
        return str(spec["kind"])
    if name in BUILTIN_INSTANCES:
        return name
    known = sorted(set(BUILTIN_INSTANCES) | set(configured or {}))
    raise UsageError(f"unknown provider {name!r}{_hint(name, known)}", kind="unknown-provider")


def instance_settings(
    name: str, spec: Any, text: str | None = None, defaults: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One instance's settings checked against its kind's model (an unknown key or a bad
    value names promptrail.yaml and the line)."""
    from pydantic import ValidationError

    from promptrail.yamlio import line_of

    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise UsageError(
            f"providers.{name}: expected a mapping of settings",
            file=CONFIG,
            line=line_of(text, ("providers", name)) if text else None,
        )
    try:
        kind = instance_kind(name, {name: spec})
    except UsageError as exc:
        raise UsageError(
            f"providers.{name}: needs a `kind` (one of: {', '.join(known_kinds())})",
            file=CONFIG,
            line=line_of(text, ("providers", name)) if text else None,
        ) from exc
    try:
        model: type[BaseModel] = getattr(kind_module(kind), "Settings", BaseSettings)
    except UsageError as exc:
        exc.line = line_of(text, ("providers", name, "kind")) if text else None
        exc.message = f"providers.{name}: {exc.message}"
        raise
    data = {k: v for k, v in spec.items() if v is not None}
    try:
        checked = model.model_validate({**(defaults or {}), **data})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            fields = [f for f in model.model_fields if f != "kind"]
            message = f"providers.{name}: unknown key {str(loc[-1])!r} for kind {kind!r}" + (
                _hint(str(loc[-1]), fields)
            )
        else:
            message = f"providers.{name}.{key}: {err['msg']}"
        raise UsageError(
            message,
            file=CONFIG,
            line=(line_of(text, ("providers", name, *loc)) or line_of(text, ("providers", name)))
            if text
            else None,
            kind="invalid-file",
        ) from None
    out = checked.model_dump(exclude_none=True)
    out["kind"] = kind
    return out


def check_settings(
    provider: str, configured: dict[str, dict[str, Any]] | None, model: str, params: dict[str, Any]
) -> list[tuple[str, str]]:
    """(setting, problem) for every model setting the provider instance cannot take."""
    module = kind_module(instance_kind(provider, configured))
    check = getattr(module, "check", None)
    return list(check(model, params)) if check is not None else []
