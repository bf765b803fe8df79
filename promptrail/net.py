"""Bounded HTTP: the one way promptrail talks to a URL a workspace names.

Model providers (through their SDKs), http targets and webhooks all go through here, so each
call has:
- a total deadline (not a per-read timeout: a server dribbling a byte every 2 s still stops);
- a size cap on the response, counted both as received and after decompression (a 1 MiB
  deflate bomb stops at the cap, not at 1 GiB); only ``gzip`` and ``deflate`` are accepted;
- no redirect to another scheme, host or port (same-origin redirects are followed, 5 at most);
- no connection to a link-local or cloud metadata address (169.254.0.0/16, fe80::/10, ...)
  unless the caller allows it: the address is checked after DNS resolution, on the address
  actually connected to, so a DNS answer cannot swap it in later.
Webhook bodies are redacted (``promptrail.secrets``) before they are signed and sent.

Every failure is a ``NetError`` (exit 3) naming the URL, without its password or query.
httpx is imported only when a request is made.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from promptrail import limits
from promptrail.errors import OperationalError, UsageError

BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local, incl. the AWS/GCP/Azure metadata 169.254.169.254
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "0.0.0.0/8",  # "this host": reaches local services on Linux
    )
)
MAX_REDIRECTS = 5
SIGNATURE_HEADER = "X-Promptrail-Signature"


class NetError(OperationalError):
    """A URL could not be used: unreachable, too slow, too big, or refused by a rule."""

    def __init__(self, message: str, kind: str = "network") -> None:
        super().__init__(message, kind=kind)


@dataclass
class Response:
    status: int
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def shown(url: str) -> str:
    """The URL for a message: no user, password, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "<bad url>"


def check_url(url: str, where: str | None = None) -> None:
    """An http(s) URL with a host, or a ``UsageError`` (exit 2)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise UsageError(f"bad URL {shown(url)!r}: {exc}", file=where) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"expected an http(s) URL, got {shown(url)!r}", file=where)


def blocked(address: str) -> bool:
    """Whether connecting to this IP address is refused unless explicitly allowed."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return any(ip in net for net in BLOCKED_NETWORKS if net.version == ip.version)


# -- the transport pieces (httpx/httpcore are imported lazily) -----------------------------
def _libs(flavor: str) -> tuple[Any, Any, Any]:
    """httpx, httpcore and httpcore's default backend; ``flavor`` "httpx2" for the SDKs that
    moved to the httpx2 fork (anthropic 2.x), whose classes are not httpx's."""
    import importlib

    httpx = importlib.import_module(flavor)
    core = "httpcore2" if flavor == "httpx2" else "httpcore"
    httpcore = importlib.import_module(core)
    auto = importlib.import_module(f"{core}._backends.auto").AutoBackend
    return httpx, httpcore, auto


