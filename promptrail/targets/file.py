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

    def deployed(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if not self.folder.exists():
            return out
        for path in sorted(self.folder.glob("*.json")):
            try:
                # a regular file under the size limit: a FIFO or /dev/zero never blocks drift
                data = json.loads(read_text(path, path.relative_to(self.ws.root)))
            except (OSError, ValueError):
                data = {"name": path.stem, "content_hash": "unreadable", "messages": None}
            if not isinstance(data, dict):
                raise TargetError(f"{path} is not a bundle", kind="garbage")
            out[str(data.get("name") or path.stem)] = data
        return out
