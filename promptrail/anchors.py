"""``audit verify``: the store's chain checked against the anchors kept outside the store.

A promotion writes its own audit row's ``seq`` and ``hash`` into the environment's lockfile,
which git keeps. Because every row's hash covers the previous row's, an anchor vouches for
every row up to it. So:

- the newest rows deleted, or an older copy of the store restored: an anchor names a ``seq``
  past the chain's end, or (once new rows were appended) a row whose hash is not the anchor's;
- a row rewritten and every later hash recomputed: the anchored rows after it hash differently;
- a lockfile entry edited by hand: its anchored row is not its promotion;
- the ``promotions`` table edited (what ``at`` reads): it disagrees with its audit row;
- ``prompt_versions.resolved`` edited (the text ``at`` prints): it no longer hashes to its
  ``content_hash``.

What no anchor covers (rows written after the newest anchor) is reported, as is what the
keyed check could not do without the key. docs/audit.md is the threat model.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from promptrail import audit
from promptrail.errors import UsageError
from promptrail.lock import LockEntry, parse_lock, read_lock, working_env
from promptrail.yamlio import line_of_text, parse

PROMOTION_EVENTS = ("promote", "rollback")


@dataclass(frozen=True)
class Found:
    """One anchor as it stands in a lockfile (in the working tree, or at a commit)."""

    file: str
    line: int | None
    commit: str | None
    env: str
    name: str
    entry: LockEntry

    @property
    def where(self) -> str:
        at = f"@{self.commit[:10]}" if self.commit else ""
        return f"{self.file}{at}" + (f":{self.line}" if self.line else "")

    def to_dict(self) -> dict[str, Any]:
        assert self.entry.anchor is not None
        return {
            "file": self.file,
            "line": self.line,
            "commit": self.commit,
            "env": self.env,
            "name": self.name,
            "version": self.entry.version,
            "content_hash": self.entry.content_hash,
            **self.entry.anchor.to_dict(),
        }


def _line(text: str, name: str) -> int | None:
    start = text.find(f"\n  {name}:\n")
    if start < 0:
        return None
    found = line_of_text(text[start:], "    anchor:")
    return None if found is None else text.count("\n", 0, start) + found


def working_tree_anchors(ws: Any) -> tuple[list[Found], dict[str, dict[str, LockEntry]]]:
    """Every anchor in the working tree's lockfiles, and the lockfiles' entries per env."""
    found, locks = [], {}
    for environment in ws.config.environments:
        path = ws.lock_path(environment.name)
        entries = read_lock(path)
        locks[environment.name] = entries
        text = path.read_text(encoding="utf-8") if entries else ""
        for name, entry in sorted(entries.items()):
            if entry.anchor is not None:
                shown = f"environments/{path.name}"
                found.append(Found(shown, _line(text, name), None, environment.name, name, entry))
    return found, locks


def git_anchors(ws: Any) -> list[Found]:
    """Every anchor in every committed version of the lockfiles (newest commit first)."""

    def git(*args: str, stdin: bytes | None = None) -> bytes:
        proc = subprocess.run(["git", "-C", str(ws.root), *args], input=stdin, capture_output=True)
        if proc.returncode != 0:
            raise UsageError(
                f"--git needs the workspace in a git repository: {proc.stderr.decode().strip()}"
            )
        return proc.stdout

    top = git("rev-parse", "--show-prefix").decode().strip()
    log = git("log", "--format=%x00%H", "--name-only", "--", "environments").decode()
    wanted: list[tuple[str, str]] = []
    for block in log.split("\x00")[1:]:
        commit, *paths = block.strip().splitlines()
        for path in paths:
            rel = path[len(top) :] if top and path.startswith(top) else path
            if rel.startswith("environments/") and rel.endswith(".lock"):
                wanted.append((commit, path))
    if not wanted:
        return []
    out = git("cat-file", "--batch", stdin="".join(f"{c}:{p}\n" for c, p in wanted).encode())
    found, seen, pos = [], set(), 0
    for commit, path in wanted:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split()
        pos = header_end + 1
        if header[-1] == b"missing":  # the commit deleted the file
            continue
        size = int(header[2])
        text = out[pos : pos + size].decode("utf-8", errors="replace")
        pos += size + 1
        rel = path[len(top) :] if top and path.startswith(top) else path
        shown = f"{rel}@{commit[:10]}"
        data = parse(text, shown) or {}
        if not isinstance(data, dict):
            raise UsageError("expected a mapping at the top level", file=shown, line=1)
        env = str(data.get("environment") or rel.rsplit("/", 1)[-1].removesuffix(".lock"))
        for name, entry in sorted(parse_lock(data, text, shown).items()):
            if entry.anchor is None:
                continue
            key = (rel, name, entry.anchor.seq, entry.anchor.hash)
            if key not in seen:
                seen.add(key)
                found.append(Found(rel, _line(text, name), commit, env, name, entry))
    return found


class _Collector:
    """What the anchor checks need from one pass over the chain."""

    def __init__(self, wanted: set[int]) -> None:
        self.wanted = wanted
        self.rows: dict[int, tuple[Any, ...]] = {}
        self.latest: dict[str, tuple[int, str | None, str | None]] = {}  # subject -> newest
        self.promotions: dict[int, tuple[str, dict[str, Any]]] = {}  # seq -> (actor, payload)
        self.head: tuple[int, str] | None = None

    def __call__(self, row: tuple[Any, ...]) -> None:
        seq, _, actor, event, subject, payload = row[:6]
        self.head = (seq, row[7])
        if seq in self.wanted:
            self.rows[seq] = row
        if event in PROMOTION_EVENTS:
            data = json.loads(payload) if isinstance(payload, str) else (payload or {})
            self.latest[subject] = (seq, data.get("content_hash"), data.get("version"))
            self.promotions[seq] = (actor, data)


def verify(ws: Any, store: Any, git: bool = False) -> dict[str, Any]:
    """The chain, the keyed HMACs, the anchors (working tree, and with ``git`` their history),
    every locked entry's promotion, and the tables ``at`` reads. Status ``broken`` names the
    first failure; ``not_checked`` says what could not be checked and why."""
    found, locks = working_tree_anchors(ws)
    if git:
        found += git_anchors(ws)
    collector = _Collector({f.entry.anchor.seq for f in found if f.entry.anchor})
    key = audit.audit_key()
    chain = audit.verify(store, key, collector)
    not_checked: list[str] = list(chain.pop("not_checked", []))
    problems: list[dict[str, Any]] = []
    end = collector.head[0] if collector.head else 0
    for f in found:
        if problem := _check_anchor(f, collector, chain, end):
            problems.append({**f.to_dict(), "where": f.where, "problem": problem})
    problems.sort(key=lambda p: (p["seq"], p["file"], p["commit"] or ""))
    entries = _check_entries(ws, locks, collector)
    tables = _check_tables(store, collector)
    newest = max((f.entry.anchor.seq for f in found if f.entry.anchor), default=0)
    if end > newest:
        not_checked.append(
            f"rows {newest + 1}–{end} are after the newest anchor: deleting them, or restoring "
            "a copy of the store taken since, is not caught by an anchor"
            + ("" if key else " (set PROMPTRAIL_AUDIT_KEY and keep exports to guard them)")
        )
    if not git:
        not_checked.append(
            "anchors in the lockfiles' git history (run `audit verify --git`)",
        )
    if entries["unanchored"]:
        not_checked.append(
            f"{len(entries['unanchored'])} locked entries carry no anchor (locked before "
            "anchors existed); their promotions were found by searching the chain"
        )
    if tables["legacy"]:
        not_checked.append(
            f"{tables['legacy']} promotions recorded before audit_seq existed were not "
            "compared with their audit rows"
        )
    failed = chain["status"] != "ok" or problems or entries["missing"] or tables["mismatches"]
    result: dict[str, Any] = {
        **chain,
        "status": "broken" if failed else "ok",
        "head": {"seq": collector.head[0], "hash": collector.head[1]} if collector.head else None,
        "anchors": {"checked": len(found), "failed": problems, "git": git},
        "first_bad_anchor": problems[0] if problems else None,
        "entries": entries,
        "tables": _capped(tables["mismatches"]),
        "not_checked": not_checked,
    }
    return result


def vouch(ws: Any, store: Any, prompts: list[dict[str, Any]]) -> None:
    """Add to each ``at`` answer the anchor that vouches for its promotion's audit row: the
    nearest anchor at or after it in the working tree's lockfiles (the chain links every row
    before an anchor to it), and whether the store's row there still has the anchored hash.
    ``audit verify`` checks the rows in between."""
    try:
        found, _ = working_tree_anchors(ws)
    except UsageError:
        found = []
    for p in prompts:
        row = p.get("audit")
        anchors = [f for f in found if row and f.entry.anchor and f.entry.anchor.seq >= row["seq"]]
        if not anchors:
            p["anchor"] = None
            continue
        best = min(anchors, key=lambda f: (f.entry.anchor.seq if f.entry.anchor else 0, f.file))
        assert best.entry.anchor is not None
        stored = store.query("SELECT hash FROM audit_log WHERE seq = ?", [best.entry.anchor.seq])[1]
        p["anchor"] = {
            **best.to_dict(),
            "matches_store": bool(stored) and stored[0][0] == best.entry.anchor.hash,
        }


def _check_anchor(f: Found, c: _Collector, chain: dict[str, Any], end: int) -> str | None:
    anchor = f.entry.anchor
    assert anchor is not None
    short = anchor.hash[:19] + "…"
    if anchor.seq > end:
        if chain["status"] != "ok" and chain["first_bad_seq"] <= anchor.seq:
            return (
                f"row {anchor.seq} ({short}) cannot be vouched for: the chain breaks at row "
                f"{chain['first_bad_seq']} before it"
            )
        return (
            f"row {anchor.seq} ({short}) is not in the store, whose chain ends at row {end}: "
            "rows were deleted from the end, or an older copy of the store was restored"
        )
    row = c.rows[anchor.seq]
    if row[7] != anchor.hash:
        return (
            f"row {anchor.seq} hashes to {row[7][:19]}… but the lockfile recorded {short}: the "
            "chain was rewritten up to this row (and its hashes recomputed), or replaced by "
            "another store's"
        )
    if anchor.keyed and not row[9]:
        return f"row {anchor.seq} was written with the key but carries no HMAC now"
    event, subject = row[3], row[4]
    data = c.promotions.get(anchor.seq, ("", {}))[1]
    if (
        event not in PROMOTION_EVENTS
        or subject != f"{f.env}/{f.name}"
        or data.get("content_hash") != f.entry.content_hash
    ):
        return (
            f"row {anchor.seq} is {event} of {subject}, not the promotion of {f.name} "
            f"{f.entry.version} ({f.entry.content_hash[:19]}…) into {f.env}: the lockfile "
            "entry was edited"
        )
    return None


def _check_entries(
    ws: Any, locks: dict[str, dict[str, LockEntry]], c: _Collector
) -> dict[str, Any]:
    """Every entry of a gated environment's lockfile must have its promotion in the chain."""
    working = working_env(ws)
    checked, missing, unanchored, behind = 0, [], [], []
    for env, entries in locks.items():
        if env == working:
            continue  # follows the working tree through `promptrail lock`, not promotions
        for name, entry in sorted(entries.items()):
            checked += 1
            newest = c.latest.get(f"{env}/{name}")
            if entry.anchor is None:
                if newest is None or newest[1] != entry.content_hash:
                    missing.append(
                        {
                            "env": env,
                            "name": name,
                            "version": entry.version,
                            "problem": f"{name} {entry.version} in environments/{env}.lock has "
                            "no promotion in the audit chain (the lockfile was edited, or the "
                            "chain lost it)",
                        }
                    )
                else:
                    unanchored.append(f"{env}/{name}")
            elif newest is not None and newest[0] > entry.anchor.seq:
                behind.append(
                    {
                        "env": env,
                        "name": name,
                        "lock_seq": entry.anchor.seq,
                        "chain_seq": newest[0],
                        "chain_version": newest[2],
                    }
                )
    return {"checked": checked, "missing": missing, "unanchored": unanchored, "behind": behind}


