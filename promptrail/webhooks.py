"""Webhooks: tell other systems that something happened, signed, retried, never in the way.

``promptrail.yaml``::

    webhooks:
      - url: https://hooks.example.com/promptrail
        events: [promote, rollback, apply, gate-failed, drift]
        secret_env: PROMPTRAIL_WEBHOOK_SECRET

Each event is one POST of a JSON body with ``X-Promptrail-Signature: sha256=<hex>``, the
HMAC-SHA256 of the exact body bytes with the secret read from ``secret_env``. A delivery is
retried with jittered exponential backoff on a connection error, a timeout, 408, 429 and 5xx,
within a total deadline per hook (``timeout``, default 10 s); redirects are not followed.
Webhooks are sent after the event is complete (a promotion is committed, its lock released),
so a receiver that is down never blocks or fails it: a failed delivery is logged (a warning on
stderr) and
recorded in the audit log as ``webhook-failed`` with the hook's host (never its full URL,
which often holds a token), the event and the error. Bodies go through the secret redactor.

The legacy ``alerts.webhook`` keeps working as an unsigned hook for ``drift`` only (lint
suggests moving it to ``webhooks:``).

Network calls use urllib with a per-attempt timeout bounded by the hook's remaining deadline
and a redirect handler that refuses every redirect.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

EVENTS = ("promote", "rollback", "apply", "gate-failed", "drift")
MAX_ATTEMPTS = 4
RETRY_STATUSES = {408, 425, 429}
SIGNATURE_HEADER = "X-Promptrail-Signature"


def signature(secret: str, body: bytes) -> str:
    """The header value a receiver recomputes: ``sha256=`` + hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hooks_for(ws: Any, event: str) -> list[dict[str, Any]]:
    config = ws.config
    hooks = [h.model_dump() for h in config.webhooks if event in h.events]
    if event == "drift" and config.alerts.webhook:
        hooks.append({"url": config.alerts.webhook, "events": ["drift"], "secret_env": None})
    return hooks


def notify(
    ws: Any, event: str, data: dict[str, Any], store: Any = None, actor: str = "promptrail"
) -> dict[str, Any]:
    """Send ``event`` to every hook subscribed to it; returns ``{sent, failed}``."""
    hooks = hooks_for(ws, event)
    if not hooks:
        return {"sent": 0, "failed": []}
    from promptrail.secrets import redact

    doc = {
        "event": event,
        "source": "promptrail",
        "delivery": uuid.uuid4().hex,
        "sent_at": datetime.now(UTC).isoformat(),
        **data,
    }
    body = json.dumps(redact(doc), default=str, sort_keys=True).encode()
    with ThreadPoolExecutor(max_workers=min(8, len(hooks))) as pool:
        errors = list(pool.map(lambda h: deliver(h, body), hooks))
    failed = []
    for hook, error in zip(hooks, errors, strict=True):
        if error is None:
            continue
        where = _host(hook["url"])
        sys.stderr.write(f"promptrail: warning: webhook {where} for {event} failed: {error}\n")
        failed.append({"hook": where, "event": event, "error": error})
    if failed:
        try:
            if store is None:
                store = ws.store()
            for f in failed:
                store.append_audit("webhook-failed", actor, f["hook"], f)
        except Exception as exc:  # recording is best effort too: never fail the event
            sys.stderr.write(f"promptrail: warning: could not record it in the store: {exc}\n")
    return {"sent": len(hooks) - len(failed), "failed": failed}


def deliver(hook: dict[str, Any], body: bytes) -> str | None:
    """POST ``body`` to one hook with retries inside its deadline; the last error or None."""
    headers = {"Content-Type": "application/json", "User-Agent": "promptrail-webhooks"}
    secret_env = hook.get("secret_env")
    if secret_env:
        secret = os.environ.get(secret_env)
        if not secret:
            return f"${secret_env} is not set: not sent unsigned"
        headers[SIGNATURE_HEADER] = signature(secret, body)
    deadline = time.monotonic() + float(hook.get("timeout") or 10)
    delay, error = 0.25, "not attempted"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            status = _post(hook["url"], body, headers, timeout=min(left, 5.0))
        except (OSError, ValueError) as exc:
            error = _reason(exc)
        else:
            if 200 <= status < 300:
                return None
            error = f"HTTP {status}"
            if status < 500 and status not in RETRY_STATUSES:
                return f"{error} (not retried)"
        pause = delay * random.uniform(0.5, 1.0)
        if attempt == MAX_ATTEMPTS or deadline - time.monotonic() <= pause:
            return f"{error} after {attempt} attempt(s)"
        time.sleep(pause)
        delay *= 2
    return f"{error} (deadline reached)"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, hdrs: Any, newurl: str):  # type: ignore[no-untyped-def]
        return None  # a 3xx is returned as an HTTPError: a failed delivery


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {_host(url)}")
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _opener.open(req, timeout=timeout) as resp:
            resp.read(65536)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    return str(inner or exc) or type(exc).__name__


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}"
