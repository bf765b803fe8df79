"""Named provider instances and provider kinds, each at the wire level against the local fake
server (no network): openai, anthropic, openai-compatible, azure-openai, bedrock, vertex, and a
third-party kind installed as a real distribution; their settings and prices."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeLLMServer
from test_custom_gate import install_dist

from promptrail import plugins
from promptrail.errors import UsageError
from promptrail.providers import ModelClient, ModelRequest

MESSAGES = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"})
FAST = {"max_attempts": 1, "timeout": 10}


def headers(req: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in req["headers"].items()}


def complete(providers: dict[str, Any], instance: str, model: str, **params: Any) -> Any:
    client = ModelClient(providers, mode="off")

    async def go() -> Any:
        try:
            return await client.complete(ModelRequest(instance, model, MESSAGES, params))
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.fixture
def two_servers(monkeypatch: pytest.MonkeyPatch):
    """The SDKs' default variables point at one server; instances name the other."""
    with (
        FakeLLMServer(responder=lambda b, p: "default") as default,
        FakeLLMServer(responder=lambda b, p: "own") as own,
    ):
        for k, v in default.env().items():
            monkeypatch.setenv(k, v)
        yield default, own


def test_an_anthropic_instance_reaches_its_own_base_url(
    two_servers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    default, own = two_servers
    monkeypatch.setenv("CLINIC_KEY", "sk-clinic-0123456789")
    providers = {
        "clinic-llm": {
            "kind": "anthropic",
            "base_url": own.url,
            "api_key_env": "CLINIC_KEY",
            **FAST,
        }
    }
    resp = complete(providers, "clinic-llm", "claude-3-5-haiku-latest", max_tokens=50)
    assert resp.text == "own" and default.requests == []
    (req,) = own.requests
    h = headers(req)
    assert req["path"] == "/v1/messages"
    assert "sk-clinic-0123456789" in (h.get("x-api-key") or h.get("authorization", ""))
    assert req["body"]["max_tokens"] == 50 and req["body"]["system"] == "Be brief."
    assert resp.cost_usd is not None and resp.cost_usd > 0  # priced as anthropic's model


def test_openai_compatible_instance(two_servers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    default, own = two_servers
    providers = {
        "local": {
            "kind": "openai-compatible",
            "base_url": own.openai_base_url,
            "price_as": "gpt-4o-mini",
            **FAST,
        }
    }
    resp = complete(providers, "local", "llama-3.1-8b", seed=3)
    assert resp.text == "own" and default.requests == []
    (req,) = own.requests
    assert req["path"] == "/v1/chat/completions" and req["body"]["model"] == "llama-3.1-8b"
    assert req["body"]["seed"] == 3
    from promptrail.providers.pricing import price

    assert resp.cost_usd == pytest.approx(
        price("openai", "gpt-4o-mini", resp.input_tokens, resp.output_tokens)[0]
    )
    assert "as gpt-4o-mini" in resp.price_source


def test_azure_openai_instance(two_servers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    default, own = two_servers
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-0123456789")
    providers = {
        "azure-prod": {
            "kind": "azure-openai",
            "endpoint": own.url,
            "api_version": "2024-10-21",
            "prices": {"*": {"input": 1.0, "output": 2.0}},
            **FAST,
        }
    }
    resp = complete(providers, "azure-prod", "support-gpt4o-mini", max_tokens=20)
    assert resp.text == "own" and default.requests == []
    (req,) = own.requests
    assert req["path"] == "/openai/deployments/support-gpt4o-mini/chat/completions"
    assert headers(req)["api-key"] == "azure-key-0123456789"
    assert resp.cost_usd == pytest.approx(
        (resp.input_tokens * 1.0 + resp.output_tokens * 2.0) / 1e6
    )


def test_bedrock_instance_signs_and_routes_by_model(
    two_servers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    default, own = two_servers
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-0123456789")
    model = "anthropic.claude-3-5-haiku-20241022-v1:0"
    providers = {
        "claude-aws": {"kind": "bedrock", "region": "eu-central-1", "base_url": own.url, **FAST}
    }
    resp = complete(providers, "claude-aws", model, max_tokens=40)
    assert resp.text == "own" and default.requests == []
    (req,) = own.requests
    assert req["path"] == f"/model/{model}/invoke"
    assert headers(req)["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE/")
    assert "model" not in req["body"] or req["body"]["model"] == model  # the server adds it back
    assert req["body"]["max_tokens"] == 40
    assert resp.cost_usd is None  # a Bedrock model id is not in the table without price_as


def test_vertex_instance(two_servers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    default, own = two_servers
    monkeypatch.setenv("VERTEX_TOKEN", "ya29.fake-token-0123456789")
    providers = {
        "claude-gcp": {
            "kind": "vertex",
            "region": "europe-west1",
            "project_id": "acme-prod",
            "base_url": own.url + "/v1",
            "access_token_env": "VERTEX_TOKEN",
            "price_as": "claude-3-5-haiku-latest",
            **FAST,
        }
    }
    resp = complete(providers, "claude-gcp", "claude-3-5-haiku@20241022", max_tokens=30)
    assert resp.text == "own" and default.requests == []
    (req,) = own.requests
    assert req["path"] == (
        "/v1/projects/acme-prod/locations/europe-west1/publishers/anthropic/models/"
        "claude-3-5-haiku@20241022:rawPredict"
    )
    assert headers(req)["authorization"] == "Bearer ya29.fake-token-0123456789"
    assert resp.cost_usd is not None and resp.cost_usd > 0


@pytest.fixture
def echo_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    here = Path(__file__).parent / "plugin_example"
    site = tmp_path / "site"
    install_dist(
        site, "echo-llm", [here / "echo_llm.py"], "[promptrail.providers]\necho-llm = echo_llm\n"
    )
    monkeypatch.syspath_prepend(str(site))
    plugins.refresh()
    yield site
    plugins.refresh()
    sys.modules.pop("echo_llm", None)


def test_a_third_party_kind_through_the_entry_point(
    echo_installed: Path, workspace: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeLLMServer(
        responder=lambda b, p: '{"answer": "Reset your password.", "confident": true}'
    ) as server:
        monkeypatch.setenv("ECHO_TOKEN", "echo-token-0123456789")
        cfg = workspace / "promptrail.yaml"
        cfg.write_text(
            cfg.read_text()
            + f"providers:\n  echo: {{kind: echo-llm, endpoint: '{server.openai_base_url}', price_as: gpt-4o-mini}}\n"
            if "providers:" not in cfg.read_text()
            else cfg.read_text().replace(
                "providers:\n",
                f"providers:\n  echo: {{kind: echo-llm, endpoint: '{server.openai_base_url}', price_as: gpt-4o-mini}}\n",
            )
        )
        prompt = workspace / "prompts/faq-answer.yaml"
        prompt.write_text(
            prompt.read_text()
            .replace("provider: openai", "provider: echo")
            .replace("version: 0.1.0", "version: 0.2.0")
        )
        code, out, err = cli("-C", str(workspace), "gate", "faq-answer", "--cache", "off", "--json")
        assert code == 0, out + err
        assert server.requests and all(
            headers(r)["authorization"] == "Bearer echo-token-0123456789" for r in server.requests
        )
        assert server.requests[0]["body"]["response_format"]["json_schema"]["strict"] is True
        code, out, err = cli("-C", str(workspace), "plugins", "--kind", "provider", "--json")
        assert "echo-llm" in out
        prompt.write_text(prompt.read_text().replace("temperature: 0.2", "seed: 1"))
        code, _, err = cli("-C", str(workspace), "lint")
        assert code == 2 and "'seed' cannot go to echo: echo-llm has no seed" in err


def _add_provider(workspace: Path, entry: str) -> Path:
    cfg = workspace / "promptrail.yaml"
    text = cfg.read_text()
    if "\nproviders:\n" in text:
        text = text.replace("\nproviders:\n", f"\nproviders:\n{entry}", 1)
    else:
        text += f"providers:\n{entry}"
    cfg.write_text(text)
    return cfg


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "  clinic: {kind: anthropic, base_ur: 'http://x'}\n",
            "providers.clinic: unknown key 'base_ur' for kind 'anthropic'; did you mean 'base_url'?",
        ),
        ("  clinic: {kind: antropic}\n", "unknown provider 'antropic'"),
        ("  clinic: {base_url: 'http://x'}\n", "providers.clinic: needs a `kind`"),
        (
            "  azure: {kind: azure-openai, endpoint: 'https://x'}\n",
            "providers.azure.api_version: Field required",
        ),
        (
            "  gpt: {kind: openai, concurrency: 16, base_urll: 'http://x'}\n",
            "unknown key 'base_urll' for kind 'openai'",
        ),
    ],
)
def test_bad_provider_settings_are_exit_2_naming_the_line(
    workspace: Path, cli: Any, entry: str, message: str
) -> None:
    cfg = _add_provider(workspace, entry)
    line = cfg.read_text().splitlines().index(entry.rstrip("\n")) + 1
    code, _, err = cli("-C", str(workspace), "lint")
    assert code == 2, err
    assert f"promptrail.yaml:{line}:" in err and message in err, err


def test_a_misspelt_provider_in_a_prompt_is_exit_2(workspace: Path, cli: Any) -> None:
    _add_provider(workspace, "  clinic-llm: {kind: anthropic}\n")
    prompt = workspace / "prompts/faq-answer.yaml"
    prompt.write_text(prompt.read_text().replace("provider: openai", "provider: clinic-lm"))
    code, _, err = cli("-C", str(workspace), "render", "faq-answer", "--var", "question=x")
    assert code == 2 and "prompts/faq-answer.yaml:6:" in err
    assert "unknown provider 'clinic-lm'; did you mean 'clinic-llm'?" in err


def test_an_unpriced_model_still_fails_the_cost_gate(
    workspace: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeLLMServer(
        responder=lambda b, p: '{"answer": "Reset your password.", "confident": true}'
    ) as server:
        _add_provider(
            workspace,
            f"  local: {{kind: openai-compatible, base_url: '{server.openai_base_url}'}}\n",
        )
        prompt = workspace / "prompts/faq-answer.yaml"
        prompt.write_text(
            prompt.read_text()
            .replace(
                "provider: openai\n  name: gpt-4o-mini", "provider: local\n  name: llama-3.1-8b"
            )
            .replace("version: 0.1.0", "version: 0.2.0")
        )
        code, out, err = cli(
            "-C",
            str(workspace),
            "gate",
            "faq-answer",
            "--cache",
            "off",
            "--env",
            "staging",
            "--json",
        )
        assert server.requests, out + err
    gates = {g["gate"]: g for g in json.loads(out)["prompts"][0]["gates"]}
    assert code == 1 and gates["cost"]["status"] == "failed"
    assert "no price known for local/llama-3.1-8b" in gates["cost"]["summary"]


def test_the_built_in_names_need_no_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    client = ModelClient({"openai": {"concurrency": 3}})
    assert (
        client.settings["openai"]["kind"] == "openai"
        and client.settings["openai"]["concurrency"] == 3
    )
    assert client.settings["anthropic"]["concurrency"] == 8
    with pytest.raises(UsageError, match="unknown provider 'acme'"):
        asyncio.run(ModelClient(mode="off").complete(ModelRequest("acme", "m", MESSAGES, {})))
