"""The response cache: one JSONL file, one line per recorded response, keyed by request hash.

    {"key": "sha256:...", "provider": "openai", "model": "gpt-4o-mini",
     "response": {"text", "input_tokens", "output_tokens", "cached_tokens", "latency_ms",
                  "model"}, "recorded_at": "2026-01-01T00:00:00+00:00"}

Indexed on first use, each key to where its line is (a later line for the same key wins), and
read back line by line; appended under an exclusive ``fcntl`` lock, one ``write`` per line, so
concurrent processes can share the file.
Costs are not stored: they are recomputed from tokens with the current price table. Neither
headers nor keys are stored, and outputs are redacted (``promptrail.secrets``) before they are
written: a model that echoes a key records ``[REDACTED]``.

With ``cache: {store: true}`` in promptrail.yaml the responses also live in the store's
``response_cache`` table (``StoreCache``): a lookup tries the file, then the store; new
responses go to the store, so every machine sharing a team store replays them.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import sys
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


def record_of(response: Any) -> dict[str, Any]:
    """What is recorded of a response, redacted: the file is often committed
    (recordings/cache.jsonl) and the store is shared, so no secret goes in either."""
    from promptrail.secrets import redact

    record: dict[str, Any] = redact(
        {
            "text": response.text,
            "model": response.model,
            **(
                {"tool_calls": response.tool_calls} if getattr(response, "tool_calls", None) else {}
            ),
        }
    )
    return {
        "text": record["text"],
        "input_tokens": int(response.input_tokens),
        "output_tokens": int(response.output_tokens),
        "cached_tokens": int(response.cached_tokens),
        "latency_ms": round(float(response.latency_ms), 1),
        "model": record["model"],
        **({"tool_calls": record["tool_calls"]} if "tool_calls" in record else {}),
    }


def open_cache(ws: Any) -> Any:
    """The workspace's cache: the file, and the store too when ``cache.store`` is set."""
    cfg = ws.config.cache
    file = ResponseCache(ws.root / ws.inside(cfg.path, "promptrail.yaml"))  # no path out
    return LayeredCache(file, StoreCache(ws.store())) if cfg.store else file


WINDOW = 64 * 1024  # bytes read at a time when lines are read back
_ABSENT = object()
_FIELDS = frozenset(RESPONSE_FIELDS)


def pack(response: Any) -> Any:
    """A recorded response as kept in memory: a tuple in ``RESPONSE_FIELDS`` order (about a
    third of a dict's size; 50,000 recordings took 49 MB as dicts), the model name interned.
    Anything else is kept as it is."""
    if type(response) is not dict or not response.keys() <= _FIELDS:
        return response
    model = response.get("model")
    if isinstance(model, str):
        response = {**response, "model": sys.intern(model)}
    return tuple(response.get(f, _ABSENT) for f in RESPONSE_FIELDS)


def unpack(entry: Any) -> Any:
    if type(entry) is not tuple:
        return entry
    return {f: v for f, v in zip(RESPONSE_FIELDS, entry, strict=True) if v is not _ABSENT}


class _Recorded:
    """A cache read once into memory (``_load``): key -> the recorded response fields,
    packed (``pack``)."""

    def _load(self) -> dict[str, Any]:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: str) -> bool:
        return key in self._load()

    def get(self, key: str) -> dict[str, Any] | None:
        """The recorded response fields (see ``RESPONSE_FIELDS``), or None."""
        found: dict[str, Any] | None = unpack(self._load().get(key))
        return found


