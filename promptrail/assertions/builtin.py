"""The deterministic assertion kinds (registered in pyproject.toml as ``promptrail.assertions``)."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from pydantic import Field

from promptrail import regex
from promptrail.assertions.base import Assertion, AssertionContext, AssertionResult
from promptrail.outputs import parse_json_output

parse_json = parse_json_output  # the one parser of JSON in model output (promptrail.outputs)
# what contains / icontains / not-contains look for: one value or a list (numbers as text)
Needles = str | int | float | list[str | int | float]


def _values(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class Equals(Assertion):
    value: Any = None

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        if isinstance(self.value, (dict, list)):
            data, _ = parse_json(ctx.output)
            return self.result(
                data == self.value,
                "output equals the expected JSON"
                if data == self.value
                else "output JSON differs from expected",
            )
        ok = ctx.output.strip() == str(self.value).strip()
        return self.result(
            ok,
            "output equals the expected text"
            if ok
            else f"output {_short(ctx.output.strip())!r} != {_short(str(self.value))!r}",
        )


class Contains(Assertion):
    value: Needles

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        missing = [v for v in _values(self.value) if v not in ctx.output]
        return self.result(not missing, f"missing {missing}" if missing else "all present")


class IContains(Assertion):
    value: Needles

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        low = ctx.output.lower()
        missing = [v for v in _values(self.value) if v.lower() not in low]
        return self.result(
            not missing, f"missing (any case) {missing}" if missing else "all present"
        )


class NotContains(Assertion):
    value: Needles

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        found = [v for v in _values(self.value) if v in ctx.output]
        return self.result(not found, f"output contains {found}" if found else "none present")


class Regex(Assertion):
    value: str

    def check(self, ctx: AssertionContext) -> None:
        regex.compile(self.value)  # RE2: linear time; a BadPattern is a ValueError

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        ok = regex.search(self.value, ctx.output)
        return self.result(ok, f"/{self.value}/ {'matches' if ok else 'does not match'}")


class IsJson(Assertion):
    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        try:
            _, fenced = parse_json(ctx.output)
        except json.JSONDecodeError as exc:
            return self.result(
                False, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            )
        return self.result(True, "valid JSON" + (" (inside a code fence)" if fenced else ""))


def _validator(schema_json: str) -> Any:
    return regex.cached_schema_validator(schema_json)


def schema_errors(data: Any, schema: dict[str, Any]) -> list[str]:
    validator = _validator(json.dumps(schema, sort_keys=True))
    out = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(e.path))[:3]:
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
        out.append(f"{path}: {err.message}")
    return out


class JsonSchema(Assertion):
    value: dict[str, Any] | None = None

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        schema = self.value if self.value is not None else ctx.output_schema
        if schema is None:
            return AssertionResult(
                self.type,
                "error",
                None,
                None,
                "no schema given and the prompt has no output_schema",
            )
        try:
            data, _ = parse_json(ctx.output)
        except json.JSONDecodeError as exc:
            return self.result(False, f"not JSON: {exc.msg}")
        errors = schema_errors(data, schema)
        return self.result(not errors, "; ".join(errors) if errors else "conforms to the schema")


_PATH_PART = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+|\*)\]|\[['\"]([^'\"]+)['\"]\]")


def json_path(data: Any, path: str) -> list[Any]:
    """Values at a simple JSONPath: ``$.a.b``, ``$.items[0].x``, ``$.items[*].x``, ``$['k']``."""
    if not path.startswith("$"):
        raise ValueError(f"a JSONPath starts with '$': {path!r}")
    rest, nodes = path[1:], [data]
    while rest:
        m = _PATH_PART.match(rest)
        if not m:
            raise ValueError(f"unsupported JSONPath {path!r} at {rest!r}")
        rest = rest[m.end() :]
        key, index = m.group(1) or m.group(3), m.group(2)
        nxt: list[Any] = []
        for node in nodes:
            if key is not None:
                if isinstance(node, dict) and key in node:
                    nxt.append(node[key])
            elif index == "*":
                if isinstance(node, list):
                    nxt.extend(node)
            elif isinstance(node, list) and int(index) < len(node):
                nxt.append(node[int(index)])
        nodes = nxt
    return nodes


class JsonPath(Assertion):
    path: str
    value: Any = None

    def check(self, ctx: AssertionContext) -> None:
        json_path({}, self.path)

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        try:
            data, _ = parse_json(ctx.output)
        except json.JSONDecodeError as exc:
            return self.result(False, f"not JSON: {exc.msg}")
        found = json_path(data, self.path)
        if not found:
            return self.result(False, f"{self.path} not found")
        wildcard = "*" in self.path
        ok = all(v == self.value for v in found) if wildcard else found[0] == self.value
        got = found if wildcard else found[0]
        return self.result(
            ok, f"{self.path} is {got!r}" + ("" if ok else f", expected {self.value!r}")
        )


class MaxLength(Assertion):
    value: int = Field(ge=0)

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        n = len(ctx.output)
        return self.result(
            n <= int(self.value), f"{n} characters (max {self.value})", threshold=float(self.value)
        )


class Latency(Assertion):
    direction: ClassVar[str] = "lower"  # a budget, never a fall in quality
    threshold: float = Field(ge=0)  # milliseconds

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        if ctx.latency_ms is None:
            return AssertionResult(self.type, "error", None, self.threshold, "latency unknown")
        ok = ctx.latency_ms <= float(self.threshold)
        return self.result(
            ok,
            f"{ctx.latency_ms:.0f} ms (max {self.threshold:.0f} ms)",
            score=ctx.latency_ms,
            threshold=float(self.threshold),
        )


class Cost(Assertion):
    direction: ClassVar[str] = "lower"  # a budget, never a fall in quality
    threshold: float = Field(ge=0)  # US dollars per call

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        if ctx.cost_usd is None:
            return AssertionResult(
                self.type,
                "error",
                None,
                self.threshold,
                "cost unknown: the price table does not know this model",
            )
        ok = ctx.cost_usd <= float(self.threshold)
        return self.result(
            ok,
            f"${ctx.cost_usd:.6f} per call (max ${self.threshold})",
            score=ctx.cost_usd,
            threshold=float(self.threshold),
        )


__all__ = [
    "Contains",
    "Cost",
    "Equals",
    "IContains",
    "IsJson",
    "JsonPath",
    "JsonSchema",
    "Latency",
    "MaxLength",
    "NotContains",
    "Regex",
    "json_path",
    "parse_json",
    "schema_errors",
]


# Every check above is a few microseconds of work: it runs on the event loop, no thread hop.
for _cls in (
    Equals,
    Contains,
    IContains,
    NotContains,
    Regex,
    IsJson,
    JsonSchema,
    JsonPath,
    MaxLength,
    Latency,
    Cost,
):
    _cls.inline = True


def _subset(expected: Any, actual: Any) -> bool:
    """``expected`` is contained in ``actual``: mappings key by key (recursively), anything
    else equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


