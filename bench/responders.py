"""Answers for the fake model server in benchmarks (``--responder responders:json_ok``)."""

from __future__ import annotations

import json
from typing import Any


def json_ok(body: dict[str, Any], protocol: str) -> str:
    user = [m for m in body.get("messages", []) if m.get("role") == "user"]
    text = str(user[-1]["content"]) if user else ""
    return json.dumps({"ok": True, "echo": text[-40:]})
