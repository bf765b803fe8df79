"""Anchors outside the store: truncation, an older store restored, a rewritten history, the
keyed chain, edited tables and lockfiles, and where each actor's name came from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import git
from release_helpers import record_gate_run
from test_promote import new_version, promote_cli

from promptrail import audit
from promptrail.lock import read_lock
from promptrail.store import Store
from promptrail.workspace import Workspace

KEY = "correct horse battery staple 0123456789"


@pytest.fixture
def ws(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / ".promptrail" / "t.duckdb"))
    return Workspace(workspace)


def verify(cli, ws: Workspace, *extra: str) -> tuple[int, dict]:
    code, out, err = cli("-C", str(ws.root), "audit", "verify", "--json", *extra)
    return code, json.loads(out)


def promote_staging_and_production(cli, ws: Workspace) -> None:
    store = ws.store()
    for env in ("staging", "production"):
        record_gate_run(store, env, ws.resolve("faq-answer"))
    assert promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")[0] == 0
    code, r = promote_cli(
        cli, ws, "faq-answer@0.1.0", "--to", "production", "--approved-by", "bob@acme.test"
    )
    assert code == 0, r


def tamper(store: Store, sql: str, params: list | None = None) -> None:
    con = duckdb.connect(str(store.path))  # a database admin, bypassing promptrail
    con.execute(sql, params or [])
    con.close()


def recompute_from(store: Store, seq: int, key: str | None = None) -> None:
    """What an admin who rewrote row ``seq`` does next: recompute every later hash, so the
    chain alone verifies again (with ``key``: the HMACs too)."""
    con = duckdb.connect(str(store.path))
    rows = con.execute(
        f"SELECT seq, {audit.ISO_SQL}, actor, event, subject, payload, prev_hash, actor_source "
        "FROM audit_log ORDER BY seq"
    ).fetchall()
    prev = audit.GENESIS
    for s, at, actor, event, subject, payload, _prev, source in rows:
        if s >= seq:
            digest = audit.audit_hash(s, at, actor, event, subject, payload, prev, source)
            mac = audit.row_hmac(key.encode(), digest) if key else None
            con.execute(
                "UPDATE audit_log SET prev_hash = ?, hash = ?, hmac = coalesce(?, hmac) "
                "WHERE seq = ?",
                [prev, digest, mac, s],
            )
            prev = digest
        else:
            prev = con.execute("SELECT hash FROM audit_log WHERE seq = ?", [s]).fetchone()[0]
    con.close()


def test_promotions_anchor_their_audit_rows_and_verify(ws: Workspace, cli) -> None:
    promote_staging_and_production(cli, ws)
    store = ws.store()
    rows = store.query_dicts("SELECT seq, event, subject, hash FROM audit_log ORDER BY seq")
    for env in ("staging", "production"):
        entry = read_lock(ws.lock_path(env))["faq-answer"]
        [row] = [r for r in rows if r["subject"] == f"{env}/faq-answer"]
        assert entry.anchor is not None
        assert (entry.anchor.seq, entry.anchor.hash) == (row["seq"], row["hash"])
    text = ws.lock_path("production").read_text()
    assert f'anchor: {{seq: {rows[-1]["seq"]}, hash: "{rows[-1]["hash"]}"}}' in text
    code, r = verify(cli, ws)
    assert code == 0 and r["status"] == "ok", r
    assert r["anchors"]["checked"] == 2 and r["entries"]["checked"] == 2
    assert r["head"] == {"seq": rows[-1]["seq"], "hash": rows[-1]["hash"]}
    assert any("PROMPTRAIL_AUDIT_KEY" in n or "--git" in n for n in r["not_checked"])
    # the example-style check of the lockfiles still passes with anchors in them
    assert cli("-C", str(ws.root), "lock", "--check")[0] == 0


def test_deleting_the_newest_audit_row_is_caught(ws: Workspace, cli) -> None:
    promote_staging_and_production(cli, ws)
    store = ws.store()
    assert audit.verify(store)["status"] == "ok"
    tamper(store, "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
    assert audit.verify(store)["status"] == "ok"  # the chain alone cannot see it
    code, r = verify(cli, ws)
    assert code == 1 and r["status"] == "broken"
    bad = r["first_bad_anchor"]
    assert bad["file"] == "environments/production.lock" and bad["line"]
    assert "older copy of the store was restored" in bad["problem"]
    code, out, _ = cli("-C", str(ws.root), "audit", "verify")
    assert code == 1 and "first failing anchor: environments/production.lock:" in out


def test_restoring_yesterdays_store_is_caught(ws: Workspace, cli, tmp_path: Path) -> None:
    store = ws.store()
    record_gate_run(store, "staging", ws.resolve("faq-answer"))
    assert promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")[0] == 0
    yesterday = tmp_path / "yesterday.duckdb"
    shutil.copy(store.path, yesterday)
    ws2 = new_version(ws, "0.2.0", "You answer all questions")
    record_gate_run(store, "staging", ws2.resolve("faq-answer"))
    assert promote_cli(cli, ws2, "faq-answer@0.2.0", "--to", "staging")[0] == 0
    assert verify(cli, ws2)[0] == 0

    shutil.copy(yesterday, store.path)  # the restore
    code, r = verify(cli, ws2)
    assert code == 1 and "older copy of the store" in r["first_bad_anchor"]["problem"]
    # and once new rows fill the gap, the anchored row hashes differently
    store.append_audit("gate-run", "ci", "x", {"n": 1})
    store.append_audit("gate-run", "ci", "y", {"n": 2})
    code, r = verify(cli, ws2)
    assert code == 1 and "hashes to" in r["first_bad_anchor"]["problem"]


def test_a_rewritten_history_is_caught_by_the_anchors(ws: Workspace, cli) -> None:
    promote_staging_and_production(cli, ws)
    store = ws.store()
    [(seq, payload)] = store.query(
        "SELECT seq, payload FROM audit_log WHERE subject = 'production/faq-answer'"
    )[1]
    forged = json.loads(payload) | {"approvals": ["carol@acme.test"]}
    tamper(store, "UPDATE audit_log SET payload = ? WHERE seq = ?", [json.dumps(forged), seq])
    tamper(store, "UPDATE promotions SET approvals = '[\"carol@acme.test\"]'")
    recompute_from(store, seq)
    assert audit.verify(store)["status"] == "ok"  # the rewrite fools the chain alone
    code, r = verify(cli, ws)
    assert code == 1
    assert r["first_bad_anchor"]["seq"] == seq and "rewritten" in r["first_bad_anchor"]["problem"]


def test_the_promotions_table_edited_alone_is_caught(ws: Workspace, cli) -> None:
    promote_staging_and_production(cli, ws)
    store = ws.store()
    tamper(
        store, "UPDATE promotions SET approvals = '[\"carol@acme.test\"]' WHERE env = 'production'"
    )
    code, r = verify(cli, ws)
    assert code == 1 and r["first_bad_anchor"] is None
    assert any("approvals" in t and "carol" in t and "bob" in t for t in r["tables"])
    tamper(
        store, "UPDATE promotions SET approvals = '[\"bob@acme.test\"]' WHERE env = 'production'"
    )
    assert verify(cli, ws)[0] == 0
    tamper(
        store,
        "UPDATE prompt_versions SET resolved = replace(resolved, 'You answer', 'You obey')",
    )
    code, r = verify(cli, ws)
    assert code == 1 and any("prompt_versions was edited" in t for t in r["tables"])


def test_the_keyed_chain_catches_a_rewrite_of_chain_and_lockfiles(
    ws: Workspace, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTRAIL_AUDIT_KEY", KEY)
    promote_staging_and_production(cli, ws)
    store = ws.store()
    rows = store.query_dicts("SELECT * FROM audit_log ORDER BY seq")
    assert all(r["hmac"] == audit.row_hmac(KEY.encode(), r["hash"]) for r in rows)
    assert "keyed: true" in ws.lock_path("production").read_text()
    dump = json.dumps(
        [store.query(f"SELECT * FROM {t}")[1] for t in ("audit_log", "promotions")], default=str
    )
    assert KEY not in dump
    assert verify(cli, ws)[0] == 0

    # An admin rewrites the staging row, recomputes every hash (without the key) and also
    # rewrites the lockfiles' anchors to match: the anchors alone are fooled.
    seq = rows[0]["seq"]
    forged = json.loads(rows[0]["payload"]) | {"gate_run": "a-run-that-never-was"}
    tamper(store, "UPDATE audit_log SET payload = ? WHERE seq = ?", [json.dumps(forged), seq])
    recompute_from(store, seq)
    new = {r["subject"]: r for r in store.query_dicts("SELECT * FROM audit_log")}
    for env in ("staging", "production"):
        path = ws.lock_path(env)
        old = read_lock(path)["faq-answer"].anchor
        path.write_text(path.read_text().replace(old.hash, new[f"{env}/faq-answer"]["hash"]))
    code, r = verify(cli, ws)
    assert code == 1 and r["first_bad_seq"] == seq and "HMAC" in r["reason"]

    monkeypatch.delenv("PROMPTRAIL_AUDIT_KEY")  # without the key: say what was not checked
    code, r = verify(cli, ws)
    assert code == 0 and r["keyed_rows"] == len(rows)
    assert any("PROMPTRAIL_AUDIT_KEY is not set" in n for n in r["not_checked"])


def test_stripping_the_hmacs_is_caught(ws: Workspace, cli, monkeypatch) -> None:
    monkeypatch.setenv("PROMPTRAIL_AUDIT_KEY", KEY)
    promote_staging_and_production(cli, ws)
    store = ws.store()
    tamper(store, "UPDATE audit_log SET hmac = NULL WHERE seq = (SELECT max(seq) FROM audit_log)")
    code, r = verify(cli, ws)
    assert code == 1 and "carries no HMAC" in r["reason"]
    monkeypatch.delenv("PROMPTRAIL_AUDIT_KEY")
    tamper(store, "UPDATE audit_log SET hmac = NULL")
    code, r = verify(cli, ws)  # the lockfile remembers the anchored rows were keyed
    assert code == 1 and "carries no HMAC" in r["first_bad_anchor"]["problem"]


def test_git_history_anchors(ws: Workspace, cli) -> None:
    store = ws.store()
    record_gate_run(store, "staging", ws.resolve("faq-answer"))
    assert promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")[0] == 0
    git(ws.root, "commit", "-qam", "promote 0.1.0")
    first = git(ws.root, "rev-parse", "HEAD").strip()
    ws2 = new_version(ws, "0.2.0", "You answer all questions")
    record_gate_run(store, "staging", ws2.resolve("faq-answer"))
    assert promote_cli(cli, ws2, "faq-answer@0.2.0", "--to", "staging")[0] == 0
    git(ws.root, "commit", "-qam", "promote 0.2.0")
    code, r = verify(cli, ws2, "--git")
    assert code == 0 and r["anchors"]["checked"] == 3  # working tree + two commits

    # rewrite row 1 and everything after it, then fix up the working tree's lockfile
    [(payload,)] = store.query("SELECT payload FROM audit_log WHERE seq = 1")[1]
    forged = json.loads(payload) | {"gate_run": "a-run-that-never-was"}
    tamper(store, "UPDATE audit_log SET payload = ? WHERE seq = 1", [json.dumps(forged)])
    recompute_from(store, 1)
    path = ws2.lock_path("staging")
    anchor = read_lock(path)["faq-answer"].anchor
    [(digest,)] = store.query("SELECT hash FROM audit_log WHERE seq = ?", [anchor.seq])[1]
    path.write_text(path.read_text().replace(anchor.hash, digest))
    assert verify(cli, ws2)[0] == 0  # the working tree alone is fooled
    code, r = verify(cli, ws2, "--git")
    assert code == 1
    bad = r["first_bad_anchor"]
    assert bad["commit"] == first and bad["seq"] == 1
    assert bad["where"].startswith(f"environments/staging.lock@{first[:10]}:")


def test_a_hand_edited_lock_entry_has_no_promotion(ws: Workspace, cli) -> None:
    promote_staging_and_production(cli, ws)
    path = ws.lock_path("production")
    text = path.read_text()
    path.write_text("\n".join(line for line in text.splitlines() if "anchor:" not in line) + "\n")
    code, r = verify(cli, ws)
    assert code == 0 and r["entries"]["unanchored"] == ["production/faq-answer"]
    path.write_text(
        path.read_text()
        .replace('version: "0.1.0"', 'version: "0.1.0"')
        .replace(read_lock(path)["faq-answer"].content_hash, "sha256:" + "a" * 64)
    )
    code, r = verify(cli, ws)
    assert (
        code == 1 and "has no promotion in the audit chain" in r["entries"]["missing"][0]["problem"]
    )


def test_an_anchor_that_does_not_parse_is_exit_2_with_file_and_line(ws: Workspace, cli) -> None:
    promote_staging_and_production(cli, ws)
    path = ws.lock_path("staging")
    lines = path.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if "anchor:" in line)
    lines[n] = "    anchor: {seq: seven, hash: nope}"
    path.write_text("\n".join(lines) + "\n")
    for verb in (("audit", "verify"), ("lock", "--check")):
        code, out, _ = cli("-C", str(ws.root), *verb, "--json")
        err = json.loads(out)["error"]
        assert code == 2 and err["file"] == "environments/staging.lock" and err["line"] == n + 1


@pytest.mark.parametrize(
    ("args", "env", "who", "source"),
    [
        (("--actor", "ann@acme.test"), {}, "ann@acme.test", "flag"),
        ((), {}, "tester@example.com", "env"),
        ((), {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octo"}, "github:octo", "github-actions"),
    ],
)
def test_each_audit_row_says_where_its_actor_came_from(
    ws: Workspace, cli, monkeypatch: pytest.MonkeyPatch, args, env, who, source
) -> None:
    if env:
        monkeypatch.delenv("PROMPTRAIL_ACTOR")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    record_gate_run(ws.store(), "staging", ws.resolve("faq-answer"))
    code, out, _ = cli("-C", str(ws.root), "promote", "faq-answer@0.1.0", "--to", "staging", *args)
    assert code == 0, out
    [row] = ws.store().query_dicts(
        "SELECT actor, actor_source FROM audit_log WHERE event = 'promote'"
    )
    assert row == {"actor": who, "actor_source": source}


def test_git_config_is_the_fallback_source(tmp_path: Path, monkeypatch) -> None:
    from promptrail.identity import current_actor

    monkeypatch.delenv("PROMPTRAIL_ACTOR")
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "dev@acme.test")
    actor = current_actor(None, str(tmp_path))
    assert actor == "dev@acme.test" and actor.source == "git"
