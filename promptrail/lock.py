"""Lockfiles: which version and content hash of each prompt an environment runs.

``environments/<env>.lock`` is written only by promptrail, atomically, sorted by prompt name,
one fact per line so that a review diff reads like a changelog. The first environment in
``promptrail.yaml`` (dev) follows the working tree through ``promptrail lock``; gated
environments change only through ``promptrail promote`` and ``rollback``, which record with
each entry the anchor of its promotion: the sequence number and hash of the promotion's own
audit row (``anchor: {seq: 12, hash: "sha256:…"}``, plus ``keyed: true`` when that row
carries an HMAC). ``audit verify`` checks the store's chain against these anchors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptrail.errors import UsageError
from promptrail.fsutil import write_atomic
from promptrail.yamlio import line_of, load_mapping, read_text

if TYPE_CHECKING:
    from promptrail.resolve import ResolvedPrompt
    from promptrail.workspace import Workspace

LOCK_VERSION = 1
HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Anchor:
    """The audit row that recorded a promotion: what the lockfile vouches the chain holds."""

    seq: int
    hash: str
    keyed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, **({"keyed": True} if self.keyed else {})}

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> Anchor:
        return cls(int(row["seq"]), str(row["hash"]), bool(row.get("hmac")))


@dataclass(frozen=True)
class LockEntry:
    version: str
    content_hash: str
    components: dict[str, str] = field(default_factory=dict)
    anchor: Anchor | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": self.version,
            "content_hash": self.content_hash,
            "components": dict(self.components),
        }
        if self.anchor is not None:
            data["anchor"] = self.anchor.to_dict()
        return data


@dataclass
class Problem:
    name: str
    kind: str
    message: str
    env: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "message": self.message, "env": self.env}


def read_lock(path: Path) -> dict[str, LockEntry]:
    """The entries of a lockfile; a missing file is an empty lock (nothing live yet)."""
    if not path.exists():
        return {}
    shown = f"environments/{path.name}"
    data, text = load_mapping(path, shown)
    return parse_lock(data, text, shown)


def parse_lock(data: dict[str, Any], text: str, shown: str) -> dict[str, LockEntry]:
    """Entries from a lockfile's parsed YAML (``text`` for line numbers in errors)."""
    prompts = data.get("prompts") or {}
    if not isinstance(prompts, dict):
        raise UsageError(
            "`prompts` must be a mapping", file=shown, line=line_of(text, ("prompts",))
        )
    entries = {}
    for name, raw in prompts.items():
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("version"), str)
            or not isinstance(raw.get("content_hash"), str)
        ):
            raise UsageError(
                f"entry {name!r} needs a version and a content_hash",
                file=shown,
                line=line_of(text, ("prompts", name)),
            )
        comps = raw.get("components") or {}
        entries[str(name)] = LockEntry(
            raw["version"],
            raw["content_hash"],
            {str(k): str(v) for k, v in comps.items()},
            _anchor(raw.get("anchor"), str(name), text, shown),
        )
    return entries


def _anchor(raw: Any, name: str, text: str, shown: str) -> Anchor | None:
    if raw is None:
        return None
    seq = raw.get("seq") if isinstance(raw, dict) else None
    digest = raw.get("hash") if isinstance(raw, dict) else None
    keyed = raw.get("keyed", False) if isinstance(raw, dict) else None
    if (
        not isinstance(seq, int)
        or isinstance(seq, bool)
        or seq < 1
        or not isinstance(digest, str)
        or not HASH_RE.match(digest)
        or not isinstance(keyed, bool)
        or set(raw) - {"seq", "hash", "keyed"}
    ):
        raise UsageError(
            f"the anchor of {name!r} does not parse: expected "
            '{seq: N, hash: "sha256:<64 hex>"} (and optionally keyed: true), '
            f"got {raw!r}",
            file=shown,
            line=line_of(text, ("prompts", name, "anchor")),
            kind="anchor",
        )
    return Anchor(seq, digest, keyed)


def format_lock(env: str, entries: dict[str, LockEntry]) -> str:
    lines = [
        f"# promptrail lockfile for environment {env!r}.",
        "# Written by promptrail (lock, promote, rollback); do not edit by hand.",
        f"lock_version: {LOCK_VERSION}",
        f"environment: {env}",
    ]
    if not entries:
        lines.append("prompts: {}")
    else:
        lines.append("prompts:")
        for name in sorted(entries):
            e = entries[name]
            lines.append(f"  {name}:")
            lines.append(f"    version: {json.dumps(e.version)}")
            lines.append(f"    content_hash: {json.dumps(e.content_hash)}")
            if e.components:
                lines.append("    components:")
                for comp in sorted(e.components):
                    lines.append(f"      {comp}: {json.dumps(e.components[comp])}")
            else:
                lines.append("    components: {}")
            if e.anchor is not None:
                a = e.anchor
                keyed = ", keyed: true" if a.keyed else ""
                lines.append(f"    anchor: {{seq: {a.seq}, hash: {json.dumps(a.hash)}{keyed}}}")
    return "\n".join(lines) + "\n"


def write_lock(path: Path, env: str, entries: dict[str, LockEntry]) -> bool:
    """Write the lockfile atomically; returns whether its content changed."""
    text = format_lock(env, entries)
    if path.exists() and read_text(path) == text:  # refuses a FIFO rather than blocking on it
        return False
    write_atomic(path, text)
    return True


