"""Regular expressions from workspace files, matched in linear time (RE2).

A suite's ``regex`` assertion and a JSON Schema's ``pattern`` / ``patternProperties`` come
from files a pull request can change, and Python's backtracking engine can take exponential
time on a pattern like ``^(a+)+$``. They go through RE2 instead (google-re2), whose matching
time is linear in the input whatever the pattern. RE2 has no backreferences and no
lookaround; such a pattern is refused with a clear error (exit 2 naming the file).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any


class BadPattern(ValueError):
    pass


@lru_cache(maxsize=1024)
def compile(pattern: str) -> Any:  # noqa: A001 - the module's one job
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise BadPattern(
            f"invalid regular expression {pattern!r}: {detail} (patterns run on RE2, in linear "
            "time: no backreferences or lookaround)"
        ) from None


def search(pattern: str, text: str) -> bool:
    return compile(pattern).search(text) is not None


def _pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not search(patrn, instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(validator: Any, properties: Any, instance: Any, schema: Any) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in properties.items():
        for k, v in instance.items():
            if search(patrn, k):
                yield from validator.descend(v, subschema, path=k, schema_path=patrn)


@lru_cache(maxsize=1)
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators

    return validators.extend(
        Draft202012Validator, {"pattern": _pattern, "patternProperties": _pattern_properties}
    )


def schema_validator(schema: dict[str, Any]) -> Any:
    """A Draft 2020-12 validator whose ``pattern`` keywords run on RE2. A pattern RE2 cannot
    take is a ``BadPattern`` here, before any instance is validated."""
    for patrn in _patterns(schema):
        compile(patrn)
    return _validator_class()(schema)


@lru_cache(maxsize=1024)
def cached_schema_validator(schema_json: str) -> Any:
    return schema_validator(json.loads(schema_json))


def _patterns(node: Any) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("pattern"), str):
                found.append(item["pattern"])
            if isinstance(item.get("patternProperties"), dict):
                found.extend(k for k in item["patternProperties"] if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
