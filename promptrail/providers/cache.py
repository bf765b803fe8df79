"""The response cache: one JSONL file, one line per recorded response, keyed by request hash.

Read once into memory; appended under a file lock so concurrent processes can share it.
Costs are not stored: they are recomputed from tokens with the current price table.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class ResponseCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            entries: dict[str, dict[str, Any]] = {}
            if self.path.exists():
                with self.path.open(encoding="utf-8") as fh:
                    for line in fh:
                        try:
                            row = json.loads(line)
                            entries[row["key"]] = row["response"]
                        except (ValueError, KeyError, TypeError):
                            continue   # a torn last line from a killed writer
            self._entries = entries
        return self._entries

    def __len__(self) -> int:
        return len(self._load())

    def get(self, key: str) -> dict[str, Any] | None:
        return self._load().get(key)

    def put(self, key: str, request: Any, response: Any) -> None:
        record = {"text": response.text, "input_tokens": response.input_tokens,
                  "output_tokens": response.output_tokens,
                  "cached_tokens": response.cached_tokens,
                  "latency_ms": round(response.latency_ms, 1), "model": response.model}
        line = json.dumps({"key": key, "provider": request.provider, "model": request.model,
                           "response": record,
                           "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")},
                          ensure_ascii=False, sort_keys=True) + "\n"
        with self._lock:
            self._load()[key] = record
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, line.encode("utf-8"))
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
