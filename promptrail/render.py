"""Render a resolved prompt with variables, in Jinja2's sandbox.

Undefined variables are errors; a template that reaches for Python internals stops with a
clear error and runs nothing. Variables are validated against the prompt's ``input_schema``.
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
        from jinja2.sandbox import SandboxedEnvironment

        _ENV = SandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
    return _ENV


@lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    return environment().from_string(source)


@lru_cache(maxsize=1024)
def _validator(schema_json: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def validate_vars(resolved: Any, variables: dict[str, Any], where: str | None = None) -> None:
    validator = _validator(json.dumps(resolved.input_schema, sort_keys=True))
    errors = sorted(validator.iter_errors(variables), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        path = "/".join(str(p) for p in err.path) or "variables"
        raise UsageError(f"{resolved.name}: {path}: {err.message}", file=where, kind="vars")


def render_messages(
    resolved: Any, variables: dict[str, Any], where: str | None = None
) -> list[dict[str, str]]:
    """The messages with variables filled in (the neutral form every provider starts from)."""
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError, UndefinedError

    props = (resolved.input_schema or {}).get("properties", {}) or {}
    # declared optional variables that were not given are None (or their schema default), so
    # `{% if plan %}` works; names not declared at all stay undefined, which is an error
    values = {k: (v.get("default") if isinstance(v, dict) else None) for k, v in props.items()}
    values.update(variables)
    out = []
    for msg in resolved.messages:
        try:
            text = _compile(msg["content"]).render(**values)
        except SecurityError as exc:
            raise UsageError(
                f"{resolved.name}: template blocked by the sandbox: {exc}",
                file=where or resolved.path,
                kind="sandbox",
            ) from None
        except UndefinedError as exc:
            raise UsageError(
                f"{resolved.name}: {exc.message}", file=where or resolved.path, kind="vars"
            ) from None
        except TemplateError as exc:
            raise UsageError(
                f"{resolved.name}: template error: {exc}",
                file=where or resolved.path,
                line=getattr(exc, "lineno", None),
                kind="template",
            ) from None
        out.append({"role": msg["role"], "content": text})
    return out
