"""Checks of what a prompt asks of its providers, naming the prompt file's line.

Run when a prompt of the working tree resolves (so ``lint``, ``render``, ``gate`` and
``lock`` all stop on them with exit 2): the provider instance exists; each setting is one the
provider instance's kind can take for that model (a setting is never silently dropped);
overrides name known providers; tools have unique names and valid parameter schemas;
``tool_choice`` names a declared tool; few-shot tool calls and results match up; an output
schema asked of a provider as structured output fits strict mode.
"""

from __future__ import annotations

import json
from typing import Any

from promptrail.errors import UsageError
from promptrail.yamlio import line_of

KIND = "invalid-setting"


def check_calls(ws: Any, loaded: Any, resolved: Any) -> None:
    from promptrail.providers.calls import META, strict_schema_problems
    from promptrail.providers.kinds import check_settings, instance_kind

    path, text = loaded.path, loaded.text
    configured = ws.config.providers

    def fail(message: str, loc: tuple[Any, ...]) -> None:
        raise UsageError(message, file=path, line=line_of(text, loc) or 1, kind=KIND)

    model = resolved.model
    targets: list[tuple[str, str, Any, tuple[Any, ...]]] = [
        (str(model["provider"]), str(model["name"]), model, ("model",))
    ]
    for prov, override in (model.get("overrides") or {}).items():
        targets.append((prov, str(override["name"]), override, ("model", "overrides", prov)))
    for prov, name, settings, loc in targets:
        try:
            instance_kind(prov, configured)
        except UsageError as exc:
            fail(
                f"{exc.message}; name one of promptrail.yaml's providers (or openai, anthropic)",
                loc + (("provider",) if loc == ("model",) else ()),
            )
        params = {k: v for k, v in settings.items() if k not in META}
        for key, why in check_settings(prov, configured, name, params):
            fail(f"model setting {key!r} cannot go to {prov}: {why}", loc + (key,))

    tools = resolved.tools or []
    names: list[str] = []
    for i, tool in enumerate(tools):
        if tool["name"] in names:
            fail(f"tool {tool['name']!r} is declared twice", ("tools", i, "name"))
        names.append(tool["name"])
        problem = _schema_problem(tool.get("parameters"))
        if problem:
            fail(
                f"tool {tool['name']!r}: parameters is not a valid JSON Schema: {problem}",
                ("tools", i, "parameters"),
            )
        if (tool.get("parameters") or {}).get("type") != "object":
            fail(
                f"tool {tool['name']!r}: parameters must be a schema of {{type: object}}",
                ("tools", i, "parameters"),
            )
    choice = resolved.tool_choice
    if isinstance(choice, dict) and choice.get("name") not in names:
        fail(
            f"tool_choice names {choice.get('name')!r}, which is not a declared tool"
            + (f" (tools: {', '.join(names)})" if names else " (no tools are declared)"),
            ("tool_choice",),
        )
    if choice in ("required", "auto") and not names:
        fail(f"tool_choice: {choice} but no tools are declared", ("tool_choice",))

    call_ids: set[str] = set()
    for i, msg in enumerate(resolved.messages):
        for j, call in enumerate(msg.get("tool_calls") or []):
            if call["name"] not in names:
                fail(
                    f"message {i} calls tool {call['name']!r}, which is not declared in tools",
                    ("messages", i, "tool_calls", j, "name"),
                )
            call_ids.add(call["id"])
        if msg.get("role") == "tool" and msg["tool_call_id"] not in call_ids:
            fail(
                f"message {i} answers tool call {msg['tool_call_id']!r}, which no earlier "
                "assistant message makes",
                ("messages", i, "tool_call_id"),
            )

    if resolved.output_schema is not None:
        structured = [
            prov
            for prov, _, settings, _ in targets
            if settings.get("structured_output", model.get("structured_output", True)) is not False
        ]
        if structured:
            problems = strict_schema_problems(resolved.output_schema)
            if problems:
                fail(
                    "output_schema cannot be requested as strict structured output from "
                    f"{', '.join(structured)}: {problems[0]}"
                    + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
                    + "; fix the schema or set model.structured_output: false",
                    ("output_schema",),
                )


def _schema_problem(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return "not a mapping"
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(json.loads(json.dumps(schema)))
    except SchemaError as exc:
        return str(exc.message)
    return None