class StoreCache(_Recorded):
    """Responses in the store's ``response_cache`` table, read once, written as they come."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._entries: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        with self._lock:
            if self._entries is None:
                rows = self.store.query("SELECT key, response FROM response_cache")[1]
                self._entries = {
                    k: pack(json.loads(r) if isinstance(r, str) else r) for k, r in rows if r
                }
            return self._entries

    def put(self, key: str, request: Any, response: Any) -> None:
        record = record_of(response)
        self._load()[key] = pack(record)
        self.store.write(
            {
                "response_cache": [
                    {
                        "key": key,
                        "provider": request.provider,
                        "model": request.model,
                        "response": record,
                        "recorded_at": datetime.now(UTC),
                    }
                ]
            }
        )


class LayeredCache:
    """The recordings file first, then the store; new responses go to the store."""

    def __init__(self, file: ResponseCache, store: StoreCache) -> None:
        self.file, self.store = file, store

    def __len__(self) -> int:
        return len(self.file) + len(self.store)

    def __contains__(self, key: str) -> bool:
        return key in self.file or key in self.store

    def get(self, key: str) -> dict[str, Any] | None:
        hit = self.file.get(key)
        return hit if hit is not None else self.store.get(key)

    def put(self, key: str, request: Any, response: Any) -> None:
        self.store.put(key, request, response)


class ResponseCache:
    """The JSONL file, indexed on first use: each key's hash -> where its newest line is
    (about 0.1 KB a response, where holding the responses took 0.4 KB: a 100,000-case
    replay no longer grows with its recordings); a hit reads its line back and checks the
    key. The index lives in this process only, so Python's salted string hash serves."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._index: dict[int, int] | None = None  # hash(key) -> offset << 32 | length
        self._fd: int | None = None  # the file, for reading lines back
        self._window: tuple[int, bytes] = (0, b"")  # (offset, bytes) read last (``_line``)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)  # type: ignore[arg-type]

    def _load(self) -> dict[int, int]:
        index = self._index
        if index is not None:
            return index
        with self._lock:
            if self._index is None:
                self._index = self._read()
            return self._index

    def _read(self) -> dict[int, int]:
        index: dict[int, int] = {}
        try:
            if not stat.S_ISREG(os.stat(self.path).st_mode):  # a FIFO or /dev/zero never ends
                raise UsageError("the response cache is not a regular file", file=self.path)
            fh = self.path.open("rb")
        except FileNotFoundError:
            return index
        loads, offset = json.loads, 0
        with fh:
            self._fd = os.dup(fh.fileno())
            for line in fh:
                size = len(line)
                try:
                    row = loads(line)
                    key, _ = row["key"], row["response"]
                    if isinstance(key, str) and size < 1 << 32:
                        index[hash(key)] = offset << 32 | size
                except (ValueError, KeyError, TypeError):
                    pass  # a torn line from a killed writer, or a blank one
                offset += size
        return index

    def _line(self, offset: int, size: int) -> bytes:
        """The bytes at ``offset``: from the window of the file read last, or a new window
        read from there (a replay asks in about the order the recording wrote, so most
        lines need no system call)."""
        start, data = self._window
        if start <= offset and offset + size <= start + len(data):
            return data[offset - start : offset - start + size]
        assert self._fd is not None
        data = os.pread(self._fd, max(size, WINDOW), offset)
        self._window = (offset, data)
        return data[:size]

    def get(self, key: str) -> dict[str, Any] | None:
        """The recorded response fields (see ``RESPONSE_FIELDS``), or None."""
        where = self._load().get(hash(key))
        if where is None or self._fd is None:
            return None
        try:
            row = json.loads(self._line(where >> 32, where & 0xFFFFFFFF))
        except (OSError, ValueError):
            return None
        if not isinstance(row, dict) or row.get("key") != key:
            return None  # another key of the same hash, or a file rewritten under us
        found: dict[str, Any] | None = row.get("response")
        return found

    def put(self, key: str, request: Any, response: Any) -> None:
        record = record_of(response)
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
        index = self._load()
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    data = line.encode("utf-8")
                    offset = os.lseek(fd, 0, os.SEEK_END)  # where O_APPEND writes, locked
                    size, view = len(data), memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    if self._fd is None:
                        self._fd = os.open(self.path, os.O_RDONLY)
                    if size < 1 << 32:
                        index[hash(key)] = offset << 32 | size
                finally:
                    os.close(fd)  # releases the lock
            except OSError as exc:
                raise OperationalError(
                    f"cannot write the response cache: {exc.strerror}", file=self.path
                ) from None
