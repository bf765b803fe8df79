"""The ``file`` target: one JSON bundle per prompt under a folder, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptrail.errors import UsageError
from promptrail.fsutil import write_atomic
from promptrail.targets import Target, TargetError
from promptrail.yamlio import read_text


class FileTarget(Target):
    kind = "file"

    @property
    def folder(self) -> Path:
        path = self.spec.get("path")
        if not path:
            raise UsageError("a file target needs a `path`", file="promptrail.yaml")
        return Path(self.ws.root) / str(self.ws.inside(str(path), "promptrail.yaml"))

    def deploy(self, bundle: dict[str, Any]) -> None:
        write_atomic(
            self.folder / f"{bundle['name']}.json",
            json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        )

    def remove(self, name: str) -> None:
        (self.folder / f"{name}.json").unlink(missing_ok=True)

    def names(self) -> list[str]:
        folder = self.folder
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def fetch(self, name: str, stamp: str | None = None) -> tuple[str, bytes | None]:
        path = self.folder / f"{name}.json"
        try:
            st = path.stat()
            now = f"{st.st_mtime_ns}-{st.st_size}-{st.st_ino}"
            return (stamp, None) if now == stamp else (now, path.read_bytes())
        except OSError as exc:
            raise TargetError(f"{path}: {exc.strerror or exc}", kind="unreachable") from None

    def deployed(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if not self.folder.exists():
            return out
        for path in sorted(self.folder.glob("*.json")):
            try:
                # a regular file under the size limit: a FIFO or /dev/zero never blocks drift
                data = json.loads(read_text(path, path.relative_to(self.ws.root)))
            except (OSError, ValueError, UsageError):
                # not a bundle we can read (a folder, a FIFO, too big): drift reports it, a
                # deploy of this name replaces it, and it never stops the other bundles
                data = {"name": path.stem, "content_hash": "unreadable", "messages": None}
            if not isinstance(data, dict):
                raise TargetError(f"{path} is not a bundle", kind="garbage")
            out[path.stem] = data  # by where it is, not what it claims to be
        return out
