"""What the real OpenAI chat-completions and Anthropic messages APIs accept: the strict
checks the dev server (``promptrail.devserver``) applies to every request, so a request the
real API would refuse with HTTP 400 fails a test instead of passing against a lenient fake.

``check_openai(body)`` and ``check_anthropic(body, platform)`` return why the API would refuse
``body``, or None."""

from __future__ import annotations

import re
from typing import Any

OPENAI_PARAMS = frozenset(
    {
        "messages", "model", "audio", "frequency_penalty", "function_call", "functions",
        "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "metadata",
        "modalities", "n", "parallel_tool_calls", "prediction", "presence_penalty",
        "prompt_cache_key", "prompt_cache_retention", "reasoning_effort", "response_format",
        "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
        "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p",
        "user", "verbosity", "web_search_options",
    }
)  # fmt: skip
ANTHROPIC_PARAMS = frozenset(
    {
        "max_tokens", "messages", "model", "cache_control", "container", "diagnostics",
        "inference_geo", "metadata", "output_config", "service_tier", "speed",
        "stop_sequences", "stream", "system", "thinking", "tool_choice", "tools",
        "user_profile_id", "workspace_id",
    }
)  # fmt: skip
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
REASONING = re.compile(r"^(o\d|gpt-5)")


def _object_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "object"


def check_openai(body: dict[str, Any]) -> str | None:
    """Why the chat-completions API would refuse ``body`` (HTTP 400), or None."""
    for key in body:
        if key not in OPENAI_PARAMS:
            return f"Unrecognized request argument supplied: {key}"
    if not body.get("model"):
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "[] is too short - 'messages'"
    model = str(body["model"])
    if REASONING.match(model):
        if "max_tokens" in body:
            return (
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead."
            )
        for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
            if key in body:
                return f"Unsupported parameter: '{key}' is not supported with this model."
    elif "reasoning_effort" in body:
        return "Unrecognized request argument supplied: reasoning_effort"
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            return "Invalid type for 'tools': expected an array"
        for i, tool in enumerate(tools):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function":
                return f"Invalid value for 'tools[{i}].type': expected 'function'"
            if not isinstance(fn, dict) or set(fn) - {
                "name",
                "description",
                "parameters",
                "strict",
            }:
                return f"Invalid 'tools[{i}].function': expected {{name, description, parameters}}"
            if not TOOL_NAME.match(str(fn.get("name", ""))):
                return f"Invalid 'tools[{i}].function.name': string does not match pattern"
            if "parameters" in fn and not _object_schema(fn["parameters"]):
                return (
                    f"Invalid schema for function '{fn['name']}': schema must be of type 'object'"
                )
            names.add(str(fn["name"]))
    choice = body.get("tool_choice")
    if choice is not None:
        if isinstance(choice, str):
            if choice not in ("none", "auto", "required"):
                return f"Invalid value for 'tool_choice': {choice!r}"
            if choice != "none" and not tools:
                return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
        elif not (
            isinstance(choice, dict)
            and choice.get("type") == "function"
            and isinstance(choice.get("function"), dict)
        ):
            return "Invalid value for 'tool_choice'"
        elif choice["function"].get("name") not in names:
            return f"Invalid 'tool_choice': no function named {choice['function'].get('name')!r}"
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            return "Invalid value for 'response_format.type'"
        if kind == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not TOOL_NAME.match(str(spec.get("name", ""))):
                return "Missing required parameter: 'response_format.json_schema.name'"
            if set(spec) - {"name", "description", "schema", "strict"}:
                return "Unrecognized 'response_format.json_schema' key"
            if spec.get("strict"):
                from promptrail.providers.calls import strict_schema_problems

                problems = strict_schema_problems(spec.get("schema"))
                if problems:
                    return f"Invalid schema for response_format 'output': {problems[0]}"
    calls: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("system", "developer", "user", "assistant", "tool"):
            return f"Invalid value for 'messages[{i}].role': {role!r}"
        for call in m.get("tool_calls") or []:
            fn = call.get("function") or {}
            if call.get("type") != "function" or not isinstance(fn.get("arguments"), str):
                return f"Invalid 'messages[{i}].tool_calls': expected function calls with JSON arguments"
            calls.add(str(call.get("id")))
        if role == "tool" and m.get("tool_call_id") not in calls:
            return (
                "Invalid parameter: messages with role 'tool' must be a response to a "
                "preceeding message with 'tool_calls'."
            )
    return None


def check_anthropic(body: dict[str, Any], platform: str = "") -> str | None:
    """Why the messages API would refuse ``body`` (HTTP 400), or None."""
    allowed = ANTHROPIC_PARAMS | ({"anthropic_version"} if platform else set())
    for key in body:
        if key not in allowed:
            return f"{key}: Extra inputs are not permitted"
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            return f"{key}: Field required"
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return "max_tokens: Input should be a positive integer"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    tools = body.get("tools") or []
    names = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or set(tool) - {
            "name",
            "description",
            "input_schema",
            "cache_control",
            "type",
        }:
            return f"tools.{i}: Extra inputs are not permitted"
        if not TOOL_NAME.match(str(tool.get("name", ""))):
            return f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        if not _object_schema(tool.get("input_schema")):
            return f"tools.{i}.input_schema: Input schema must have type 'object'"
        names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind not in ("auto", "any", "tool", "none"):
            return "tool_choice: Input tag does not match any of the expected tags"
        if kind == "tool" and choice.get("name") not in names:
            return f"tool_choice: tool {choice.get('name')!r} not found in tools"
        if kind in ("any", "tool") and not tools:
            return "tool_choice may only be specified while providing tools"
    output = body.get("output_config")
    if output is not None:
        if not isinstance(output, dict) or set(output) - {"format", "effort"}:
            return "output_config: Extra inputs are not permitted"
        fmt = output.get("format")
        if fmt is not None and (
            not isinstance(fmt, dict)
            or fmt.get("type") != "json_schema"
            or not _object_schema(fmt.get("schema"))
        ):
            return "output_config.format: expected {type: json_schema, schema: {type: object, ...}}"
        if output.get("effort") not in (None, "low", "medium", "high", "xhigh", "max"):
            return "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'"
    thinking = body.get("thinking")
    if thinking is not None and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024 or budget >= body["max_tokens"]:
            return "thinking.budget_tokens: must be >= 1024 and less than max_tokens"
    previous = None
    uses: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i == 0 and role != "user":
            return 'messages: first message must use the "user" role'
        if role == previous:
            return 'messages: roles must alternate between "user" and "assistant"'
        previous = role
        content = m.get("content")
        blocks = content if isinstance(content, list) else []
        if not isinstance(content, (str, list)):
            return f"messages.{i}.content: Input should be a string or a list of blocks"
        results = set()
        for block in blocks:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "tool_use":
                if role != "assistant":
                    return f"messages.{i}: tool_use blocks belong to assistant turns"
                uses.add(str(block.get("id")))
            elif kind == "tool_result":
                if role != "user" or block.get("tool_use_id") not in uses:
                    return (
                        f"messages.{i}.content: unexpected `tool_use_id` found in "
                        "`tool_result` blocks: each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message"
                    )
                results.add(block.get("tool_use_id"))
            elif kind not in ("text", "image", "document", "thinking", "redacted_thinking"):
                return f"messages.{i}.content: unknown block type {kind!r}"
    return None
