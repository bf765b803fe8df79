"""Render a resolved prompt with variables, in Jinja2's sandbox.

Undefined variables are errors; a template that reaches for Python internals stops with a
clear error and runs nothing; a template that would run too long or build too much stops at
its bound (``promptrail.sandbox``, ``promptrail.limits``). Variables are validated against the prompt's ``input_schema``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from promptrail.errors import UsageError

_ENV: Any = None


def environment() -> Any:
    global _ENV
    if _ENV is None:
        from jinja2 import StrictUndefined

        from promptrail import sandbox

        _ENV = sandbox.environment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
    return _ENV


@lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    from promptrail.sandbox import compile_source

    return compile_source(environment(), source)


def _validator(schema_json: str) -> Any:
    from promptrail.regex import cached_schema_validator

    return cached_schema_validator(schema_json)  # patterns on RE2: linear time


def validate_vars(resolved: Any, variables: dict[str, Any], where: str | None = None) -> None:
    from promptrail.regex import BadPattern

    try:
        validator = _validator(json.dumps(resolved.input_schema, sort_keys=True))
    except BadPattern as exc:
        raise UsageError(f"input_schema: {exc}", file=resolved.path or where) from None
    errors = sorted(validator.iter_errors(variables), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        path = "/".join(str(p) for p in err.path) or "variables"
        raise UsageError(f"{resolved.name}: {path}: {err.message}", file=where, kind="vars")


def history(name: str, value: Any, prompt: str, where: str | None) -> list[dict[str, Any]]:
    """The prior turns a placeholder is filled with: ``[{role, content}]`` (user, assistant
    or tool turns; assistant ``tool_calls`` and tool ``tool_call_id`` as in prompt files)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise UsageError(
            f"{prompt}: placeholder {name!r} takes a list of messages, got {type(value).__name__}",
            file=where,
            kind="vars",
        )
    out = []
    for i, m in enumerate(value):
        role = m.get("role") if isinstance(m, dict) else None
        content = m.get("content") if isinstance(m, dict) else None
        ok = role in ("user", "assistant", "tool") and (
            isinstance(content, str) or (role == "assistant" and m.get("tool_calls"))
        )
        if ok and role == "tool":
            ok = isinstance(m.get("tool_call_id"), str)
        if not ok:
            raise UsageError(
                f"{prompt}: {name}[{i}]: expected {{role: user|assistant|tool, content: TEXT}}"
                f"{' with tool_call_id' if role == 'tool' else ''}, got {m!r}"[:300],
                file=where,
                kind="vars",
            )
        msg: dict[str, Any] = {"role": role, "content": content or ""}
        if m.get("tool_calls"):
            msg["tool_calls"] = [
                {"id": str(c["id"]), "name": str(c["name"]), "arguments": c.get("arguments") or {}}
                for c in m["tool_calls"]
            ]
        if role == "tool":
            msg["tool_call_id"] = m["tool_call_id"]
        out.append(msg)
    return out


def render_messages(
    resolved: Any, variables: dict[str, Any], where: str | None = None
) -> list[dict[str, Any]]:
    """The messages with variables filled in (the neutral form every provider starts from);
    a placeholder becomes the prior turns given under its name (none when not given)."""
    from promptrail.sandbox import TemplateProblem, render

    props = (resolved.input_schema or {}).get("properties", {}) or {}
    # declared optional variables that were not given are None (or their schema default), so
    # `{% if plan %}` works; names not declared at all stay undefined, which is an error
    values = {k: (v.get("default") if isinstance(v, dict) else None) for k, v in props.items()}
    values.update(variables)
    out: list[dict[str, Any]] = []
    for msg in resolved.messages:
        if "placeholder" in msg:
            name = msg["placeholder"]
            out += history(name, variables.get(name), resolved.name, where or resolved.path)
            continue
        try:
            text = render(_compile(msg["content"]), values)
        except TemplateProblem as exc:
            message = f"template {exc.message}" if exc.kind == "sandbox" else exc.message
            raise UsageError(
                f"{resolved.name}: {message}",
                file=where or resolved.path,
                line=exc.line if exc.kind in ("template", "limit") else None,
                kind=exc.kind,
            ) from None
        out.append({**msg, "content": text})
    return out
