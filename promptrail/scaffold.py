"""``promptrail init``: a new workspace that passes ``lint`` and ``lock --check`` at once."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from promptrail.errors import UsageError


def _files(root: Any, prefix: str = "") -> list[tuple[str, bytes]]:
    out = []
    for item in sorted(root.iterdir(), key=lambda p: p.name):
        rel = f"{prefix}{item.name}"
        if item.is_dir():
            if item.name != "__pycache__":
                out += _files(item, rel + "/")
        else:
            out.append((rel, item.read_bytes()))
    return out


INSTALL_TOKEN = "__PROMPTRAIL_INSTALL__"
INSTALL_VARIABLE = "${{ vars.PROMPTRAIL_INSTALL }}"


def install_spec(spec: str | None) -> str:
    """What the CI workflows ``pip install``: promptrail is not on PyPI, so a repository URL
    (given the postgres extra for the team store) or any pip requirement; without one, the
    repository variable PROMPTRAIL_INSTALL (the workflow stops with a message while unset)."""
    if not spec:
        return INSTALL_VARIABLE
    spec = spec.strip()
    if '"' in spec or "\n" in spec:
        raise UsageError(f"--install takes a pip requirement or URL, got {spec!r}")
    if spec.startswith(("git+", "https://", "http://", "file:")):
        return f"promptrail[postgres] @ {spec}"
    return spec


def init(target: str | Path, install: str | None = None) -> dict[str, Any]:
    root = Path(target).resolve()
    spec = install_spec(install)
    if (root / "promptrail.yaml").exists():
        raise UsageError(
            "a promptrail workspace already exists here", file=root / "promptrail.yaml"
        )
    written = []
    for rel, data in _files(resources.files("promptrail") / "scaffold"):
        dest = root / rel
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel.startswith(".github/workflows/"):
            data = data.replace(INSTALL_TOKEN.encode(), spec.encode())
        dest.write_bytes(data)
        written.append(rel)
    from promptrail import editor_schemas
    from promptrail import lock as locking
    from promptrail.lock import write_lock
    from promptrail.workspace import Workspace

    written += editor_schemas.write(root)
    ws = Workspace(root)
    locking.lock(ws)
    for env in ws.config.environments[1:]:
        write_lock(ws.lock_path(env.name), env.name, {})
    written += [f"environments/{e.name}.lock" for e in ws.config.environments]
    return {"root": str(root), "files": written}
