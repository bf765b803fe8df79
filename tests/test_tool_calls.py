"""The strict fake server, tool-call assertions, and tool calls and structured output captured
in case_results and shown in reports: all through the real SDKs at the wire level."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeLLMServer
from test_tools import TOOLS_PROMPT

SUITE = """\
prompt: booking
cases:
  - id: refund
    vars: {question: "Refund order 7, 20 EUR"}
    assert:
      - {type: tool-call, name: refund, args: {order_id: "7"}}
  - id: chat
    vars: {question: "Hello"}
    assert:
      - {type: no-tool-call}
"""


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


OK_ANTHROPIC = {
    "model": "claude-3-5-haiku-latest",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "hi"}],
}
OK_OPENAI = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("protocol", "change", "message"),
    [
        ("anthropic", {"max_tokens": None}, "max_tokens: Field required"),
        ("anthropic", {"temperature": 0.2}, "temperature: Extra inputs are not permitted"),
        (
            "anthropic",
            {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
            "roles must alternate",
        ),
        ("anthropic", {"messages": [{"role": "assistant", "content": "a"}]}, "first message"),
        (
            "anthropic",
            {"tools": [{"name": "x", "parameters": {"type": "object"}}]},
            "Extra inputs are not permitted",
        ),
        (
            "anthropic",
            {
                "tools": [{"name": "x", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "tool", "name": "y"},
            },
            "tool 'y' not found",
        ),
        (
            "anthropic",
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}],
                    }
                ]
            },
            "corresponding `tool_use` block",
        ),
        ("openai", {"foo": 1}, "Unrecognized request argument supplied: foo"),
        ("openai", {"tools": [{"name": "x"}]}, "tools[0].type"),
        (
            "openai",
            {
                "tools": [
                    {"type": "function", "function": {"name": "x", "parameters": {"type": "array"}}}
                ]
            },
            "schema must be of type 'object'",
        ),
        ("openai", {"tool_choice": "required"}, "only allowed when 'tools' are specified"),
        (
            "openai",
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
            "json_schema.name",
        ),
        (
            "openai",
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "o",
                        "strict": True,
                        "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
                    },
                }
            },
            "additionalProperties: false",
        ),
        ("openai", {"model": "o3-mini", "max_tokens": 5}, "Use 'max_completion_tokens' instead"),
        ("openai", {"model": "o3-mini", "temperature": 0.5}, "'temperature' is not supported"),
        (
            "openai",
            {"messages": [{"role": "tool", "tool_call_id": "c1", "content": "x"}]},
            "must be a response to a preceeding message with 'tool_calls'",
        ),
    ],
)
def test_the_fake_server_refuses_what_the_apis_refuse(
    protocol: str, change: dict[str, Any], message: str
) -> None:
    base = dict(OK_ANTHROPIC if protocol == "anthropic" else OK_OPENAI)
    path = "/v1/messages" if protocol == "anthropic" else "/v1/chat/completions"
    with FakeLLMServer() as server:
        assert post(server.url + path, base)[0] == 200
        body = {k: v for k, v in {**base, **change}.items() if v is not None}
        status, reply = post(server.url + path, body)
        assert status == 400, reply
        assert message in json.dumps(reply), reply
    with FakeLLMServer(strict=False) as lenient:
        assert post(lenient.url + path, body)[0] == 200


def _booking(workspace: Path, provider_model: str | None = None) -> None:
    text = TOOLS_PROMPT
    if provider_model == "anthropic":
        text = text.replace(
            "  provider: openai\n  name: gpt-4o-mini\n  max_tokens: 200\n  overrides:\n    anthropic: {name: claude-3-5-haiku-latest, max_tokens: 300}\n",
            "  provider: anthropic\n  name: claude-3-5-haiku-latest\n  max_tokens: 300\n",
        )
    (workspace / "prompts/booking.yaml").write_text(text)
    (workspace / "suites/booking.yaml").write_text(SUITE)


def _responder(tool: str) -> Any:
    def answer(body: dict[str, Any], protocol: str) -> Any:
        last = json.dumps(body["messages"][-1])
        if "Refund order 7" in last:
            return {"tool_calls": [{"name": tool, "arguments": {"order_id": "7", "amount": 20}}]}
        return "Hello! How can I help?"

    return answer


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_suite_asserting_a_tool_call_passes_and_fails_at_the_wire(
    workspace: Path, cli: Any, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    _booking(workspace, provider)
    with FakeLLMServer(responder=_responder("refund")) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, out, err = cli("-C", str(workspace), "gate", "booking", "--cache", "off", "--json")
        assert code == 0, out + err
        sent = [r["body"] for r in server.requests]
        assert all(len(b["tools"]) == 2 for b in sent)
        run_id = json.loads(out)["run_id"]
        from promptrail.store import Store

        rows = Store(workspace / ".promptrail/promptrail.duckdb").query(
            "SELECT case_id, passed, tool_calls FROM case_results WHERE run_id = ? ORDER BY case_id",
            [run_id],
        )[1]
        assert [(r[0], r[1]) for r in rows] == [("chat", True), ("refund", True)]
        calls = json.loads(rows[1][2])
        assert [(c["name"], c["arguments"]) for c in calls] == [
            ("refund", {"order_id": "7", "amount": 20})
        ]
        assert rows[0][2] is None
        code, md, _ = cli("-C", str(workspace), "report", run_id, "--format", "html")
        assert code == 0 and "schema" in md

    with FakeLLMServer(responder=_responder("lookup_order")) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, out, err = cli("-C", str(workspace), "gate", "booking", "--cache", "off", "--json")
        assert code == 1, out + err
        regression = [
            g for g in json.loads(out)["prompts"][0]["gates"] if g["gate"] == "regression"
        ][0]
        assert regression["status"] == "failed"
        run_id = json.loads(out)["run_id"]
        code, md, _ = cli("-C", str(workspace), "report", run_id, "--format", "md")
        assert "expected a call of 'refund'; the model called lookup_order" in md
        assert 'tool calls: `lookup_order({"order_id": "7", "amount": 20})' in md


def test_tool_call_arguments_must_fit_the_tools_schema(
    workspace: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _booking(workspace)

    def bad(body: dict[str, Any], protocol: str) -> Any:
        if "Refund order 7" in json.dumps(body["messages"][-1]):
            return {
                "tool_calls": [
                    {"name": "refund", "arguments": {"order_id": "7", "amount": "twenty"}}
                ]
            }
        return "hi"

    with FakeLLMServer(responder=bad) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, out, err = cli("-C", str(workspace), "gate", "booking", "--cache", "off", "--json")
    assert code == 1, out + err
    gates = {g["gate"]: g for g in json.loads(out)["prompts"][0]["gates"]}
    assert gates["schema"]["status"] == "failed"
    assert "0/1 tool calls' arguments conform" in gates["schema"]["summary"]
    assert (
        "refund arguments $.amount: 'twenty' is not of type 'number'" in gates["schema"]["summary"]
    )


def test_structured_output_is_requested_and_captured(
    workspace: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def answer(body: dict[str, Any], protocol: str) -> Any:
        return {"json": {"answer": "Reset your password on the login page.", "confident": True}}

    with FakeLLMServer(responder=answer) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, out, err = cli("-C", str(workspace), "gate", "faq-answer", "--cache", "off", "--json")
        assert code == 0, out + err
        body = server.requests[0]["body"]
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["strict"] is True
    run_id = json.loads(out)["run_id"]
    gates = {g["gate"]: g for g in json.loads(out)["prompts"][0]["gates"]}
    assert gates["schema"]["status"] == "passed" and "outputs conform" in gates["schema"]["summary"]
    from promptrail.store import Store

    rows = Store(workspace / ".promptrail/promptrail.duckdb").query(
        "SELECT structured_output FROM case_results WHERE run_id = ?", [run_id]
    )[1]
    assert rows and all(
        json.loads(r[0]) == {"answer": "Reset your password on the login page.", "confident": True}
        for r in rows
    )
