"""Find the resolved content of an earlier version: by content hash or by version.

The store's ``prompt_versions`` table is asked first (every gated or promoted version is there);
then git history, newest first, for a commit whose files resolve to that content.
"""

from __future__ import annotations

import subprocess
from typing import Any

from promptrail.errors import UsageError
from promptrail.resolve import ResolvedPrompt

GIT_DEPTH = 200


def find(
    ws: Any, name: str, content_hash: str | None = None, version: str | None = None
) -> ResolvedPrompt | None:
    try:
        current = ws.resolve(name)
    except UsageError:
        current = None
    if current is not None and _matches(current, content_hash, version):
        return current
    found = _from_store(ws, name, content_hash, version)
    if found is not None:
        return found
    return _from_git(ws, name, content_hash, version)


def _matches(r: ResolvedPrompt, content_hash: str | None, version: str | None) -> bool:
    if content_hash is not None:
        return r.content_hash == content_hash
    return r.version == version


def _from_store(
    ws: Any, name: str, content_hash: str | None, version: str | None
) -> ResolvedPrompt | None:
    path = ws.store_path()
    if not path.exists():
        return None
    import json

    from promptrail.store import Store

    key, value = ("content_hash", content_hash) if content_hash else ("version", version)
    rows = Store(path).query_dicts(
        f"SELECT resolved FROM prompt_versions WHERE name = ? AND {key} = ? "
        "ORDER BY first_seen_at DESC LIMIT 1",
        [name, value],
    )
    if not rows:
        return None
    data = rows[0]["resolved"]
    data = json.loads(data) if isinstance(data, str) else data
    resolved = ResolvedPrompt.from_dict(data)
    return resolved if content_hash is None or resolved.content_hash == content_hash else None


def _from_git(
    ws: Any, name: str, content_hash: str | None, version: str | None
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
