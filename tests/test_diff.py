"""The interface diff and the bump it calls for, table-driven."""

from __future__ import annotations

import copy

import pytest

from promptrail.diff import compare
from promptrail.resolve import ResolvedPrompt

BASE = ResolvedPrompt(
    name="p",
    version="1.0.0",
    description="",
    model={"provider": "openai", "name": "gpt-4o-mini", "temperature": 0.2},
    input_schema={
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
    },
    output_schema={
        "type": "object",
        "required": ["reply"],
        "additionalProperties": False,
        "properties": {"reply": {"type": "string"}, "priority": {"enum": ["low", "high"]}},
    },
    messages=[
        {"role": "system", "content": "Be kind. Answer in JSON."},
        {"role": "user", "content": "{{ a }} {{ b }}"},
    ],
)


def change(fn):
    new = copy.deepcopy(BASE)
    fn(new)
    return new


TABLE = [
    ("nothing", lambda p: None, "none"),
    ("wording", lambda p: p.messages[0].update(content="Be very kind. Answer in JSON."), "patch"),
    ("provider", lambda p: p.model.update(provider="anthropic"), "major"),
    ("model name", lambda p: p.model.update(name="gpt-4o"), "minor"),
    ("temperature", lambda p: p.model.update(temperature=0.7), "minor"),
    ("new parameter", lambda p: p.model.update(max_tokens=100), "minor"),
    ("variable removed", lambda p: p.input_schema["properties"].pop("b"), "major"),
    (
        "new optional variable",
        lambda p: p.input_schema["properties"].update(c={"type": "string"}),
        "minor",
    ),
    (
        "new required variable",
        lambda p: (
            p.input_schema["properties"].update(c={"type": "string"}),
            p.input_schema["required"].append("c"),
        ),
        "major",
    ),
    ("optional becomes required", lambda p: p.input_schema["required"].append("b"), "major"),
    ("variable type", lambda p: p.input_schema["properties"]["a"].update(type="integer"), "major"),
    ("output field removed", lambda p: p.output_schema["properties"].pop("priority"), "major"),
    (
        "optional output field added",
        lambda p: p.output_schema["properties"].update(tags={"type": "array"}),
        "minor",
    ),
    (
        "required output field added",
        lambda p: (
            p.output_schema["properties"].update(team={"type": "string"}),
            p.output_schema["required"].append("team"),
        ),
        "major",
    ),
    (
        "enum widened",
        lambda p: p.output_schema["properties"]["priority"].update(enum=["low", "high", "urgent"]),
        "minor",
    ),
    (
        "enum narrowed",
        lambda p: p.output_schema["properties"]["priority"].update(enum=["low"]),
        "major",
    ),
    (
        "output type changed",
        lambda p: p.output_schema["properties"]["reply"].update(type="object"),
        "major",
    ),
    ("output schema removed", lambda p: setattr(p, "output_schema", None), "major"),
    ("field no longer required", lambda p: p.output_schema["required"].remove("reply"), "minor"),
    (
        "constraint tightened",
        lambda p: p.output_schema["properties"]["reply"].update(maxLength=10),
        "major",
    ),
    (
        "wording and optional variable",
        lambda p: (
            p.messages[1].update(content="{{ a }} {{ b }} {{ c }}"),
            p.input_schema["properties"].update(c={"type": "string"}),
        ),
        "minor",
    ),
]


@pytest.mark.parametrize(("label", "fn", "bump"), TABLE, ids=[t[0] for t in TABLE])
def test_bump_follows_interface_diff(label: str, fn, bump: str) -> None:
    result = compare(BASE, change(fn))
    assert result["bump"] == bump, result["changes"]


def test_rendered_diff_shows_text() -> None:
    new = change(lambda p: p.messages[0].update(content="Be brief. Answer in JSON."))
    diff = compare(BASE, new)["rendered_diff"]
    assert "-Be kind. Answer in JSON." in diff and "+Be brief. Answer in JSON." in diff
