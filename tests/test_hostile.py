"""Attacks a pull request can carry, replayed: each is bounded in time (a per-test timeout),
ends with the exit code the contract says (2 bad input naming the file, 3 operational), with
no traceback and no secret in any sink. See docs/security.md for the threat model."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from promptrail import limits
from promptrail.secrets import REDACTED, find, redact, redact_text

SECRET_ENV = "ACME_SERVICE_TOKEN"
SECRET_VALUE = "plain-looking-credential-7731"

KEYS = {
    "openai": "sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789",
    "anthropic": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz-0123456789",
    "github classic": "ghp_" + "x1" * 18,
    "github oauth": "gho_" + "Ab3" * 12,
    "github fine-grained": "github_pat_11ABCDEFG0" + "a1B2c3" * 8,
    "gitlab": "glpat-" + "xY9_zW8-vU7" * 2,
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "aws secret": "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "slack": "xoxb-123456789012-abcdefghij",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0",
    "private key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n"
    "-----END OPENSSH PRIVATE KEY-----",
}


@pytest.fixture(autouse=True)
def _default_limits():
    limits.configure(None)
    yield
    limits.configure(None)


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


def lint(cli, ws: Path) -> tuple[int, str, str]:
    code, out, err = cli("-C", str(ws), "lint", "--json")
    no_traceback(out, err)
    return code, out, err


def error_of(out: str) -> dict:
    return json.loads(out)["error"]


# -- the redactor ------------------------------------------------------------------------------
@pytest.mark.timeout(5)
@pytest.mark.parametrize("kind", sorted(KEYS))
def test_redactor_knows_the_key_formats(kind: str) -> None:
    key = KEYS[kind]
    assert redact_text(f"token: {key}, then text") == f"token: {REDACTED}, then text"
    assert find(f"x {key}")


@pytest.mark.timeout(5)
def test_redactor_keeps_the_url_but_not_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    assert redact_text("db at postgresql://app:s3cr%40t@db.internal:5432/acme ok") == (
        f"db at postgresql://app:{REDACTED}@db.internal:5432/acme ok"
    )
    plain = ["http://localhost:8080/a@b", "git@github.com:acme/x.git", "mailto:bob@acme.test"]
    assert redact(plain) == plain
    monkeypatch.setenv(SECRET_ENV, SECRET_VALUE)
    monkeypatch.setenv("DEPLOY_PASSWORD", "hunter2hunter2")
    assert redact_text(f"a {SECRET_VALUE} b hunter2hunter2") == f"a {REDACTED} b {REDACTED}"


# -- YAML: alias bombs, duplicate keys, encodings ------------------------------------------------
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("verb", [["lint"], ["lock", "--check"], ["render", "faq-answer"]])
def test_alias_bomb_is_refused_quickly(workspace: Path, cli, verb: list[str]) -> None:
    assert len(BOMB) < 2000
    prompt = workspace / "prompts/faq-answer.yaml"
    prompt.write_text(
        prompt.read_text() + "x-bomb:\n" + "".join("  " + ln + "\n" for ln in BOMB.splitlines())
    )
    code, out, err = cli("-C", str(workspace), *verb, "--json")
    no_traceback(out, err)
    assert code == 2
    e = error_of(out)
    assert e["file"] == "prompts/faq-answer.yaml" and "alias" in e["message"]


@pytest.mark.timeout(60)
def test_duplicate_key_names_both_lines(workspace: Path, cli) -> None:
    prompt = workspace / "prompts/faq-answer.yaml"
    text = prompt.read_text()
    prompt.write_text(text.replace("version: 0.1.0\n", "version: 0.1.0\nversion: 9.9.9\n"))
    line = text.splitlines().index("version: 0.1.0") + 1
    code, out, _ = lint(cli, workspace)
    e = error_of(out)
    assert code == 2 and e["file"] == "prompts/faq-answer.yaml" and e["line"] == line + 1
    assert f"lines {line} and {line + 1}" in e["message"] and "'version'" in e["message"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "where", ["promptrail.yaml", "suites/faq-answer.yaml", "environments/staging.lock"]
)
def test_duplicate_keys_in_any_yaml_file(workspace: Path, cli, where: str) -> None:
    path = workspace / where
    lines = path.read_text().splitlines()
    key = next(ln for ln in lines if ln and not ln.startswith(("#", " ", "-")))
    path.write_text("\n".join([*lines, key]) + "\n")
    code, out, _ = cli("-C", str(workspace), "lock", "--check", "--json")
    no_traceback(out)
    if where.startswith("suites/"):
        code, out, _ = cli("-C", str(workspace), "gate", "--cache", "replay", "--json")
        no_traceback(out)
    assert code == 2 and error_of(out)["file"] == where, out
    assert "appears twice" in error_of(out)["message"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "payload, what",
    [(b"name: faq-answer\x00\n", "NUL"), (b"name: faq-answer\ndescription: \xff\xfe\n", "UTF-8")],
)
def test_nul_bytes_and_bad_utf8_are_bad_input(
    workspace: Path, cli, payload: bytes, what: str
) -> None:
    (workspace / "prompts/faq-answer.yaml").write_bytes(payload)
    code, out, _ = lint(cli, workspace)
    e = error_of(out)
    assert code == 2 and e["file"] == "prompts/faq-answer.yaml" and what in e["message"]


# -- files: links out of the workspace, FIFOs, devices ---------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("folder", ["prompts", "components", "suites"])
def test_links_out_of_the_workspace_are_refused(
    workspace: Path, tmp_path: Path, cli, folder: str
) -> None:
    name = {"prompts": "faq-answer", "components": "tone", "suites": "faq-answer"}[folder]
    inside = workspace / folder / f"{name}.yaml"
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(inside.read_text())
    inside.unlink()
    inside.symlink_to(outside)
    code, out, _ = cli("-C", str(workspace), "gate", "--cache", "replay", "--json")
    no_traceback(out)
    e = error_of(out)
    assert (
        code == 2
        and e["file"] == f"{folder}/{name}.yaml"
        and "leaves the workspace" in (e["message"])
    )


@pytest.mark.timeout(60)
def test_a_fifo_prompt_is_an_error_not_a_hang(workspace: Path, cli) -> None:
    os.mkfifo(workspace / "prompts/waiting.yaml")
    code, out, _ = lint(cli, workspace)
    e = error_of(out)
    assert code == 2 and e["file"] == "prompts/waiting.yaml" and "regular file" in e["message"]


@pytest.mark.timeout(60)
def test_a_link_to_dev_zero_is_an_error(workspace: Path, cli) -> None:
    # a link inside the workspace to a device: refused as leaving it, never read
    (workspace / "schemas/zero.json").symlink_to("/dev/zero")
    prompt = workspace / "prompts/faq-answer.yaml"
    prompt.write_text(prompt.read_text().replace("schemas/faq_answer.json", "schemas/zero.json"))
    code, out, _ = lint(cli, workspace)
    e = error_of(out)
    assert code == 2 and "zero.json" in json.dumps(e)


@pytest.mark.timeout(60)
def test_nul_byte_in_a_ref_is_bad_input(workspace: Path, cli) -> None:
    prompt = workspace / "prompts/faq-answer.yaml"
    prompt.write_text(
        prompt.read_text().replace("schemas/faq_answer.json", '"schemas/faq\\0answer.json"')
    )
    code, out, _ = lint(cli, workspace)
    e = error_of(out)
    assert code == 2 and e["file"] == "prompts/faq-answer.yaml"


# -- files written: permissions, a full disk ----------------------------------------------------------
@pytest.mark.timeout(60)
def test_atomic_writes_keep_plain_write_permissions(tmp_path: Path) -> None:
    from promptrail.fsutil import default_mode, write_atomic

    old = os.umask(0o022)
    default_mode.cache_clear()
    try:
        write_atomic(tmp_path / "bundle.json", "{}")
        assert stat.S_IMODE((tmp_path / "bundle.json").stat().st_mode) == 0o644
        (tmp_path / "private.lock").write_text("x")
        os.chmod(tmp_path / "private.lock", 0o600)
        write_atomic(tmp_path / "private.lock", "y")  # a replace keeps the old file's mode
        assert stat.S_IMODE((tmp_path / "private.lock").stat().st_mode) == 0o600
        os.umask(0o077)
        default_mode.cache_clear()
        write_atomic(tmp_path / "strict.json", "{}")
        assert stat.S_IMODE((tmp_path / "strict.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)
        default_mode.cache_clear()


@pytest.mark.timeout(60)
def test_a_full_disk_is_operational_and_keeps_the_old_file(workspace: Path) -> None:
    # the file size limit stands in for a full disk: the write fails the same way (EFBIG)
    lock = workspace / "environments/dev.lock"
    before = lock.read_text()
    (workspace / "prompts/faq-answer.yaml").write_text(
        (workspace / "prompts/faq-answer.yaml").read_text().replace("0.1.0", "0.2.0")
    )
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))\n"
        "from promptrail.cli import main\n"
        f"sys.exit(main(['-C', {str(workspace)!r}, 'lock', '--env', 'dev']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    no_traceback(proc.stdout, proc.stderr)
    assert proc.returncode == 3, proc.stderr
    assert "dev.lock" in proc.stderr and "cannot write" in proc.stderr
    assert lock.read_text() == before
    assert not [p for p in lock.parent.iterdir() if p.name.endswith(".tmp")]


# -- sinks: the response cache ---------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_response_cache_never_records_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptrail.providers import ModelRequest, ModelResponse, ResponseCache

    monkeypatch.setenv(SECRET_ENV, SECRET_VALUE)
    cache = ResponseCache(tmp_path / "cache.jsonl")
    text = f"your key is {KEYS['gitlab']} and {SECRET_VALUE}; jwt {KEYS['jwt']}"
    response = ModelResponse(text, 1, 1, 0, 1.0, None, "none", "gpt-4o-mini")
    cache.put("sha256:k", ModelRequest("openai", "gpt-4o-mini", ()), response)
    written = (tmp_path / "cache.jsonl").read_text()
    assert SECRET_VALUE not in written and KEYS["gitlab"] not in written
    assert "eyJ" not in written and REDACTED in written
    assert (
        ResponseCache(tmp_path / "cache.jsonl")
        .get("sha256:k")["text"]
        .startswith(f"your key is {REDACTED}")
    )


@pytest.mark.timeout(60)
def test_a_cache_that_is_a_device_is_an_error(workspace: Path, tmp_path: Path) -> None:
    from promptrail.errors import UsageError
    from promptrail.providers import ResponseCache

    os.mkfifo(tmp_path / "cache.jsonl")
    with pytest.raises(UsageError, match="not a regular file"):
        ResponseCache(tmp_path / "cache.jsonl").get("sha256:k")


@pytest.mark.timeout(60)
def test_logs_are_redacted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from promptrail.secrets import install_log_redaction

    monkeypatch.setenv(SECRET_ENV, SECRET_VALUE)
    install_log_redaction()
    with caplog.at_level(logging.WARNING):
        logging.getLogger("promptrail.test").warning(
            "calling with %s and %s", SECRET_VALUE, KEYS["slack"]
        )
    assert SECRET_VALUE not in caplog.text and KEYS["slack"] not in caplog.text
    assert caplog.text.count(REDACTED) == 2


# -- templates: loops, huge strings, recursion, includes -------------------------------------------
def with_user_message(ws: Path, template: str) -> None:
    prompt = ws / "prompts/faq-answer.yaml"
    prompt.write_text(
        prompt.read_text().replace(
            '    content: "{{ question }}"', f"    content: {json.dumps(template)}"
        )
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "template, message",
    [
        (
            "{% for i in range(10000) %}{% for j in range(10000) %}{% set x = j %}{% endfor %}{% endfor %}",
            "longer than 0.5s",
        ),
        ("{% for i in range(100000) %}{{ i }}{% endfor %}", "limits.template_range"),
        ("{{ 'a' * 2000000000 }}", "2,000,000,000 characters"),
        ("{{ 'a'.ljust(2000000000) }}", "limits.template_output_chars"),
        ("{{ '{:>2000000000}'.format(question) }}", "limits.template_output_chars"),
        ("{{ '%2000000000s' | format(question) }}", "limits.template_output_chars"),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "limits.template_depth"),
        ("{% include 'other.j2' %}", "template error"),
        ("{% import 'macros.j2' as m %}{{ m.x() }}", "template error"),
        ("{% extends '/proc/self/environ' %}", "template error"),
    ],
)
def test_hostile_prompt_templates_stop_at_a_bound(
    workspace: Path, cli, template: str, message: str
) -> None:
    cfg = workspace / "promptrail.yaml"
    cfg.write_text(cfg.read_text() + "limits: {template_seconds: 0.5}\n")
    with_user_message(workspace, template)
    code, out, err = cli(
        "-C", str(workspace), "render", "faq-answer", "--var", "question=hi", "--json"
    )
    no_traceback(out, err)
    e = error_of(out)
    assert code == 2 and e["file"] == "prompts/faq-answer.yaml" and message in e["message"], e


@pytest.mark.timeout(60)
def test_a_render_bound_can_be_raised(workspace: Path, cli) -> None:
    with_user_message(workspace, "{% for i in range(20000) %}.{% endfor %}")
    code, out, _ = cli(
        "-C", str(workspace), "render", "faq-answer", "--var", "question=q", "--json"
    )
    assert code == 2 and "limits.template_range" in error_of(out)["message"]
    cfg = workspace / "promptrail.yaml"
    cfg.write_text(cfg.read_text() + "limits: {template_range: 20000}\n")
    code, out, _ = cli(
        "-C", str(workspace), "render", "faq-answer", "--var", "question=q", "--json"
    )
    assert code == 0 and "." * 20000 in out


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "include, how",
    [
        ("{% include 'leak.j2' %}", "symlink"),
        ("{% include '/proc/self/environ' %}", "absolute"),
        ("{% include '../promptrail.yaml' %}", "dotdot"),
        ("{% import 'leak.j2' as x %}", "symlink"),
    ],
)
def test_report_templates_cannot_include_outside_reports(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch, include: str, how: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-" + "live" * 8)
    reports = workspace / "reports"
    reports.mkdir()
    (reports / "leak.j2").symlink_to("/proc/self/environ")
    (reports / "comment.md.j2").write_text(f"# report\n{include}\n")
    from promptrail.errors import UsageError
    from promptrail.reports.templating import render_template

    with pytest.raises(UsageError) as info:
        render_template("comment.md.j2", {"run": {"run_id": "r"}}, workspace)
    assert "outside reports/" in str(info.value) and "reports/" in str(info.value.file)


@pytest.mark.timeout(60)
def test_report_templates_run_in_the_bounded_sandbox(workspace: Path) -> None:
    from promptrail.errors import UsageError
    from promptrail.reports.templating import render_template

    limits.configure({"template_seconds": 0.5})
    reports = workspace / "reports"
    reports.mkdir()
    (reports / "report.html.j2").write_text(
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    )
    with pytest.raises(UsageError) as info:
        render_template("report.html.j2", {"run": {"run_id": "r"}}, workspace)
    assert info.value.file == "reports/report.html.j2" and "limits.template_seconds" in str(
        info.value
    )
    (reports / "report.html.j2").write_text("{{ ''.__class__.__mro__ }}")
    with pytest.raises(UsageError, match="sandbox"):
        render_template("report.html.j2", {"run": {"run_id": "r"}}, workspace)
    (reports / "inner.j2").write_text("inside {{ run.run_id }}")
    (reports / "report.html.j2").write_text("{% include 'inner.j2' %}")
    assert render_template("report.html.j2", {"run": {"run_id": "r"}}, workspace) == "inside r"


# -- regular expressions: linear time ---------------------------------------------------------------
@pytest.mark.timeout(60)
def test_a_regex_re2_cannot_take_is_bad_input(workspace: Path, cli) -> None:
    suite = workspace / "suites/faq-answer.yaml"
    suite.write_text(
        suite.read_text().replace(
            "      - {type: icontains, value: password}",
            "      - {type: icontains, value: password}\n      - {type: regex, value: '(a)\\1'}",
        )
    )
    code, out, _ = cli("-C", str(workspace), "gate", "--cache", "replay", "--json")
    no_traceback(out)
    e = error_of(out)
    assert code == 2 and e["file"] == "suites/faq-answer.yaml" and "RE2" in e["message"], e


@pytest.mark.timeout(60)
def test_catastrophic_patterns_run_in_linear_time(workspace: Path) -> None:
    from promptrail.assertions import parse_assertion
    from promptrail.assertions.base import AssertionContext
    from promptrail.regex import schema_validator

    evil = "a" * 200_000 + "!"
    check = parse_assertion({"type": "regex", "value": "^(a+)+$"}, "suites/x.yaml")
    result = check.evaluate(AssertionContext(output=evil, vars={}))
    assert result.status == "failed"
    validator = schema_validator({"type": "string", "pattern": "^(a|aa)+$"})
    assert [e.message for e in validator.iter_errors(evil)]


# -- sinks: reports in every format, bundles ------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_no_secret_in_any_report_format(
    example: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(example / ".promptrail" / "h.duckdb"))
    code, out, err = cli("-C", str(example), "gate", "support-reply", "--cache", "replay", "--json")
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    # a secret the store took in clear (it was not a secret when written): the prompt's name
    monkeypatch.setenv(SECRET_ENV, "support-reply")
    reports = example / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "comment.md.j2").write_text(
        "# {{ run.run_id }}\n{% for p in prompts %}{{ p.name }} {% endfor %}\n"
        "token {{ 'glpat-' ~ 'AbCdEfGhIjKlMnOpQrSt' }}\n"
    )
    for fmt in ("md", "html", "junit", "sarif", "json"):
        code, text, err = cli("-C", str(example), "report", run_id, "--format", fmt)
        no_traceback(text, err)
        assert code == 0, err
        assert "support-reply" not in text and "glpat-" not in text, fmt
        assert REDACTED in text or fmt == "sarif", fmt  # sarif lists lint findings: none
        if fmt in ("json", "sarif"):
            json.loads(text)  # still well-formed after redaction
        if fmt == "junit":
            import xml.etree.ElementTree as ET

            ET.fromstring(text)


@pytest.mark.timeout(60)
def test_deployed_bundles_are_world_readable_and_never_hold_a_secret(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptrail.errors import UsageError
    from promptrail.targets import load_target, make_bundle
    from promptrail.workspace import Workspace

    ws = Workspace(workspace)
    bundle = make_bundle(ws.resolve("faq-answer"), "production", "2026-01-01T00:00:00Z", "me")
    target = load_target({"kind": "file", "path": "dist/production"}, ws)
    old = os.umask(0o022)
    try:
        target.deploy(bundle)
    finally:
        os.umask(old)
    path = workspace / "dist/production/faq-answer.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # a prompt holding a live secret (by value: no known shape) is never bundled
    monkeypatch.setenv(SECRET_ENV, "Respond in JSON")
    with pytest.raises(UsageError, match="refusing to deploy"):
        make_bundle(Workspace(workspace).resolve("faq-answer"), "production", "t", "me")


@pytest.mark.timeout(60)
def test_audit_verify_on_a_broken_store_is_operational_not_a_broken_chain(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    from promptrail.store import open_store

    db = workspace / "s.duckdb"
    monkeypatch.setenv("PROMPTRAIL_DB", str(db))
    open_store(db).close()  # a migrated store
    code, out, _ = cli("-C", str(workspace), "audit", "verify", "--json")
    assert code == 0, out
    con = duckdb.connect(str(db))
    con.execute("DROP VIEW IF EXISTS live_versions")
    con.execute("ALTER TABLE audit_log RENAME TO audit_log_old")
    con.close()
    code, out, err = cli("-C", str(workspace), "audit", "verify", "--json")
    no_traceback(out, err)
    assert code == 3, (out, err)