def _guarded_backend(allow_link_local: bool, flavor: str = "httpx") -> Any:
    import importlib

    _, httpcore, AutoBackend = _libs(flavor)  # noqa: N806 - a class

    class GuardedBackend(httpcore.AsyncNetworkBackend):  # type: ignore[misc, name-defined]
        """Resolves the host itself, refuses blocked addresses, connects to a checked one."""

        def __init__(self) -> None:
            self.inner = AutoBackend()

        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> Any:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
            if not allow_link_local and any(blocked(a) for a in addresses):
                raise _Refused(
                    f"{host} resolves to a link-local or metadata address "
                    f"({', '.join(addresses)}); set allow_link_local: true to allow it"
                )
            last: Exception | None = None
            for address in addresses:
                try:
                    stream = await self.inner.connect_tcp(
                        address, port, timeout, local_address, socket_options
                    )
                except Exception as exc:  # noqa: BLE001 - try the next address
                    last = exc
                else:
                    return Stream(stream)
            raise last or httpcore.ConnectError(f"cannot connect to {host}")

        async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
            raise _Refused("unix sockets are not allowed")

        async def sleep(self, seconds: float) -> None:
            await self.inner.sleep(seconds)

    class Stream(httpcore.AsyncNetworkStream):  # type: ignore[misc, name-defined]
        """The backend's stream, answering "is the idle socket readable?" (asked of every
        pooled connection on every request) from the socket it keeps, not from anyio's
        attribute table, which it rebuilds with a getpeername() on every question."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.sock = inner.get_extra_info("socket")

        async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return await self.inner.read(max_bytes, timeout)  # type: ignore[no-any-return]

        async def write(self, buffer: bytes, timeout: float | None = None) -> None:
            await self.inner.write(buffer, timeout)

        async def aclose(self) -> None:
            await self.inner.aclose()

        async def start_tls(self, *args: Any, **kwargs: Any) -> Any:
            return Stream(await self.inner.start_tls(*args, **kwargs))

        def get_extra_info(self, info: str) -> Any:
            if info == "is_readable":
                return is_socket_readable(self.sock)
            return self.inner.get_extra_info(info)

    is_socket_readable = importlib.import_module(f"{httpcore.__name__}._utils").is_socket_readable
    return GuardedBackend()


class _Refused(Exception):
    """A rule refused the request (address, redirect, size, encoding)."""


def _decode(body: bytes, encoding: str, cap: int) -> bytes:
    """``body`` decompressed, stopping as soon as the output passes ``cap``."""
    encodings = [e.strip().lower() for e in encoding.split(",") if e.strip()]
    for enc in reversed(encodings):
        if enc == "identity":
            continue
        if enc in ("gzip", "x-gzip"):
            candidates = [zlib.MAX_WBITS | 16]
        elif enc == "deflate":
            candidates = [zlib.MAX_WBITS, -zlib.MAX_WBITS]  # zlib-wrapped, else raw
        else:
            raise _Refused(f"unsupported content-encoding {enc!r}")
        for i, wbits in enumerate(candidates):
            d = zlib.decompressobj(wbits)
            try:
                out = d.decompress(body, cap + 1)
            except zlib.error:
                if i + 1 < len(candidates):
                    continue
                raise _Refused(f"the {enc} body does not decompress") from None
            if len(out) > cap or d.unconsumed_tail:
                raise _Refused(f"the response decompresses to more than {cap:,} bytes")
            body = out
            break
    return body


_SSL: dict[str, Any] = {}


def _ssl_context(flavor: str) -> Any:
    """One TLS context per process (building one reads the CA bundle: ~20 ms)."""
    if flavor not in _SSL:
        _SSL[flavor] = _libs(flavor)[0].create_ssl_context()
    return _SSL[flavor]


def _transport(max_bytes: int, allow_link_local: bool, flavor: str = "httpx") -> Any:
    httpx = _libs(flavor)[0]

    class BoundedTransport(httpx.AsyncBaseTransport):  # type: ignore[misc, name-defined]
        """Reads at most ``max_bytes`` off the wire and decodes at most ``max_bytes``."""

        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport(
                verify=_ssl_context(flavor),
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
            )
            self.inner._pool._network_backend = _guarded_backend(allow_link_local, flavor)

        async def handle_async_request(self, request: Any) -> Any:
            request.headers["Accept-Encoding"] = "gzip, deflate"
            response = await self.inner.handle_async_request(request)
            chunks, size = [], 0
            try:
                stream: Any = response.stream
                async for chunk in stream:
                    size += len(chunk)
                    if size > max_bytes:
                        raise _Refused(f"the response is over {max_bytes:,} bytes")
                    chunks.append(chunk)
            finally:
                await response.aclose()
            body = _decode(
                b"".join(chunks), response.headers.get("content-encoding", ""), max_bytes
            )
            headers = [
                (k, v)
                for k, v in response.headers.multi_items()
                if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
            ]
            return httpx.Response(
                response.status_code,
                headers=headers,
                content=body,
                extensions=response.extensions,
                request=request,
            )

        async def aclose(self) -> None:
            await self.inner.aclose()

    return BoundedTransport()


def async_client(
    timeout: float,
    max_bytes: int | None = None,
    allow_link_local: bool = False,
    flavor: str = "httpx",
) -> Any:
    """An ``httpx.AsyncClient`` (``flavor="httpx2"``: an ``httpx2`` one) with the size cap,
    the address guard and no redirects, for an SDK's ``http_client=`` (the total deadline per
    attempt is the caller's ``wait_for``)."""
    httpx = _libs(flavor)[0]
    cap = max_bytes if max_bytes is not None else limits.current().provider_response_bytes
    return httpx.AsyncClient(
        transport=_transport(cap, allow_link_local, flavor),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
    )


