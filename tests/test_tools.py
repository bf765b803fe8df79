"""Prompts that describe today's model calls: tools, tool_choice, structured output,
per-provider settings and overrides, conversation placeholders; their hash and semver."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from promptrail.diff import interface_changes
from promptrail.semver import max_bump

PROMPT = "prompts/faq-answer.yaml"

TOOLS_PROMPT = """\
name: booking
version: 1.0.0
model:
  provider: openai
  name: gpt-4o-mini
  max_tokens: 200
  overrides:
    anthropic: {name: claude-3-5-haiku-latest, max_tokens: 300}
input_schema:
  type: object
  properties:
    question: {type: string}
    history: {type: array}
tools:
  - name: lookup_order
    description: Find an order by its number
    parameters:
      type: object
      required: [order_id]
      properties:
        order_id: {type: string}
  - name: refund
    description: Refund an order
    parameters:
      type: object
      required: [order_id, amount]
      properties:
        order_id: {type: string}
        amount: {type: number}
tool_choice: auto
messages:
  - role: system
    content: You help with orders.
  - role: user
    content: Where is order 7?
  - role: assistant
    tool_calls:
      - {id: call_1, name: lookup_order, arguments: {order_id: "7"}}
  - role: tool
    tool_call_id: call_1
    content: '{"status": "shipped"}'
  - role: assistant
    content: It has shipped.
  - placeholder: history
  - role: user
    content: "{{ question }}"
