"""The resolved content of a prompt as it was: at a version, with a content hash, or live in an
environment. The one place that answers it (``content_of``), with one not-found error.

The working tree is asked first (when it is at that content), then the store's
``prompt_versions`` table (every gated or promoted version is there), then git history, newest
first, for a commit whose files resolve to that content.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

from promptrail.errors import UsageError
from promptrail.resolve import ResolvedPrompt

if TYPE_CHECKING:
    from promptrail.store import Store
    from promptrail.workspace import Workspace

GIT_DEPTH = 200


class ContentNotFound(UsageError):
    """The content asked for is in none of the working tree, the store and git history."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="content-not-found")


def content_of(
    ws: Workspace,
    name: str,
    *,
    version: str | None = None,
    content_hash: str | None = None,
    env: str | None = None,
) -> ResolvedPrompt:
    """The resolved content of ``name`` at ``version``, with ``content_hash``, or live in
    ``env`` (its lock entry); ``ContentNotFound`` when it cannot be found anywhere."""
    what = version or content_hash or ""
    if env is not None:
        from promptrail.lock import read_lock

        entry = read_lock(ws.lock_path(env)).get(name)
        if entry is None:
            raise ContentNotFound(f"{name} is not locked in {env}")
        version, content_hash = None, entry.content_hash
        what = f"{entry.version} ({entry.content_hash}), locked in {env},"
    elif version is not None and content_hash is not None:
        what = f"{version} ({content_hash})"
    if version is None and content_hash is None:
        raise ValueError("content_of needs a version, a content hash or an environment")
    found = find(ws, name, content_hash=content_hash, version=version)
    if found is None:
        raise ContentNotFound(
            f"{name} {what} is neither in the working tree, the store nor git history"
        )
    return found


def locked_content(ws: Workspace, env: str, name: str) -> ResolvedPrompt | None:
    """The content live in ``env`` (None when ``name`` is not locked there)."""
    from promptrail.lock import read_lock

    if read_lock(ws.lock_path(env)).get(name) is None:
        return None
    return content_of(ws, name, env=env)


def find(
    ws: Workspace, name: str, content_hash: str | None = None, version: str | None = None
) -> ResolvedPrompt | None:
    """Like ``content_of``, but None when not found."""
    try:
        current = ws.resolve(name)
    except UsageError:
        current = None
    if current is not None and _matches(current, content_hash, version):
        return current
    found = _from_store_path(ws, name, content_hash, version)
    if found is not None:
        return found
    return _from_git(ws, name, content_hash, version)


def _matches(r: ResolvedPrompt, content_hash: str | None, version: str | None) -> bool:
    if content_hash is not None and r.content_hash != content_hash:
        return False
    return version is None or r.version == version


def from_store(
    store: Store, name: str, content_hash: str | None = None, version: str | None = None
) -> ResolvedPrompt | None:
    """The content recorded in the store's ``prompt_versions`` (None when absent)."""
    key, value = ("content_hash", content_hash) if content_hash else ("version", version)
    rows = store.query_dicts(
        f"SELECT resolved FROM prompt_versions WHERE name = ? AND {key} = ? "
        "ORDER BY first_seen_at DESC LIMIT 1",
        [name, value],
    )
    if not rows:
        return None
    data = rows[0]["resolved"]
    data = json.loads(data) if isinstance(data, str) else data
    resolved = ResolvedPrompt.from_dict(data)
    return resolved if _matches(resolved, content_hash, version) else None


def _from_store_path(
    ws: Workspace, name: str, content_hash: str | None, version: str | None
) -> ResolvedPrompt | None:
    return from_store(ws.store(read_only=True), name, content_hash, version)


def _from_git(
    ws: Workspace, name: str, content_hash: str | None, version: str | None
) -> ResolvedPrompt | None:
    from promptrail.workspace import Workspace

    proc = subprocess.run(
        [
            "git",
            "-C",
            str(ws.root),
            "log",
            f"-n{GIT_DEPTH}",
            "--format=%H",
            "--",
            f"prompts/{name}.yaml",
            "components",
            "schemas",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return None
    for sha in proc.stdout.split():
        try:
            old = Workspace(ws.root, ref=sha).resolve(name)
        except UsageError:
            continue
        if _matches(old, content_hash, version):
            return old
    return None
