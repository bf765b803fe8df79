"""The response cache: one JSONL file, one line per recorded response, keyed by request hash.

    {"key": "sha256:...", "provider": "openai", "model": "gpt-4o-mini",
     "response": {"text", "input_tokens", "output_tokens", "cached_tokens", "latency_ms",
                  "model"}, "recorded_at": "2026-01-01T00:00:00+00:00"}

Read once into memory on first use (a later line for the same key wins); appended under an
exclusive ``fcntl`` lock, one ``write`` per line, so concurrent processes can share the file.
Costs are not stored: they are recomputed from tokens with the current price table. Neither
headers nor keys are stored, and outputs are redacted (``promptrail.secrets``) before they are
written: a model that echoes a key records ``[REDACTED]``.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promptrail.errors import OperationalError, UsageError

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
            if not stat.S_ISREG(os.stat(self.path).st_mode):  # a FIFO or /dev/zero never ends
                raise UsageError("the response cache is not a regular file", file=self.path)
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
        from promptrail.secrets import redact

        # the cache file is often committed (recordings/cache.jsonl): no secret goes in it
        record: dict[str, Any] = {
            "text": redact(response.text),
            "input_tokens": int(response.input_tokens),
            "output_tokens": int(response.output_tokens),
            "cached_tokens": int(response.cached_tokens),
            "latency_ms": round(float(response.latency_ms), 1),
            "model": redact(response.model),
        }
        if getattr(response, "tool_calls", None):
            record["tool_calls"] = redact(response.tool_calls)
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
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    data = line.encode("utf-8")
                    while data:
                        data = data[os.write(fd, data) :]
                finally:
                    os.close(fd)  # releases the lock
            except OSError as exc:
                raise OperationalError(
                    f"cannot write the response cache: {exc.strerror}", file=self.path
                ) from None