def refusal(exc: BaseException) -> str | None:
    """The message of a rule refusal inside ``exc`` (an SDK wraps the transport's error)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, _Refused):
            return str(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return None


# -- one request, synchronously (http targets, webhooks) -----------------------------------
def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float | None = None,
    max_bytes: int | None = None,
    allow_link_local: bool = False,
) -> Response:
    """Send one request within a total deadline; redirects only within the same origin."""
    check_url(url)
    lim = limits.current()
    deadline = float(timeout if timeout is not None else lim.http_seconds)
    cap = int(max_bytes if max_bytes is not None else lim.http_response_bytes)
    _ssl_context("httpx")  # imports and TLS setup before the clock starts, not against it
    coro = _request(method, url, body, headers or {}, deadline, cap, allow_link_local)
    return _run(coro, deadline, url)


async def _request(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    deadline: float,
    cap: int,
    allow_link_local: bool,
) -> Response:
    import httpx

    async with async_client(deadline, cap, allow_link_local) as client:
        origin = urlsplit(url)
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            resp = await client.request(method, current, content=body, headers=headers)
            if resp.status_code not in (301, 302, 303, 307, 308) or "location" not in resp.headers:
                return Response(resp.status_code, current, resp.content, dict(resp.headers))
            target = str(httpx.URL(current).join(resp.headers["location"]))
            to = urlsplit(target)
            if (to.scheme, to.hostname, to.port) != (origin.scheme, origin.hostname, origin.port):
                raise _Refused(
                    f"redirect to another origin refused ({shown(current)} -> {shown(target)})"
                )
            current = target
            if resp.status_code == 303:
                method, body = "GET", None
        raise _Refused(f"more than {MAX_REDIRECTS} redirects")


def _run(coro: Any, deadline: float, url: str) -> Response:
    async def bounded() -> Response:
        return await asyncio.wait_for(coro, deadline)

    def run() -> Response:
        try:
            return asyncio.run(bounded())
        except TimeoutError:
            raise NetError(
                f"{shown(url)}: no complete answer within {deadline:g}s (the total deadline)",
                kind="timeout",
            ) from None
        except NetError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is operational, named
            why = refusal(exc) or f"{type(exc).__name__}: {exc}".rstrip(": ")
            from promptrail.secrets import redact_text

            raise NetError(f"{shown(url)}: {redact_text(why)}", kind="unreachable") from None

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    # called from inside an event loop (a Prefect task, say): run in a thread of our own
    box: dict[str, Any] = {}

    def worker() -> None:
        try:
            box["ok"] = run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["err"] = exc

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    t.join()
    if "err" in box:
        raise box["err"]
    return box["ok"]  # type: ignore[no-any-return]


def post_json(
    url: str,
    data: Any,
    *,
    secret: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float | None = None,
    allow_link_local: bool = False,
) -> Response:
    """POST ``data`` as JSON, redacted of secrets first; with ``secret``, signed in
    ``X-Promptrail-Signature: sha256=<HMAC of the body>``. Non-2xx answers are a NetError."""
    from promptrail.secrets import redact

    body = json.dumps(redact(data), ensure_ascii=False, default=str).encode("utf-8")
    sent = {"Content-Type": "application/json", **(headers or {})}
    if secret:
        digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        sent[SIGNATURE_HEADER] = f"sha256={digest}"
    resp = request(
        "POST", url, body=body, headers=sent, timeout=timeout, allow_link_local=allow_link_local
    )
    if not 200 <= resp.status < 300:
        raise NetError(f"{shown(url)}: HTTP {resp.status}", kind="http-status")
    return resp


def sdk_flavor(base_client_module: str) -> str:
    """The httpx an official SDK takes: openai 3.x and anthropic 2.x moved to the httpx2 fork,
    whose classes are not httpx's (and httpx itself may not even be installed)."""
    import importlib

    base = importlib.import_module(base_client_module)
    return "httpx2" if hasattr(base, "httpx2") else "httpx"