"""


def write(ws: Path, rel: str, text: str) -> None:
    (ws / rel).write_text(text, encoding="utf-8")


def edit(ws: Path, rel: str, old: str, new: str) -> None:
    text = (ws / rel).read_text(encoding="utf-8")
    assert old in text, (old, rel)
    (ws / rel).write_text(text.replace(old, new, 1), encoding="utf-8")


def render(cli: Any, ws: Path, *args: str) -> tuple[int, Any, str]:
    code, out, err = cli("-C", str(ws), "render", *args, "--json")
    return code, (json.loads(out)["request"] if code == 0 else None), err + out


def test_two_tools_render_for_openai_and_anthropic(workspace: Path, cli: Any) -> None:
    write(workspace, "prompts/booking.yaml", TOOLS_PROMPT)
    history = json.dumps(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    )
    code, body, err = render(
        cli, workspace, "booking", "--var", "question=Refund it", "--var", f"history={history}"
    )
    assert code == 0, err
    assert body["model"] == "gpt-4o-mini" and body["max_tokens"] == 200
    assert [t["function"]["name"] for t in body["tools"]] == ["lookup_order", "refund"]
    assert body["tools"][1] == {
        "type": "function",
        "function": {
            "name": "refund",
            "description": "Refund an order",
            "parameters": {
                "type": "object",
                "required": ["order_id", "amount"],
                "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
            },
        },
    }
    assert body["tool_choice"] == "auto"
    roles = [m["role"] for m in body["messages"]]
    assert roles == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    call = body["messages"][2]["tool_calls"][0]
    assert call["function"] == {"name": "lookup_order", "arguments": '{"order_id": "7"}'}
    assert body["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"status": "shipped"}',
    }
    assert body["messages"][5:7] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]

    code, body, err = render(
        cli, workspace, "booking", "--var", "question=Refund it", "--provider", "anthropic"
    )
    assert code == 0, err
    assert body["model"] == "claude-3-5-haiku-latest" and body["max_tokens"] == 300
    assert body["system"] == "You help with orders."
    assert body["tools"][0] == {
        "name": "lookup_order",
        "description": "Find an order by its number",
        "input_schema": {
            "type": "object",
            "required": ["order_id"],
            "properties": {"order_id": {"type": "string"}},
        },
    }
    assert body["tool_choice"] == {"type": "auto"}
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "lookup_order", "input": {"order_id": "7"}}
    ]
    assert msgs[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": '{"status": "shipped"}'}
    ]


@pytest.mark.parametrize(
    ("choice", "openai", "anthropic"),
    [
        ("none", "none", {"type": "none"}),
        ("required", "required", {"type": "any"}),
        (
            "{name: refund}",
            {"type": "function", "function": {"name": "refund"}},
            {"type": "tool", "name": "refund"},
        ),
    ],
)
def test_tool_choice_wire_forms(
    workspace: Path, cli: Any, choice: str, openai: Any, anthropic: Any
) -> None:
    write(
        workspace,
        "prompts/booking.yaml",
        TOOLS_PROMPT.replace("tool_choice: auto", f"tool_choice: {choice}"),
    )
    assert render(cli, workspace, "booking", "--var", "question=x")[1]["tool_choice"] == openai
    assert (
        render(cli, workspace, "booking", "--var", "question=x", "--provider", "anthropic")[1][
            "tool_choice"
        ]
        == anthropic
    )


def test_structured_output_is_requested_unless_opted_out(workspace: Path, cli: Any) -> None:
    code, body, err = render(cli, workspace, "faq-answer", "--var", "question=Hi")
    assert code == 0, err
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["answer", "confident"]
    assert "$schema" not in fmt["json_schema"]["schema"]
    code, body, err = render(
        cli, workspace, "faq-answer", "--var", "question=Hi", "--provider", "anthropic"
    )
    assert code == 0, err
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert body["output_config"]["format"]["schema"]["required"] == ["answer", "confident"]
    edit(
        workspace,
        PROMPT,
        "  max_tokens: 300\n  overrides",
        "  max_tokens: 300\n  structured_output: false\n  overrides",
    )
    body = render(cli, workspace, "faq-answer", "--var", "question=Hi")[1]
    assert "response_format" not in body
    assert (
        "output_config"
        not in render(
            cli, workspace, "faq-answer", "--var", "question=Hi", "--provider", "anthropic"
        )[1]
    )


def test_a_schema_strict_mode_cannot_take_names_the_line(workspace: Path, cli: Any) -> None:
    schema = json.loads((workspace / "schemas/faq_answer.json").read_text())
    schema["properties"]["source"] = {"type": "string"}  # optional: strict mode needs it required
    (workspace / "schemas/faq_answer.json").write_text(json.dumps(schema))
    code, _, err = cli("-C", str(workspace), "lint")
    assert code == 2
    assert "prompts/faq-answer.yaml:18:" in err and "every property must be required" in err
    assert "$: every property must be required" in err and "source" in err
    edit(
        workspace,
        PROMPT,
        "  max_tokens: 300\n  overrides",
        "  max_tokens: 300\n  structured_output: false\n  overrides",
    )
    code, out, err = cli("-C", str(workspace), "lint")
    assert code == 0, out + err


def test_no_override_means_no_request_for_that_provider(workspace: Path, cli: Any) -> None:
    text = (workspace / PROMPT).read_text()
    start = text.index("  overrides:")
    end = text.index("uses:")
    (workspace / PROMPT).write_text(text[:start] + text[end:])
    code, body, err = render(
        cli, workspace, "faq-answer", "--var", "question=Hi", "--provider", "anthropic"
    )
    assert code == 2
    assert "needs model.overrides.anthropic" in err and "gpt-4o-mini" not in err


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            "provider: openai",
            "provider: opnai",
            6,
            "unknown provider 'opnai'; did you mean 'openai'?",
        ),
        (
            "temperature: 0.2",
            "temperature: 0.2\n  thinking_budget: 2048",
            9,
            "'thinking_budget' cannot go to openai",
        ),
        (
            "name: gpt-4o-mini\n  temperature: 0.2",
            "name: o3-mini\n  temperature: 0.2",
            8,
            "o3-mini is a reasoning model: the API rejects temperature",
        ),
        ("temperature: 0.2", "reasoning_effort: high", 8, "gpt-4o-mini is not a reasoning model"),
        (
            "anthropic: {name: claude-3-5-haiku-latest, max_tokens: 300}",
            "anthropic: {name: claude-3-5-haiku-latest, temperature: 0.3}",
            11,
            "'temperature' cannot go to anthropic: the Anthropic API (2026-10-21) rejects temperature",
        ),
        (
            "anthropic: {name: claude-3-5-haiku-latest, max_tokens: 300}",
            "antropic: {name: claude-3-5-haiku-latest}",
            11,
            "unknown provider 'antropic'",
        ),
    ],
)
def test_settings_a_provider_cannot_take_are_exit_2_with_the_line(
    workspace: Path, cli: Any, old: str, new: str, line: int, message: str
) -> None:
    edit(workspace, PROMPT, old, new)
    for verb in (("lint",), ("render", "faq-answer", "--var", "question=x"), ("lock", "--check")):
        code, _, err = cli("-C", str(workspace), *verb)
        assert code == 2, (verb, err)
        assert f"prompts/faq-answer.yaml:{line}:" in err and message in err, err


def test_reasoning_models_get_max_completion_tokens(workspace: Path, cli: Any) -> None:
    edit(
        workspace,
        PROMPT,
        "name: gpt-4o-mini\n  temperature: 0.2",
        "name: o3-mini\n  reasoning_effort: low\n  seed: 7",
    )
    code, body, err = render(cli, workspace, "faq-answer", "--var", "question=x")
    assert code == 0, err
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body
    assert body["reasoning_effort"] == "low" and body["seed"] == 7


def test_anthropic_effort_thinking_and_stop(workspace: Path, cli: Any) -> None:
    edit(
        workspace,
        PROMPT,
        "anthropic: {name: claude-3-5-haiku-latest, max_tokens: 300}",
        "anthropic: {name: claude-sonnet-4-5, max_tokens: 4000, thinking_budget: 2048, reasoning_effort: high, stop: [END]}",
    )
    code, body, err = render(
        cli, workspace, "faq-answer", "--var", "question=x", "--provider", "anthropic"
    )
    assert code == 0, err
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["output_config"]["effort"] == "high" and body["stop_sequences"] == ["END"]


@pytest.mark.parametrize(
    ("old", "new", "line", "message", "code"),
    [
        (
            "tool_choice: auto",
            "tool_choice: {name: cancel}",
            30,
            "tool_choice names 'cancel', which is not a declared tool",
            2,
        ),
        (
            "  - name: refund\n",
            "  - name: lookup_order\n",
            22,
            "tool 'lookup_order' is declared twice",
            2,
        ),
        (
            "        amount: {type: number}",
            "        amount: {type: numbr}",
            24,
            "parameters is not a valid JSON Schema",
            2,
        ),
        ("  - name: refund\n", "  - name: refund now\n", 22, "tools.1.name", 2),
        (
            "name: lookup_order, arguments",
            "name: cancel, arguments",
            38,
            "calls tool 'cancel', which is not declared",
            2,
        ),
    ],
)
def test_bad_tools_are_exit_2_with_the_line(
    workspace: Path, cli: Any, old: str, new: str, line: int, message: str, code: int
) -> None:
    write(workspace, "prompts/booking.yaml", TOOLS_PROMPT.replace(old, new, 1))
    got, _, err = cli("-C", str(workspace), "render", "booking", "--var", "question=x")
    assert got == code, err
    assert f"prompts/booking.yaml:{line}:" in err and message in err, err


def test_content_hash_covers_tools_and_keeps_older_prompts_stable(workspace: Path) -> None:
    from promptrail.workspace import Workspace

    write(workspace, "prompts/booking.yaml", TOOLS_PROMPT)
    a = Workspace(workspace).resolve("booking")
    write(
        workspace,
        "prompts/booking.yaml",
        TOOLS_PROMPT.replace("Refund an order", "Refund an order in full"),
    )
    b = Workspace(workspace).resolve("booking")
    write(
        workspace,
        "prompts/booking.yaml",
        TOOLS_PROMPT.replace("tool_choice: auto", "tool_choice: required"),
    )
    c = Workspace(workspace).resolve("booking")
    assert len({a.content_hash, b.content_hash, c.content_hash}) == 3
    faq = Workspace(workspace).resolve("faq-answer")
    assert "tools" not in faq.content() and "tool_choice" not in faq.content()


# -- the semver classifier over tools ------------------------------------------------------
def _tools() -> list[dict[str, Any]]:
    return [
        {
            "name": "lookup_order",
            "description": "Find an order",
            "parameters": {
                "type": "object",
                "required": ["order_id"],
                "properties": {
                    "order_id": {"type": "string", "description": "the number"},
                    "email": {"type": "string"},
                },
            },
        },
        {
            "name": "refund",
            "description": "Refund",
            "parameters": {"type": "object", "properties": {}},
        },
    ]


def _prompt(tools: list[dict[str, Any]], choice: Any = None) -> Any:
    return SimpleNamespace(
        model={"provider": "openai", "name": "gpt-4o-mini"},
        input_schema={},
        output_schema=None,
        messages=[{"role": "user", "content": "hi"}],
        tools=tools,
        tool_choice=choice,
    )


def _lookup(tools: list[dict[str, Any]]) -> dict[str, Any]:
    return tools[0]["parameters"]


TOOL_CASES = [
    ("remove a tool", lambda t: t.pop(1), "major"),
    (
        "add a tool",
        lambda t: t.append({"name": "cancel", "parameters": {"type": "object"}}),
        "minor",
    ),
    ("remove a parameter", lambda t: _lookup(t)["properties"].pop("email"), "major"),
    ("newly require a parameter", lambda t: _lookup(t)["required"].append("email"), "major"),
    (
        "add a required parameter",
        lambda t: (
            _lookup(t)["properties"].update(note={"type": "string"}),
            _lookup(t)["required"].append("note"),
        ),
        "major",
    ),
    (
        "add an optional parameter",
        lambda t: _lookup(t)["properties"].update(note={"type": "string"}),
        "minor",
    ),
    ("make a parameter optional", lambda t: _lookup(t)["required"].clear(), "minor"),
    (
        "change a parameter's type",
        lambda t: _lookup(t)["properties"]["order_id"].update(type="integer"),
        "major",
    ),
    ("change a tool description", lambda t: t[0].update(description="Find one order"), "patch"),
    (
        "change a parameter description",
        lambda t: _lookup(t)["properties"]["order_id"].update(description="the order number"),
        "patch",
    ),
]


@pytest.mark.parametrize(("what", "change", "bump"), TOOL_CASES, ids=[c[0] for c in TOOL_CASES])
def test_tool_changes_bump(what: str, change: Any, bump: str) -> None:
    old, new = _tools(), _tools()
    change(new)
    changes = interface_changes(_prompt(old), _prompt(new))
    assert max_bump(*(c.bump for c in changes)) == bump, [c.to_dict() for c in changes]


CHOICE_CASES = [
    (None, "required", "major"),
    ("auto", {"name": "refund"}, "major"),
    ("required", {"name": "refund"}, "major"),
    ("auto", "none", "major"),
    ("none", "auto", "minor"),
    ("required", "auto", "minor"),
    ({"name": "refund"}, "required", "minor"),
    ({"name": "refund"}, {"name": "lookup_order"}, "major"),
    (None, "auto", "none"),
]


@pytest.mark.parametrize(("old", "new", "bump"), CHOICE_CASES)
def test_tool_choice_narrowing_is_major(old: Any, new: Any, bump: str) -> None:
    changes = interface_changes(_prompt(_tools(), old), _prompt(_tools(), new))
    assert max_bump(*(c.bump for c in changes)) == bump


def test_removing_a_tool_is_a_major_bump_through_the_cli(workspace: Path, cli: Any) -> None:
    from conftest import git

    write(workspace, "prompts/booking.yaml", TOOLS_PROMPT)
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "booking")
    text = (
        TOOLS_PROMPT.split("  - name: refund")[0]
        + "tool_choice: auto"
        + TOOLS_PROMPT.split("tool_choice: auto")[1]
    )
    write(workspace, "prompts/booking.yaml", text)
    code, out, err = cli("-C", str(workspace), "diff", "booking", "git:HEAD", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["bump"] == "major"
    assert {
        "kind": "tool-removed",
        "path": "tools.refund",
        "bump": "major",
        "detail": "tool 'refund' removed",
    } in data["changes"]
