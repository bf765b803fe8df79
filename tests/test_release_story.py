"""The issue's "how we will know", end to end on the example workspace with real gate runs
(replayed recordings): plan, gate, plan again, apply, apply again, lose dist/, deploy, drift,
and a webhook per promotion whose signature verifies with the shared secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from pathlib import Path

import pytest
from test_webhooks import Receiver

SECRET = "the-shared-secret"
NAMES = ["support-reply", "ticket-router"]


@pytest.mark.e2e
def test_two_prompts_from_staging_to_production(
    example: Path, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(example / ".promptrail" / "story.duckdb"))
    monkeypatch.setenv("RELEASE_HOOK_SECRET", SECRET)
    hook = Receiver()
    cfg = example / "promptrail.yaml"
    cfg.write_text(
        cfg.read_text() + f"webhooks:\n  - {{url: '{hook.url}', events: [promote, apply], "
        "secret_env: RELEASE_HOOK_SECRET}\n"
    )
    C = ("-C", str(example))  # noqa: N806
    try:
        code, out, err = cli(*C, "gate", *NAMES, "--env", "staging", "--cache", "replay", "--json")
        assert code == 0, err
        for name in NAMES:
            assert cli(*C, "promote", f"{name}@{version(example, name)}", "--to", "staging")[0] == 0
        hook.posts.clear()

        code, out, err = cli(*C, "plan", "--to", "production", "--json")
        plan = json.loads(out)
        assert [(c["name"], c["ready"]) for c in plan["changes"]] == [(n, False) for n in NAMES]
        assert all("no gate run for production" in c["reasons"][0] for c in plan["changes"])

        code, out, err = cli(
            *C, "gate", *NAMES, "--env", "production", "--cache", "replay", "--json"
        )
        assert code == 0, err
        plan_file = tmp_path / "release.json"
        code, out, err = cli(*C, "plan", "--to", "production", "--out", str(plan_file), "--json")
        assert [(c["name"], c["ready"]) for c in json.loads(out)["changes"]] == [
            (n, True) for n in NAMES
        ]

        code, out, err = cli(*C, "apply", str(plan_file), "--approved-by", "bob", "--json")
        assert code == 0, out + err
        assert [c["status"] for c in json.loads(out)["changes"]] == ["promoted", "promoted"]
        events = []
        for headers, body in hook.posts:
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Promptrail-Signature"], expected)
            events.append((json.loads(body)["event"], json.loads(body).get("name")))
        assert events == [("promote", n) for n in NAMES] + [("apply", None)]

        code, out, err = cli(*C, "apply", str(plan_file), "--approved-by", "bob")
        assert code == 1 and "starting state no longer holds" in out

        shutil.rmtree(example / "dist")
        code, out, err = cli(*C, "drift", "--env", "production", "--json")
        assert code == 1 and {f["kind"] for f in json.loads(out)["findings"]} == {"missing"}
        assert cli(*C, "deploy", "--env", "production")[0] == 0
        code, out, err = cli(*C, "drift", "--env", "production", "--json")
        assert code == 0 and json.loads(out)["status"] == "clean"
    finally:
        hook.close()


def version(root: Path, name: str) -> str:
    import yaml

    return str(yaml.safe_load((root / "prompts" / f"{name}.yaml").read_text())["version"])