def anchored(entry: LockEntry, audit_row: dict[str, Any]) -> LockEntry:
    """``entry`` vouched for by the audit row that recorded its promotion."""
    return LockEntry(entry.version, entry.content_hash, entry.components, Anchor.of_row(audit_row))


def entry_for(resolved: ResolvedPrompt) -> LockEntry:
    return LockEntry(resolved.version, resolved.content_hash, dict(resolved.components))


def working_env(ws: Workspace) -> str:
    """The environment that follows the working tree: the first one in promotion order."""
    return str(ws.config.environments[0].name)


def resolve_all(
    ws: Workspace, names: list[str] | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """Resolve prompts, turning component-range failures into problems rather than errors."""
    from promptrail.resolve import ResolveError

    resolved, problems = {}, []
    for name in names if names is not None else ws.prompt_names():
        try:
            resolved[name] = ws.resolve(name)
        except ResolveError as exc:
            kind = "unresolvable" if exc.kind == "component-range" else exc.kind
            problems.append(Problem(name, kind, str(exc)))
    return resolved, problems


def lock(ws: Workspace, env: str | None = None) -> dict[str, Any]:
    """Re-resolve the working tree into the working environment's lockfile."""
    env = env or working_env(ws)
    environment = ws.config.environment(env)
    if environment.gate_names() or env != working_env(ws):
        raise UsageError(
            f"{env!r} is a gated environment: it changes only through "
            f"`promptrail promote` (and `rollback`); `lock --check --env {env}` "
            "checks it",
            file="promptrail.yaml",
        )
    resolved, problems = resolve_all(ws)
    if problems:
        p = problems[0]
        raise UsageError(p.message, kind=p.kind)
    path = ws.lock_path(env)
    before = read_lock(path)
    entries = {name: entry_for(r) for name, r in resolved.items()}
    changed = write_lock(path, env, entries)
    changes = []
    for name in sorted(set(before) | set(entries)):
        old, new = before.get(name), entries.get(name)
        if old != new:
            changes.append(
                {
                    "name": name,
                    "from": old.version if old else None,
                    "to": new.version if new else None,
                    "content_hash": new.content_hash if new else None,
                }
            )
    return {"env": env, "path": str(path), "written": changed, "changes": changes}


def check(ws: Workspace, envs: list[str] | None = None) -> list[Problem]:
    """Everything on which the files and the lockfiles disagree."""
    resolved, problems = resolve_all(ws)
    working = working_env(ws)
    for env in envs or [e.name for e in ws.config.environments]:
        ws.config.environment(env)
        entries = read_lock(ws.lock_path(env))
        for name, entry in sorted(entries.items()):
            r = resolved.get(name)
            if r is None:
                if name not in ws.prompt_names() and env == working:
                    problems.append(
                        Problem(
                            name,
                            "removed",
                            f"locked in {env} at "
                            f"{entry.version} but prompts/{name}.yaml is gone; "
                            "run `promptrail lock`",
                            env,
                        )
                    )
                continue
            if r.version == entry.version and r.content_hash != entry.content_hash:
                problems.append(Problem(name, "unbumped", _unbumped(r, entry, env), env))
                for comp, version in _edited_components(ws, r, entry):
                    if not any(p.name == comp and p.kind == "unbumped-component" for p in problems):
                        problems.append(
                            Problem(
                                comp,
                                "unbumped-component",
                                f"components/{comp}.yaml changed but is still at {version} "
                                f"(as locked for {name} in {env}); bump it: "
                                f"`promptrail bump {comp} --patch`",
                                env,
                            )
                        )
            elif env == working and r.version != entry.version:
                problems.append(
                    Problem(
                        name,
                        "stale",
                        f"prompts/{name}.yaml is at {r.version} "
                        f"but the {env} lock has {entry.version}; run "
                        "`promptrail lock`",
                        env,
                    )
                )
        if env == working:
            for name in sorted(set(resolved) - set(entries)):
                problems.append(
                    Problem(
                        name,
                        "unlocked",
                        f"{name} {resolved[name].version} is "
                        f"not in the {env} lock; run `promptrail lock`",
                        env,
                    )
                )
    return problems


def _edited_components(ws: Any, r: Any, entry: LockEntry) -> list[tuple[str, str]]:
    """Components whose text changed while their version stayed what the lock records: the
    current template is in the prompt's content now but not in the locked content."""
    from promptrail import snapshots

    same = [(c, v) for c, v in r.components.items() if entry.components.get(c) == v]
    if not same:
        return []
    old = snapshots.find(ws, r.name, content_hash=entry.content_hash)
    if old is None:
        return []
    before = "\n".join(m["content"] for m in old.messages)
    out = []
    for comp, version in same:
        template = ws.component(comp).model.template.rstrip("\n")
        if "component(" not in template and template not in before:
            out.append((comp, version))
    return out


def _unbumped(r: Any, entry: LockEntry, env: str) -> str:
    moved = [
        f"{c} {entry.components.get(c, 'none')} -> {v}"
        for c, v in r.components.items()
        if entry.components.get(c) != v
    ]
    moved += [f"{c} {v} -> none" for c, v in entry.components.items() if c not in r.components]
    cause = f" (components changed: {', '.join(moved)})" if moved else ""
    return (
        f"content changed but the version is still {r.version}, which {env} locks with "
        f"another hash{cause}; bump it: `promptrail bump {r.name} --auto`"
    )
