"""``diff`` and ``bump``: find the two sides, compare them, name (or apply) the bump."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from promptrail import semver, snapshots
from promptrail.diff import compare
from promptrail.errors import UsageError
from promptrail.lock import read_lock
from promptrail.resolve import ResolvedPrompt

if TYPE_CHECKING:
    from promptrail.workspace import Workspace

VERSION_LINE = re.compile(r"^(version:\s*)(['\"]?)([^'\"\s#]+)(['\"]?)(.*)$", re.MULTILINE)


def side(ws: Workspace, name: str, spec: str | None) -> ResolvedPrompt:
    """A prompt as of: the working tree (None), an environment, a version, or ``git:REF``."""
    if spec is None:
        return ws.resolve(name)
    if spec.startswith("git:"):
        from promptrail.workspace import Workspace

        return Workspace(ws.root, ref=spec[4:]).resolve(name)
    env_names = [e.name for e in ws.config.environments]
    if spec in env_names:
        return snapshots.content_of(ws, name, env=spec)
    try:
        semver.parse_version(spec)
    except ValueError:
        raise UsageError(
            f"{spec!r} is not a version, an environment ({', '.join(env_names)}) or git:REF"
        ) from None
    return snapshots.content_of(ws, name, version=spec)


def baseline(ws: Workspace, name: str) -> ResolvedPrompt | None:
    """What the working tree is compared with by default: the nearest environment whose lock
    pins other content, in promotion order."""
    current = ws.resolve(name)
    for env in ws.config.environments:
        entry = read_lock(ws.lock_path(env.name)).get(name)
        if entry is None or entry.content_hash == current.content_hash:
            continue
        found = snapshots.find(ws, name, content_hash=entry.content_hash)
        if found is not None:
            return found
    return None


def committed(ws: Workspace, name: str) -> ResolvedPrompt | None:
    """The prompt as committed at git HEAD, or None (no git, or not in HEAD)."""
    try:
        return side(ws, name, "git:HEAD")
    except UsageError:
        return None


def diff_prompt(ws: Workspace, name: str, a: str | None, b: str | None) -> dict[str, Any]:
    new = side(ws, name, b)
    against = a
    old: ResolvedPrompt | None
    if a is not None:
        old = side(ws, name, a)
    else:
        old = baseline(ws, name)
        if old is not None:
            envs = [
                e.name
                for e in ws.config.environments
                if getattr(read_lock(ws.lock_path(e.name)).get(name), "content_hash", None)
                == old.content_hash
            ]
            against = f"the {envs[0] if envs else 'nearest'} lock ({old.version})"
        else:  # no lock differs: the committed file, never the tree against itself
            old = committed(ws, name)
            against = "git HEAD (no lock pins other content)"
            if old is None:
                old, against = new, "itself: no lock pins other content and git has no HEAD copy"
            elif old.content_hash == new.content_hash:
                against = "git HEAD (no lock pins other content; the tree is as committed)"
    assert old is not None
    result = compare(old, new)
    result["against"] = against
    result["version_bump"] = semver.bump_between(old.version, new.version)
    result["bump_ok"] = semver.BUMPS.index(result["version_bump"]) >= semver.BUMPS.index(
        result["bump"]
    )
    return result


def diff_envs(ws: Workspace, env_a: str, env_b: str) -> dict[str, Any]:
    ws.config.environment(env_a), ws.config.environment(env_b)
    lock_a, lock_b = read_lock(ws.lock_path(env_a)), read_lock(ws.lock_path(env_b))
    prompts: list[dict[str, Any]] = []
    for name in sorted(set(lock_a) | set(lock_b)):
        ea, eb = lock_a.get(name), lock_b.get(name)
        if ea is None or eb is None:
            prompts.append(
                {
                    "name": name,
                    "status": f"only in {env_a if eb is None else env_b}",
                    "from": ea and ea.to_dict(),
                    "to": eb and eb.to_dict(),
                }
            )
            continue
        if ea.content_hash == eb.content_hash:
            prompts.append({"name": name, "status": "same", "version": ea.version})
            continue
        old = snapshots.find(ws, name, content_hash=ea.content_hash)
        new = snapshots.find(ws, name, content_hash=eb.content_hash)
        if old is None or new is None:
            prompts.append(
                {
                    "name": name,
                    "status": "changed",
                    "from": ea.to_dict(),
                    "to": eb.to_dict(),
                    "bump": "unknown",
                    "changes": [],
                    "rendered_diff": "",
                    "note": "content not found in store or git",
                }
            )
            continue
        prompts.append({"status": "changed", **compare(old, new)})
    return {"from": env_a, "to": env_b, "prompts": prompts}


def bump(ws: Workspace, name: str, part: str) -> dict[str, Any]:
    if not ws.exists(f"prompts/{name}.yaml") and ws.exists(f"components/{name}.yaml"):
        return bump_component(ws, name, part)
    loaded = ws.prompt(name)
    ws.resolve(name)  # a component that does not load is bad input here too (exit 2)
    current = loaded.model.version
    if part == "auto":
        old = baseline(ws, name)
        if old is None:
            return {
                "name": name,
                "from": current,
                "to": current,
                "bump": "none",
                "message": f"{name} {current}: nothing to bump (no locked version differs)",
            }
        needed = compare(old, ws.resolve(name))["bump"]
        have = semver.bump_between(old.version, current)
        if needed == "none" or semver.BUMPS.index(have) >= semver.BUMPS.index(needed):
            return {
                "name": name,
                "from": current,
                "to": current,
                "bump": needed,
                "message": f"{name} {current}: already bumped enough ({have} over "
                f"{old.version}; the change calls for {needed})",
            }
        new_version = semver.bump(old.version, needed)
        part = needed
    else:
        new_version = semver.bump(current, part)
    rewrite_version(ws, loaded.path, new_version)
    return {
        "name": name,
        "from": current,
        "to": new_version,
        "bump": part,
        "message": f"{name}: {current} -> {new_version} ({part}); run `promptrail lock`",
    }


def rewrite_version(ws: Workspace, rel: str, new_version: str) -> None:
    path = ws.path(rel)  # not through a link out of the workspace
    text = ws.read(rel)
    new_text, count = VERSION_LINE.subn(
        lambda m: f"{m[1]}{m[2]}{new_version}{m[4]}{m[5]}", text, count=1
    )
    if count != 1:
        raise UsageError("no top-level `version:` line to rewrite", file=rel)
    from promptrail.fsutil import write_atomic

    write_atomic(path, new_text)


def bump_component(ws: Workspace, name: str, part: str) -> dict[str, Any]:
    """Raise a component's version (``--auto`` is a patch: a component has no interface to
    compare); the prompts using it then need a bump of their own."""
    loaded = ws.component(name)
    current = loaded.model.version
    part = "patch" if part == "auto" else part
    new_version = semver.bump(current, part)
    rewrite_version(ws, loaded.path, new_version)
    return {
        "name": name,
        "kind": "component",
        "from": current,
        "to": new_version,
        "bump": part,
        "message": f"component {name}: {current} -> {new_version} ({part}); check the "
        "prompts' `uses` ranges, bump the prompts using it, and run `promptrail lock`",
    }
