"""The response cache: one JSONL file, one line per recorded response, keyed by request hash.

    {"key": "sha256:...", "provider": "openai", "model": "gpt-4o-mini",
     "response": {"text", "input_tokens", "output_tokens", "cached_tokens", "latency_ms",
                  "model"}, "recorded_at": "2026-01-01T00:00:00+00:00"}

Read once into memory on first use (a later line for the same key wins); appended under an
exclusive ``fcntl`` lock, one ``write`` per line, so concurrent processes can share the file.
Costs are not stored: they are recomputed from tokens with the current price table. Neither
headers nor keys are stored.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESPONSE_FIELDS = (
    "text",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "latency_ms",
    "model",
    "tool_calls",  # only when the model called tools
)


class ResponseCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, Any]]:
        entries = self._entries
        if entries is not None:
            return entries
        with self._lock:
            if self._entries is None:
                self._entries = self._read()
            return self._entries

    def _read(self) -> dict[str, dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return entries
        loads = json.loads
        with fh:
            for line in fh:
                try:
                    row = loads(line)
                    entries[row["key"]] = row["response"]
                except (ValueError, KeyError, TypeError):
                    continue  # a torn line from a killed writer, or a blank one
        return entries

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: str) -> bool:
        return key in self._load()

    def get(self, key: str) -> dict[str, Any] | None:
        """The recorded response fields (see ``RESPONSE_FIELDS``), or None."""
        return self._load().get(key)

    def put(self, key: str, request: Any, response: Any) -> None:
        record: dict[str, Any] = {
            "text": response.text,
            "input_tokens": int(response.input_tokens),
            "output_tokens": int(response.output_tokens),
            "cached_tokens": int(response.cached_tokens),
            "latency_ms": round(float(response.latency_ms), 1),
            "model": response.model,
        }
        if getattr(response, "tool_calls", None):
            record["tool_calls"] = response.tool_calls
        line = (
            json.dumps(
                {
                    "key": key,
                    "provider": request.provider,
                    "model": request.model,
                    "response": record,
                    "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
                ensure_ascii=False,
                sort_keys=True,
            )
            + "\n"
        )
        entries = self._load()
        with self._lock:
            entries[key] = record
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                data = line.encode("utf-8")
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)  # releases the lock
