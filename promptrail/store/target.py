"""Where the store is: a DuckDB file path (the default) or a PostgreSQL URL.

``store:`` in promptrail.yaml and ``PROMPTRAIL_DB`` take either. A URL follows libpq:
``postgresql://[user[:password]@]host[:port]/dbname[?param=value&...]``; credentials may also
come from ``PGPASSWORD``, ``~/.pgpass``, ``PGSSLMODE`` and the other libpq variables. A
password written in the URL works, but it is registered with the redactor and every label
shown to a user (errors, ``repr``, logs) is built without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from promptrail.errors import UsageError
from promptrail.secrets import register

SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class Target:
    """A parsed store location. ``url`` holds the password, if any: never show it."""

    kind: str  # "duckdb" or "postgres"
    path: Path | None = None
    url: str = ""
    host: str = ""
    port: int = 5432
    dbname: str = ""
    user: str = ""

    @property
    def label(self) -> str:
        """How the store is named to users: the path, or the URL without its password."""
        if self.kind == "duckdb":
            return str(self.path)
        who = f"{self.user}@" if self.user else ""
        return f"postgresql://{who}{self.host or 'localhost'}:{self.port}/{self.dbname}"

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"Target({self.label!r})"


def is_url(text: str) -> bool:
    return "://" in text


def parse(value: str | Path | Target, origin: str | None = None, line: int | None = None) -> Target:
    """A ``Target`` for a path or URL. A malformed URL is a usage error naming ``origin``
    (``promptrail.yaml`` with ``line``, or the variable it came from)."""
    if isinstance(value, Target):
        return value
    text = str(value)
    if not is_url(text):
        return Target("duckdb", path=Path(text))

    def bad(why: str) -> UsageError:
        return UsageError(
            f"the store URL is malformed: {why} (expected "
            "postgresql://[user@]host[:port]/dbname[?params])",
            file=origin,
            line=line,
            kind="store-url",
        )

    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise bad(str(exc)) from None
    if parts.scheme not in SCHEMES:
        raise bad(f"unknown scheme {parts.scheme!r}; only postgresql:// is supported")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise bad("it names no database (the path must be /dbname)")
    if parts.fragment:
        raise bad("it has a #fragment")
    register(unquote(parts.password) if parts.password else None)
    register(os.environ.get("PGPASSWORD"))
    host = unquote(parts.hostname or "") or os.environ.get("PGHOST", "")
    user = unquote(parts.username or "") or os.environ.get("PGUSER", "")
    return Target(
        "postgres",
        url=text,
        host=host,
        port=port or int(os.environ.get("PGPORT", "5432") or 5432),
        dbname=dbname,
        user=user,
    )
