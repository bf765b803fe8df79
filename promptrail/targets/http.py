"""The ``http`` target: an application endpoint that reports the prompts it serves.

``GET url`` must answer JSON: ``[{"name", "version", "content_hash"}, ...]`` (or an object
with a ``prompts`` list) — ``promptrail.runtime.PromptSet.manifest()`` is exactly this. A
timeout or refused connection is ``unreachable``; anything else unusable is ``garbage``.
The request goes through ``promptrail.net``: a total deadline (``timeout``, seconds), a size
cap (``max_bytes``), no redirect to another host, and no link-local or metadata address
unless the target says ``allow_link_local: true``.
It is read-only: applications load their bundles themselves.
"""

from __future__ import annotations

import json
from typing import Any

from promptrail.targets import Target, TargetError


class HttpTarget(Target):
    kind = "http"
    writes = False
    holds_bundles = False

    def deploy(self, bundle: dict[str, Any]) -> None:
        """Nothing to push: the application reads the bundle from a file target."""

    def deployed(self) -> dict[str, dict[str, Any]]:
        from promptrail import limits, net

        url = str(self.spec.get("url", ""))
        net.check_url(url, "promptrail.yaml")
        lim = limits.current()
        try:
            resp = net.request(
                "GET",
                url,
                timeout=float(self.spec.get("timeout", lim.http_seconds)),
                max_bytes=int(self.spec.get("max_bytes", lim.http_response_bytes)),
                allow_link_local=bool(self.spec.get("allow_link_local", False)),
            )
        except net.NetError as exc:
            raise TargetError(exc.message, kind="unreachable") from None
        if resp.status != 200:
            raise TargetError(f"{net.shown(url)}: HTTP {resp.status}", kind="unreachable")
        raw = resp.body
        try:
            data = json.loads(raw)
        except ValueError:
            raise TargetError(f"{net.shown(url)}: the answer is not JSON", kind="garbage") from None
        items = data.get("prompts") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(
            isinstance(i, dict)
            and isinstance(i.get("name"), str)
            and isinstance(i.get("content_hash"), str)
            for i in items
        ):
            raise TargetError(
                f"{net.shown(url)}: expected a list of {{name, version, content_hash}}",
                kind="garbage",
            )
        return {i["name"]: i for i in items}
