"""Every deterministic assertion kind, pass and fail, and how specs are checked."""

from __future__ import annotations

import asyncio

import pytest

from promptrail import plugins
from promptrail.assertions import (
    Assertion,
    AssertionContext,
    AssertionResult,
    assertion,
    parse_assertion,
    run_assertions,
)
from promptrail.errors import UsageError

SCHEMA = {
    "type": "object",
    "required": ["reply", "priority"],
    "properties": {"reply": {"type": "string"}, "priority": {"enum": ["low", "high"]}},
}
GOOD = '{"reply": "Hi Ana, done.", "priority": "high", "items": [{"n": 1}, {"n": 1}]}'


def check(spec: dict, output: str = GOOD, **ctx) -> AssertionResult:
    a = parse_assertion(spec, "suites/x.yaml")
    [r] = asyncio.run(run_assertions([a], AssertionContext(output=output, vars={}, **ctx)))
    return r


TABLE = [
    ({"type": "equals", "value": "ok"}, " ok\n", "passed"),
    ({"type": "equals", "value": "ok"}, "okay", "failed"),
    ({"type": "equals", "value": {"a": 1}}, '{"a": 1}', "passed"),
    ({"type": "contains", "value": "Ana"}, GOOD, "passed"),
    ({"type": "contains", "value": ["Ana", "Bob"]}, GOOD, "failed"),
    ({"type": "icontains", "value": "HI ANA"}, GOOD, "passed"),
    ({"type": "not-contains", "value": "password"}, GOOD, "passed"),
    ({"type": "not-contains", "value": ["done"]}, GOOD, "failed"),
    ({"type": "regex", "value": r"Hi \w+,"}, GOOD, "passed"),
    ({"type": "regex", "value": r"^\d+$"}, GOOD, "failed"),
    ({"type": "is-json"}, GOOD, "passed"),
    ({"type": "is-json"}, '```json\n{"a": 1}\n```', "passed"),
    ({"type": "is-json"}, "{'a': 1}", "failed"),
    ({"type": "json-schema", "value": SCHEMA}, GOOD, "passed"),
    ({"type": "json-schema", "value": SCHEMA}, '{"reply": "x", "priority": "meh"}', "failed"),
    ({"type": "json-path", "path": "$.priority", "value": "high"}, GOOD, "passed"),
    ({"type": "json-path", "path": "$.priority", "value": "low"}, GOOD, "failed"),
    ({"type": "json-path", "path": "$.items[1].n", "value": 1}, GOOD, "passed"),
    ({"type": "json-path", "path": "$.items[*].n", "value": 1}, GOOD, "passed"),
    ({"type": "json-path", "path": "$.missing", "value": 1}, GOOD, "failed"),
    ({"type": "json-path", "path": "$['reply']", "value": "Hi Ana, done."}, GOOD, "passed"),
    ({"type": "max-length", "value": 500}, GOOD, "passed"),
    ({"type": "max-length", "value": 5}, GOOD, "failed"),
    ({"type": "equals", "value": "héllo ✓"}, "héllo ✓", "passed"),
]


@pytest.mark.parametrize(("spec", "output", "status"), TABLE)
def test_kinds(spec: dict, output: str, status: str) -> None:
    r = check(spec, output)
    assert r.status == status, r
    assert r.reason


def test_json_schema_defaults_to_the_prompts_output_schema() -> None:
    assert check({"type": "json-schema"}, output_schema=SCHEMA).status == "passed"
    r = check({"type": "json-schema"}, '{"reply": 3}', output_schema=SCHEMA)
    assert r.status == "failed" and "$.reply" in r.reason or "priority" in r.reason
    assert check({"type": "json-schema"}).status == "error"  # no schema anywhere


def test_latency_and_cost() -> None:
    assert check({"type": "latency", "threshold": 500}, latency_ms=120).status == "passed"
    assert check({"type": "latency", "threshold": 100}, latency_ms=120).status == "failed"
    assert check({"type": "cost", "threshold": 0.01}, cost_usd=0.002).status == "passed"
    assert check({"type": "cost", "threshold": 0.001}, cost_usd=0.002).status == "failed"
    unknown = check({"type": "cost", "threshold": 0.01}, cost_usd=None)
    assert unknown.status == "error" and "price" in unknown.reason  # never a silent pass


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "json-pth"}, "did you mean 'json-path'"),
        ({"type": "regex", "valeu": "x"}, "did you mean 'value'"),
        ({"type": "regex", "value": "(unclosed"}, "invalid regular expression"),
        ({"type": "json-path", "path": "priority"}, r"starts with '\$'"),
        ({"value": 1}, "needs a `type`"),
    ],
)
def test_bad_specs_are_usage_errors(spec: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message) as err:
        parse_assertion(spec, "suites/x.yaml")
    assert err.value.file == "suites/x.yaml"


def test_an_exception_inside_an_assertion_is_an_error_not_a_failure() -> None:
    @assertion("explodes")
    class Explodes(Assertion):
        def evaluate(self, ctx):
            raise RuntimeError("boom")

    try:
        r = check({"type": "explodes"})
        assert r.status == "error" and "boom" in r.reason and not r.passed
    finally:
        plugins.unregister("assertion", "explodes")


def test_custom_assertion_registers_like_builtins() -> None:
    @assertion("word-count")
    class WordCount(Assertion):
        max: int = 10

        def evaluate(self, ctx):
            n = len(ctx.output.split())
            return self.result(n <= self.max, f"{n} words")

    try:
        assert check({"type": "word-count", "max": 3}, "one two").status == "passed"
        assert check({"type": "word-count", "max": 1}, "one two").status == "failed"
    finally:
        plugins.unregister("assertion", "word-count")


FENCED_THEN_TEXT = '```json\n{"reply": "Hi", "priority": "high"}\n```\nHope this helps!'


def test_one_json_parser_judges_a_fence_followed_by_text() -> None:
    """is-json, json-schema and the schema gate read model output with the same parser, so a
    fenced block followed by prose is not JSON for any of them (it once passed the gate)."""
    import gates.schema
    from promptrail.outputs import parse_json_output

    assert gates.schema.parse_json_output is parse_json_output
    r = check({"type": "is-json"}, FENCED_THEN_TEXT)
    assert r.status == "failed" and "text after the closing code fence" in r.reason
    assert check({"type": "json-schema", "value": SCHEMA}, FENCED_THEN_TEXT).status == "failed"
    fenced = '```json\n{"reply": "Hi", "priority": "high"}\n```\n'
    assert check({"type": "json-schema", "value": SCHEMA}, fenced).status == "passed"
    assert parse_json_output(fenced) == ({"reply": "Hi", "priority": "high"}, True)
    assert parse_json_output(' {"a": "```"} ') == ({"a": "```"}, False)
