"""Attacks from the network, replayed (the rest of the threat model is in test_hostile.py):
a provider or target that dribbles, a deflate bomb, an oversized answer, redirects to another
host, metadata addresses, and webhook bodies that would carry a secret. Each is bounded in
time and ends with the exit code the contract says (3 operational), never a hang or a pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rawserver import RawServer, answer, deflate_bomb, dribble

from promptrail import limits
from promptrail.secrets import REDACTED


@pytest.fixture(autouse=True)
def _default_limits():
    limits.configure(None)
    yield
    limits.configure(None)


def provider_call(monkeypatch: pytest.MonkeyPatch, url: str, **settings) -> Exception:
    import asyncio

    from promptrail.providers import ModelClient, ModelRequest

    monkeypatch.setenv("OPENAI_BASE_URL", url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + "k" * 24)
    client = ModelClient({"openai": {"max_attempts": 1, "timeout": 1, **settings}}, mode="off")
    req = ModelRequest("openai", "gpt-4o-mini", ({"role": "user", "content": "hi"},))

    async def go() -> None:
        try:
            await client.complete(req)
        finally:
            await client.aclose()

    with pytest.raises(Exception) as info:
        asyncio.run(go())
    return info.value


@pytest.mark.timeout(60)
def test_a_dribbling_provider_hits_the_total_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    from promptrail.providers import ProviderError

    with RawServer(dribble) as srv:
        exc = provider_call(monkeypatch, srv.url, timeout=0.5)
    assert isinstance(exc, ProviderError) and exc.exit_code == 3
    assert "no complete response within 0.5s" in str(exc)


@pytest.mark.timeout(60)
def test_a_deflate_bomb_from_a_provider_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from promptrail.providers import ProviderError

    bomb = deflate_bomb(64 << 20)  # 64 KiB on the wire, 64 MiB once inflated
    assert len(bomb) < 100_000
    headers = "Content-Type: application/json\r\nContent-Encoding: deflate\r\n"
    with RawServer(answer(bomb, headers=headers)) as srv:
        exc = provider_call(monkeypatch, srv.url)
    assert isinstance(exc, ProviderError) and exc.attempts == 1  # not retried
    assert "decompresses to more than 16,777,216 bytes" in str(exc)


@pytest.mark.timeout(60)
def test_an_oversized_provider_answer_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from promptrail.providers import ProviderError

    limits.configure({"provider_response_bytes": 1000})
    with RawServer(answer(b"[" + b"0," * 5000 + b"0]")) as srv:
        exc = provider_call(monkeypatch, srv.url)
    assert isinstance(exc, ProviderError) and "over 1,000 bytes" in str(exc)


def with_http_target(ws: Path, url: str, extra: str = "") -> None:
    cfg = ws / "promptrail.yaml"
    cfg.write_text(
        cfg.read_text().replace(
            "      - {kind: file, path: dist/production}",
            f"      - {{kind: file, path: dist/production}}\n"
            f"      - {{kind: http, url: '{url}', timeout: 0.5{extra}}}",
        )
    )


def drift_json(cli, ws: Path) -> tuple[int, dict]:
    code, out, err = cli("-C", str(ws), "drift", "--env", "production", "--json")
    assert "Traceback" not in out + err, err
    return code, json.loads(out)


@pytest.mark.timeout(60)
def test_a_dribbling_http_target_times_out(workspace: Path, cli) -> None:
    with RawServer(dribble) as srv:
        with_http_target(workspace, srv.url)
        code, result = drift_json(cli, workspace)
    assert code == 3 and result["operational"]
    assert any("total deadline" in f["detail"] for f in result["findings"]), result


@pytest.mark.timeout(60)
def test_http_target_redirects_stay_on_their_host(workspace: Path, cli) -> None:
    with RawServer(answer(b"[]")) as other:
        # 127.0.0.2 is another host as far as the URL goes
        elsewhere = other.url.replace("127.0.0.1", "127.0.0.2")
        with RawServer(answer(b"", "302 Found", f"Location: {elsewhere}/\r\n")) as srv:
            with_http_target(workspace, srv.url)
            code, result = drift_json(cli, workspace)
        assert other.requests == []
    assert code == 3 and any("another origin" in f["detail"] for f in result["findings"])


@pytest.mark.timeout(60)
def test_same_origin_redirects_are_followed(workspace: Path, cli) -> None:
    def behave(conn, server) -> None:
        if server.requests[-1].startswith(b"GET /moved"):
            answer(b"[]")(conn, server)
        else:
            answer(b"", "302 Found", "Location: /moved\r\n")(conn, server)

    with RawServer(behave) as srv:
        with_http_target(workspace, srv.url)
        code, result = drift_json(cli, workspace)
    assert code == 0 and len(srv.requests) == 2, result


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]:8080/", "http://0.0.0.0:9/"],
)
def test_metadata_addresses_are_refused(workspace: Path, cli, url: str) -> None:
    with_http_target(workspace, url)
    code, result = drift_json(cli, workspace)
    assert code == 3
    assert any("link-local or metadata" in f["detail"] for f in result["findings"]), result


@pytest.mark.timeout(60)
def test_a_target_may_allow_link_local_explicitly() -> None:
    from promptrail import net

    assert net.blocked("169.254.169.254") and net.blocked("::ffff:169.254.169.254")
    assert not net.blocked("127.0.0.1") and not net.blocked("10.1.2.3")
    with RawServer(answer(b"{}")) as srv:
        assert net.request("GET", srv.url, allow_link_local=True).json() == {}


@pytest.mark.timeout(60)
def test_webhook_bodies_are_redacted_then_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import hmac

    from promptrail import net

    secret, token = "plain-looking-credential-7731", "ghp_" + "x1" * 18
    monkeypatch.setenv("ACME_SERVICE_TOKEN", secret)
    with RawServer(answer(b"ok", headers="")) as srv:
        net.post_json(
            srv.url + "/hook",
            {"detail": f"leaked {secret} and {token}"},
            secret="shared-secret",
        )
    head, _, body = srv.requests[0].partition(b"\r\n\r\n")
    assert secret.encode() not in srv.requests[0] and b"ghp_" not in body
    assert json.loads(body) == {"detail": f"leaked {REDACTED} and {REDACTED}"}
    signature = hmac.new(b"shared-secret", body, hashlib.sha256).hexdigest()
    assert f"x-promptrail-signature: sha256={signature}".encode() in head.lower()
