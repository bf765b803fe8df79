"""The tamper-evident audit log: append to the chain, verify it, export it for compliance.

Row ``n`` stores ``hash = content_hash({seq, at, actor, event, subject, payload, prev_hash})``
(canonical JSON, ``sha256:`` prefix; ``at`` is the UTC time as ISO 8601 with microseconds,
``payload`` the decoded JSON) and ``prev_hash`` = the hash of row ``n - 1`` (``GENESIS`` for
row 1). Editing a row changes its hash; deleting one leaves a gap in ``seq`` and a
``prev_hash`` that no longer matches; swapping rows breaks both. Deleting the newest rows
leaves a valid, shorter chain, and a database admin can rewrite a row and recompute every
later hash: the anchors that promotions write into the lockfiles (``promptrail/anchors.py``)
and the keyed HMAC catch those. docs/audit.md is the threat model.

``actor_source`` (where the actor's name came from) is covered by the hash when it is set
(rows written before it existed hash as they always did). With ``PROMPTRAIL_AUDIT_KEY`` set,
each row also carries ``hmac = "hmac-sha256:" + HMAC-SHA256(key, hash)``: recomputing the
chain without the key leaves HMACs that no longer match. The key is read from the
environment only; it is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
import json
import os
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptrail.errors import UsageError
from promptrail.hashing import HASH_PREFIX, content_hash
from promptrail.secrets import redact

if TYPE_CHECKING:
    from promptrail.store.base import Store

GENESIS = "sha256:" + "0" * 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FORMATS = ("csv", "json", "parquet")
COLUMNS = "seq, occurred_at, actor, event, subject, payload, prev_hash, hash, actor_source, hmac"
KEY_ENV = "PROMPTRAIL_AUDIT_KEY"
HMAC_PREFIX = "hmac-sha256:"


def audit_key() -> bytes | None:
    key = os.environ.get(KEY_ENV)
    return key.encode() if key else None


def row_hmac(key: bytes, digest: str) -> str:
    return HMAC_PREFIX + _hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def micros(at: datetime) -> int:
    """Microseconds since the Unix epoch (what DuckDB's TIMESTAMPTZ stores)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - EPOCH) // timedelta(microseconds=1)


def iso(at: datetime | int | str | None) -> str | None:
    """The one text form of a time that is hashed: UTC, microseconds, ``+00:00``
    (``ISO_SQL`` is the same in DuckDB; a str is taken to be in this form already)."""
    if at is None or isinstance(at, str):
        return at
    if isinstance(at, int):
        at = EPOCH + timedelta(microseconds=at)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def audit_hash(
    seq: int,
    at: datetime | int | str | None,
    actor: str | None,
    event: str | None,
    subject: str | None,
    payload: Any,
    prev_hash: str | None,
    actor_source: str | None = None,
) -> str:
    """The hash of one row. ``at`` is a datetime, microseconds since the epoch or ``iso()``
    text; ``payload`` is the stored JSON text (a ``str``) or the decoded value.
    ``actor_source`` is hashed only when set, so older rows keep their hashes."""
    fields = (actor, event, subject, prev_hash, actor_source)
    extra = {} if actor_source is None else {"actor_source": actor_source}
    if isinstance(payload, str):
        if not _CR.search(payload) and not any(f and "\r" in f for f in fields):
            # Fast path, same result as content_hash(): with no carriage return anywhere,
            # content_hash's normalisation only turns integral floats into ints, which
            # parse_float does while decoding (verify spends its time here).
            doc = {
                "seq": seq,
                "at": iso(at),
                "actor": actor,
                "event": event,
                "subject": subject,
                "payload": _DECODE(payload),
                "prev_hash": prev_hash,
                **extra,
            }
            return HASH_PREFIX + hashlib.sha256(_CANONICAL(doc).encode()).hexdigest()
        payload = json.loads(payload)
    return content_hash(
        {
            "seq": seq,
            "at": iso(at),
            "actor": actor,
            "event": event,
            "subject": subject,
            "payload": payload,
            "prev_hash": prev_hash,
            **extra,
        }
    )


_CR = re.compile(r"\\(?:r|u000[dD])")
_DECODE = json.JSONDecoder(parse_float=lambda text: _number(text)).decode
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def append(
    con: Any, event: str, actor: str, subject: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """Append one row inside the caller's open transaction on ``con``; returns the row.

    ``seq`` is max(seq) + 1 read inside this same transaction. That is safe without a
    sequence or a retry loop because only one appender runs at a time: ``Store.append_audit``
    (the way in) serialises appenders first — DuckDB lets one process open the file and runs
    one transaction at a time per process; PostgreSQL takes an advisory transaction lock,
    across hosts. Were that ever violated, the primary key on ``seq`` would refuse the second
    row rather than fork the chain.
    """
    last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (int(last[0]) + 1, last[1]) if last else (1, GENESIS)
    at = datetime.now(UTC)
    from promptrail.identity import source_of

    source = source_of(actor)
    actor, event, subject = (str(redact(v)) for v in (actor, event, subject))
    text = json.dumps(
        redact(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    digest = audit_hash(seq, at, actor, event, subject, text, prev, source)
    key = audit_key()
    row = {
        "seq": seq,
        "occurred_at": at,
        "actor": actor,
        "event": event,
        "subject": subject,
        "payload": text,
        "prev_hash": prev,
        "hash": digest,
        "actor_source": source,
        "hmac": row_hmac(key, digest) if key else None,
    }
    con.execute(
        f"INSERT INTO audit_log ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        list(row.values()),
    )
    return row


def check(
    rows: Iterable[tuple[Any, ...]],
    key: bytes | None = None,
    collect: Callable[[tuple[Any, ...]], None] | None = None,
) -> dict[str, Any]:
    """Walk rows of (seq, at, actor, event, subject, payload, prev_hash, hash, actor_source,
    hmac) in seq order; the first row that breaks the chain ends the walk. With ``key``, each
    row's HMAC is checked too (once a row carries one, every later row must). ``collect`` is
    called with every row that passed, for checks made on top of the chain (anchors)."""
    count, expected_prev, expected_seq = 0, GENESIS, 1
    keyed, first_keyed = 0, None
    for row in rows:
        seq, at, actor, event, subject, payload, prev, digest, source, mac = row
        count += 1
        reason = None
        if seq != expected_seq:
            reason = f"expected seq {expected_seq}, found {seq} (a row was deleted or renumbered)"
        elif prev != expected_prev:
            reason = "prev_hash does not match the previous row (deleted or reordered)"
        else:
            try:
                ok = audit_hash(seq, at, actor, event, subject, payload, prev, source) == digest
            except (TypeError, ValueError):  # payload edited into invalid JSON
                ok = False
            if not ok:
                reason = "the row's content does not match its hash (edited)"
        if reason is None and mac is not None:
            keyed += 1
            first_keyed = first_keyed or seq
            if key is not None and not _hmac.compare_digest(mac, row_hmac(key, digest)):
                reason = (
                    "the row's HMAC does not match its hash under PROMPTRAIL_AUDIT_KEY "
                    "(rewritten without the key, or a different key)"
                )
        elif reason is None and key is not None and first_keyed is not None:
            reason = (
                f"the row carries no HMAC although row {first_keyed} and later ones do "
                "(written or rewritten without the key)"
            )
        if reason:
            return {
                "status": "broken",
                "rows": count,
                "first_bad_seq": seq,
                "reason": reason,
                **_keyed(key, keyed, first_keyed, count),
            }
        if collect is not None:
            collect(row)
        expected_prev, expected_seq = digest, seq + 1
    result: dict[str, Any] = {"status": "ok", "rows": count, "first_bad_seq": None, "reason": None}
    if key is not None or keyed:
        result.update(_keyed(key, keyed, first_keyed, count))
    return result


def _keyed(key: bytes | None, keyed: int, first: int | None, count: int) -> dict[str, Any]:
    """What the keyed check covered, and what it could not."""
    info: dict[str, Any] = {"keyed_rows": keyed, "first_keyed_seq": first}
    if key is None:
        info["not_checked"] = (
            [
                f"HMACs of {keyed} keyed rows: {KEY_ENV} is not set, so a chain recomputed "
                "without the key would still pass"
            ]
            if keyed
            else []
        )
    else:
        unkeyed = (first - 1) if first else count
        info["not_checked"] = (
            [f"{unkeyed} rows written before the key was set carry no HMAC"] if unkeyed else []
        )
    return info


def _stream(cur: Any, size: int = 20_000) -> Iterable[tuple[Any, ...]]:
    while batch := cur.fetchmany(size):
        yield from batch


ISO_SQL = "strftime(occurred_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f+00:00')"
_SELECT = (
    f"SELECT seq, {ISO_SQL}, actor, event, subject, payload, prev_hash, hash, actor_source, "
    "hmac FROM {src} ORDER BY seq"
)


def verify(
    store: Store, key: bytes | None = None, collect: Callable[[tuple[Any, ...]], None] | None = None
) -> dict[str, Any]:
    """{status: ok|broken, rows, first_bad_seq, reason} for the store's chain alone
    (``anchors.verify`` adds the lockfiles' anchors)."""
    return check(store.audit_rows(), key, collect)


def export(store: Store, fmt: str, out: str | Path) -> dict[str, Any]:
    """Write the whole log, in seq order, to ``out`` (written aside, then renamed)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    options = {
        "csv": "(FORMAT csv, HEADER)",
        "json": "(FORMAT json, ARRAY true)",
        "parquet": "(FORMAT parquet)",
    }[fmt]
    import duckdb

    log = store.arrow(f"SELECT {COLUMNS} FROM audit_log ORDER BY seq")  # noqa: F841 (scanned)
    con = duckdb.connect()  # writes the file from the Arrow batch, whatever the store's engine
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            f"COPY (SELECT seq::BIGINT AS seq, occurred_at::TIMESTAMPTZ AS occurred_at, actor, "
            "event, subject, payload::JSON AS payload, prev_hash, hash, actor_source, hmac "
            "FROM log ORDER BY seq) "
            f"TO {_literal(tmp)} {options}"
        )
    finally:
        con.close()
    tmp.replace(out)
    return {"format": fmt, "path": str(out), "rows": log.num_rows}


def verify_export(path: str | Path) -> dict[str, Any]:
    """Check an exported file (csv, json or parquet, by suffix) without the store: a copy
    kept elsewhere can be verified on its own, and compared with the live chain."""
    import duckdb

    path = Path(path)
    fmt = path.suffix.lstrip(".")
    types = (
        "{'seq': 'BIGINT', 'occurred_at': 'TIMESTAMPTZ', 'actor': 'VARCHAR', "
        "'event': 'VARCHAR', 'subject': 'VARCHAR', 'payload': 'JSON', "
        "'prev_hash': 'VARCHAR', 'hash': 'VARCHAR', 'actor_source': 'VARCHAR', "
        "'hmac': 'VARCHAR'}"
    )
    reader = {
        "csv": f"read_csv({_literal(path)}, header = true, columns = {types})",
        "json": f"read_json({_literal(path)}, columns = {types})",
        "parquet": f"read_parquet({_literal(path)})",
    }.get(fmt)
    if reader is None:
        raise UsageError(
            f"cannot tell the format of {path}; use .csv, .json or .parquet", file=path
        )
    con = duckdb.connect()
    try:
        return check(_stream(con.execute(_SELECT.format(src=reader))), audit_key())
    finally:
        con.close()


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