class ToolCall(Assertion):
    """The model called tool ``name`` with arguments valid against the tool's parameters
    schema and containing ``args`` (a subset match)."""

    inline: ClassVar[bool] = True
    name: str = Field(min_length=1)
    args: dict[str, Any] | None = None

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        calls = [c for c in ctx.tool_calls if c.get("name") == self.name]
        if not calls:
            made = ", ".join(str(c.get("name")) for c in ctx.tool_calls) or "no tool"
            return self.result(False, f"expected a call of {self.name!r}; the model called {made}")
        tool = next((t for t in ctx.tools if t.get("name") == self.name), None)
        problems = []
        for call in calls:
            args = call.get("arguments")
            if not isinstance(args, dict):
                problems.append(f"arguments are not a JSON object: {str(args)[:80]!r}")
                continue
            errors = schema_errors(args, tool.get("parameters") or {}) if tool else []
            if errors:
                problems.append("arguments do not fit the tool's schema: " + "; ".join(errors))
                continue
            if self.args and not _subset(self.args, args):
                problems.append(f"arguments {json.dumps(args)[:120]} lack {json.dumps(self.args)}")
                continue
            return self.result(True, f"called {self.name} with {json.dumps(args)[:120]}")
        return self.result(False, f"{self.name}: {problems[0]}")


class NoToolCall(Assertion):
    """The model answered without calling any tool."""

    inline: ClassVar[bool] = True

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        if ctx.tool_calls:
            names = ", ".join(str(c.get("name")) for c in ctx.tool_calls)
            return self.result(False, f"the model called {names}")
        return self.result(True, "no tool called")
