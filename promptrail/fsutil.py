"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The new file gets the permissions a plain ``open(path, "w")`` would give: the old file's mode
when it replaces one, else ``0o666`` less the umask (a deployed bundle is world-readable under
the usual umask 022). A full disk or a read-only folder is an operational error (exit 3)
naming the file, and leaves the old file as it was.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from promptrail.errors import OperationalError


def _umask() -> int:
    # the only portable way to read the umask is to set it; restore it at once
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@functools.cache
def default_mode() -> int:
    """The mode a new file gets from ``open()``: ``0o666`` less the umask (read once; the
    umask is per process)."""
    return 0o666 & ~_umask()


def new_file_mode(path: Path) -> int:
    """The mode a plain write of ``path`` would leave it with."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return default_mode()


def write_atomic(path: str | Path, data: str | bytes | Iterable[str]) -> None:
    """Write ``data`` (text, bytes, or text in pieces, written as they come) to a temporary
    file beside ``path``, fsync it and rename it over ``path``: readers see the old file or
    the whole new one."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = new_file_mode(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            if isinstance(data, bytes):
                fh.write(data)
            elif isinstance(data, str):
                fh.write(data.encode("utf-8"))
            else:
                for piece in data:
                    fh.write(piece.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def _error(path: Path, exc: OSError) -> OperationalError:
    reason = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return OperationalError(f"cannot write: {reason}", file=path, kind="write")