def _check_tables(store: Any, c: _Collector) -> dict[str, Any]:
    """The promotions table and the text ``at`` prints, against the chain."""
    from promptrail.resolve import ResolvedPrompt

    mismatches, legacy, rehashed_ok = [], 0, set()
    rows = store.query_dicts(
        "SELECT p.promotion_id, p.name, p.version, p.content_hash, p.env, p.actor, p.approvals, "
        "p.reason, p.kind, p.audit_seq, v.resolved FROM promotions p LEFT JOIN prompt_versions v "
        "ON v.name = p.name AND v.content_hash = p.content_hash ORDER BY p.audit_seq"
    )
    for r in rows:
        label = f"promotion of {r['name']} {r['version']} into {r['env']}"
        resolved = json.loads(r["resolved"]) if isinstance(r["resolved"], str) else r["resolved"]
        if resolved is not None and (r["name"], r["content_hash"]) not in rehashed_ok:
            rehashed_ok.add((r["name"], r["content_hash"]))  # each version's text once
            try:
                rehashed = ResolvedPrompt.from_dict(resolved).content_hash
            except (KeyError, TypeError, ValueError):
                rehashed = None
            if rehashed != r["content_hash"]:
                mismatches.append(
                    f"the stored text of {r['name']} {r['version']} no longer hashes to "
                    f"{r['content_hash'][:19]}… (prompt_versions was edited)"
                )
        if r["audit_seq"] is None:
            legacy += 1
            continue
        actor, data = c.promotions.get(r["audit_seq"], (None, None))
        if data is None:
            mismatches.append(f"the {label} names audit row {r['audit_seq']}, which is not one")
            continue
        approvals = json.loads(r["approvals"]) if isinstance(r["approvals"], str) else None
        table = {
            "name": r["name"],
            "version": r["version"],
            "content_hash": r["content_hash"],
            "env": r["env"],
            "actor": r["actor"],
            "approvals": approvals or [],
            "reason": r["reason"],
        }
        chain = {**{k: data.get(k) for k in table}, "actor": actor}
        chain["approvals"] = chain["approvals"] or []
        for k in table:
            if table[k] != chain[k]:
                mismatches.append(
                    f"the {label} says {k} = {table[k]!r} but its audit row "
                    f"{r['audit_seq']} says {chain[k]!r} (the promotions table was edited)"
                )
    return {"mismatches": mismatches, "legacy": legacy}


def _capped(items: list[Any], limit: int = 50) -> list[Any]:
    return items if len(items) <= limit else [*items[:limit], f"… and {len(items) - limit} more"]
