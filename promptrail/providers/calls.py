"""What one model call is made of, from a resolved prompt: the provider instance, its model
name and the neutral parameters every provider module translates into its own wire form.

Neutral parameters are the model settings that are set, plus ``tools`` (``[{name,
description, parameters}]``), ``tool_choice`` (``auto | none | required | {name}``) and
``output_schema`` (when structured output is asked of the provider). A provider other than the
prompt's own gets the model and settings of ``model.overrides.<provider>``; without one, there
is no request for it (an error, never the other provider's model name).
"""

from __future__ import annotations

from typing import Any

from promptrail.errors import UsageError

META = ("provider", "name", "overrides", "structured_output")


def call_parts(
    model: dict[str, Any],
    tools: list[dict[str, Any]] | None,
    tool_choice: Any,
    output_schema: dict[str, Any] | None,
    provider: str | None = None,
    where: str | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """(provider instance, model name, neutral params) for ``provider`` (default: the own)."""
    own = str(model["provider"])
    provider = provider or own
    structured = model.get("structured_output", True)
    if provider == own:
        name = str(model["name"])
        params = {k: v for k, v in model.items() if k not in META}
    else:
        override = (model.get("overrides") or {}).get(provider)
        if override is None:
            raise UsageError(
                f"the prompt is for {own}; for {provider} it needs "
                f"model.overrides.{provider} with that provider's model name",
                file=where,
                kind="no-override",
            )
        name = str(override["name"])
        params = {k: v for k, v in override.items() if k not in META}
        if override.get("structured_output") is not None:
            structured = override["structured_output"]
    if tools:
        params["tools"] = tools
    if tool_choice is not None:
        params["tool_choice"] = tool_choice
    if output_schema is not None and structured:
        params["output_schema"] = output_schema
    return provider, name, params


def providers_of(model: dict[str, Any]) -> list[str]:
    """Every provider instance the prompt has a request for: its own, then its overrides."""
    return [str(model["provider"]), *sorted(model.get("overrides") or {})]


def resolved_parts(
    resolved: Any, provider: str | None = None, where: str | None = None
) -> tuple[str, str, dict[str, Any]]:
    return call_parts(
        resolved.model,
        resolved.tools,
        resolved.tool_choice,
        resolved.output_schema,
        provider,
        where or getattr(resolved, "path", None),
    )


def strict_schema_problems(schema: Any, path: str = "$") -> list[str]:
    """Why the providers' strict structured-output mode cannot take ``schema`` (empty if it
    can): the root is an object; every object lists all its properties as required and sets
    ``additionalProperties: false``; no keyword outside the subset they compile."""
    unsupported = (
        "allOf",
        "not",
        "if",
        "then",
        "else",
        "dependentRequired",
        "dependentSchemas",
        "patternProperties",
        "unevaluatedProperties",
        "unevaluatedItems",
        "propertyNames",
        "contains",
    )
    out: list[str] = []
    if not isinstance(schema, dict):
        return out
    if path == "$" and schema.get("type") != "object":
        out.append("$: the root must be {type: object}")
    for key in unsupported:
        if key in schema:
            out.append(f"{path}: {key!r} is not supported in strict mode")
    types = schema.get("type")
    is_object = types == "object" or (isinstance(types, list) and "object" in types)
    if is_object or "properties" in schema:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            out.append(f"{path}: an object needs additionalProperties: false")
        missing = sorted(set(props) - set(schema.get("required") or []))
        if missing:
            out.append(
                f"{path}: every property must be required (make optional ones nullable): "
                f"{', '.join(missing)}"
            )
        for key, sub in props.items():
            out += strict_schema_problems(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        out += strict_schema_problems(schema["items"], f"{path}[]")
    for key in ("anyOf", "oneOf"):
        for i, sub in enumerate(schema.get(key) or []):
            out += strict_schema_problems(sub, f"{path}.{key}[{i}]")
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            out += strict_schema_problems(sub, f"{path}.{key}.{name}")
    return out
