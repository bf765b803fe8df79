"""The ``http`` target: an application endpoint that reports the prompts it serves.

``GET url`` must answer JSON: ``[{"name", "version", "content_hash"}, ...]`` (or an object
with a ``prompts`` list) — ``promptrail.runtime.PromptSet.manifest()`` is exactly this. A
timeout or refused connection is ``unreachable``; anything else unusable is ``garbage``.
It is read-only: applications load their bundles themselves.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from promptrail.targets import Target, TargetError


class HttpTarget(Target):
    kind = "http"
    writes = False
    holds_bundles = False

    def deploy(self, bundle: dict[str, Any]) -> None:
        """Nothing to push: the application reads the bundle from a file target."""

    def deployed(self) -> dict[str, dict[str, Any]]:
        url = str(self.spec.get("url", ""))
        timeout = float(self.spec.get("timeout", 5))
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
                raw = resp.read(5_000_000)
        except (OSError, ValueError) as exc:
            raise TargetError(f"{url}: {exc}", kind="unreachable") from None
        try:
            data = json.loads(raw)
        except ValueError:
            raise TargetError(f"{url}: the answer is not JSON", kind="garbage") from None
        items = data.get("prompts") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(
            isinstance(i, dict)
            and isinstance(i.get("name"), str)
            and isinstance(i.get("content_hash"), str)
            for i in items
        ):
            raise TargetError(
                f"{url}: expected a list of {{name, version, content_hash}}", kind="garbage"
            )
        return {i["name"]: i for i in items}
