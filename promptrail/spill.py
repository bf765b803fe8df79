"""A list that spills to disk: a big suite's cases, and its run's results, without holding
them all.

``SpillList`` is appended to in order and then read, any number of times, by iteration or by
index. Up to ``keep`` items stay in memory, as a list; beyond that, every ``chunk`` items
are written to an unlinked temporary file (nothing is left behind by a kill) and read back a
chunk at a time. A 50 × 40 gate never spills; a 100,000-case suite holds a chunk of its
cases and of its results at a time instead of all of them (about 0.6 and 0.7 KB a case).

Items are flattened to tuples by ``flatten`` and rebuilt by ``build`` and written with
``marshal`` (three to five times faster than pickle both ways), or with pickle when a chunk
holds a value marshal cannot write (a date from YAML). The file is this process's own,
unlinked at once, and read only by this object.
"""

from __future__ import annotations

import marshal
import os
import pickle
import tempfile
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

from promptrail.errors import OperationalError

T = TypeVar("T")

KEEP = 20_000  # items held in memory before the list spills (about 15 MB of case results)
CHUNK = 1_000  # items per chunk written to (and read back from) the file


class SpillList(Sequence[T], Generic[T]):
    def __init__(
        self,
        flatten: Callable[[T], tuple[Any, ...]],
        build: Callable[[tuple[Any, ...]], T],
        keep: int | None = None,
        chunk: int | None = None,
    ) -> None:
        self._flatten, self._build = flatten, build
        self._keep = KEEP if keep is None else keep
        self._chunk = max(1, CHUNK if chunk is None else chunk)
        self._tail: list[T] = []  # items not yet written (all of them, until the list spills)
        self._fd: int | None = None
        self._chunks: list[tuple[int, int]] = []  # (offset, length) in the file
        self._starts: list[int] = []  # index of each written chunk's first item
        self._written = 0  # items in the file
        self._size = 0  # bytes in the file
        self._last: tuple[int, list[T]] = (-1, [])  # the chunk read last, for index access

    # -- writing ---------------------------------------------------------------------------
    def append(self, item: T) -> None:
        self._tail.append(item)
        if self._fd is not None or len(self._tail) > self._keep:
            while len(self._tail) >= self._chunk:
                self._write(self._tail[: self._chunk])
                del self._tail[: self._chunk]

    def extend(self, items: Any) -> None:
        for item in items:
            self.append(item)

    def _write(self, items: list[T]) -> None:
        rows = [self._flatten(i) for i in items]
        try:
            data = b"m" + marshal.dumps(rows)
        except ValueError:  # a value marshal cannot write
            data = b"p" + pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            if self._fd is None:
                handle, path = tempfile.mkstemp(prefix="promptrail-cases-")
                os.unlink(path)  # the open descriptor keeps it; a kill leaves nothing
                self._fd = handle
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise OperationalError(
                f"cannot write a big suite's cases to a temporary file in "
                f"{tempfile.gettempdir()}: {exc.strerror or exc} (TMPDIR chooses where)"
            ) from None
        self._chunks.append((self._size, len(data)))
        self._starts.append(self._written)
        self._size += len(data)
        self._written += len(items)

    # -- reading ---------------------------------------------------------------------------
    @property
    def spilled(self) -> bool:
        return self._fd is not None

    def __len__(self) -> int:
        return self._written + len(self._tail)

    def _read(self, k: int) -> list[T]:
        """Chunk ``k``, built (safe from any thread: ``pread`` keeps no file position)."""
        last = self._last
        if last[0] == k:
            return last[1]
        offset, length = self._chunks[k]
        assert self._fd is not None
        data = os.pread(self._fd, length, offset)
        rows = marshal.loads(data[1:]) if data[:1] == b"m" else pickle.loads(data[1:])
        build = self._build
        items = [build(r) for r in rows]
        self._last = (k, items)
        return items

    def __iter__(self) -> Iterator[T]:
        for k in range(len(self._chunks)):
            yield from self._read(k)
        yield from list(self._tail)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("SpillList index out of range")
        if index >= self._written:
            return self._tail[index - self._written]
        k = bisect_right(self._starts, index) - 1
        return self._read(k)[index - self._starts[k]]

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))  # a copy, as a list: the file is this process's own

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def __repr__(self) -> str:
        where = f", {self._written} on disk" if self.spilled else ""
        return f"<SpillList of {len(self)}{where}>"
