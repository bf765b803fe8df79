"""A stand-in for a model: a local HTTP server that speaks the OpenAI chat-completions and Anthropic messages wire
protocols, so tests and benchmarks drive the real SDKs with no network and no keys.

    with FakeLLMServer(responder=lambda body, protocol: "hi", latency=0.01) as server:
        monkeypatch.setattr(os, "environ", {**os.environ, **server.env()})

- ``responder(body, protocol) -> str | dict`` picks the reply (``protocol`` is ``"openai"`` or
  ``"anthropic"``); the default answers ``"ok"``. A dict answers with tool calls,
  ``{"tool_calls": [{"name": ..., "arguments": {...}}], "text": optional}``, or with
  structured output, ``{"json": value}``. An exception in it becomes an HTTP 500.
- Requests are checked the way the real APIs check them (``strict=True``, the default): an
  unknown top-level parameter, a missing ``max_tokens`` (Anthropic), turns that do not
  alternate user/assistant (Anthropic), a malformed tool, ``tool_choice`` or
  ``response_format``/``output_config``, ``max_tokens`` or ``temperature`` sent to an OpenAI
  reasoning model, a tool result answering no call: all are HTTP 400 with the API's kind of
  message (the rules are in ``promptrail.wirerules``), so a wrong request fails a test
  instead of passing against a lenient fake. Bedrock
  (``/model/<id>/invoke``), Vertex (``...:rawPredict``) and Azure
  (``/openai/deployments/<name>/chat/completions``) paths are served too.
- ``latency`` seconds are slept in the handler thread before every answer.
- ``fail(status, times, retry_after=None, retry_after_ms=None)`` queues error answers, served
  before any normal one; ``status=0`` drops the connection without answering. A 401 echoes
  the key it was sent, as a careless server would, so tests can check it is scrubbed.
- ``requests`` records every call: ``{"path", "protocol", "body", "headers", "handled_ms"}``
  (``handled_ms``: from reading the body to the answer sent; ``handled``: those two
  ``time.perf_counter()`` stamps, comparable within the server's own process); ``max_in_flight`` is the most
  calls seen at once; ``GET /_stats`` returns ``{"requests", "max_in_flight", "handled_ms"}``
  (the mean) and
  ``GET /_stats?reset=1`` also clears them, as ``reset()`` does.
- Usage: about one token per four characters, ``len(text) // 4 + 1``.

Standalone (for trying the CLI by hand)::

    python -m promptrail.devserver --port 8787 --latency 0.05 \\
        --outputs tests/fixtures/example_outputs.yaml --workspace .
    python -m promptrail.devserver --responder mymodule:answer       # any (body, protocol) -> str

``--outputs FILE`` (YAML ``{prompt: {case_id: output}}``) answers every suite case of the
workspace with its output, matched on the rendered last user message (which is unique per
case); anything else gets ``I don't know.``. ``--responder MODULE:FUNC`` names any function
``(body, protocol) -> str`` importable with ``tests/`` on the path. Then point the SDKs at it:
``eval "$(python -m promptrail.devserver --print-env --port 8787)"``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from promptrail.wirerules import check_anthropic, check_openai

Responder = Callable[[dict[str, Any], str], Any]
FAKE_OPENAI_KEY = "sk-fake-openai-0123456789abcdef"
FAKE_ANTHROPIC_KEY = "sk-ant-fake-0123456789abcdef"


def tokens(text: str) -> int:
    return len(text) // 4 + 1


def text_of(content: Any) -> str:
    """A message's text, whether a string or a list of content parts."""
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def last_user(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return text_of(users[-1]["content"]) if users else ""


def env_for(port: int) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "OPENAI_API_KEY": FAKE_OPENAI_KEY,
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ANTHROPIC_API_KEY": FAKE_ANTHROPIC_KEY,
    }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default backlog of 5 drops bursts of new connections


class FakeLLMServer:
    def __init__(
        self,
        responder: Responder | None = None,
        latency: float = 0.0,
        port: int = 0,
        host: str = "127.0.0.1",
        strict: bool = True,
    ) -> None:
        self.responder: Responder = responder or (lambda body, protocol: "ok")
        self.strict = strict
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server = _HTTPServer((host, port), self._handler())
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url  # the SDK appends /v1/messages itself

    def env(self) -> dict[str, str]:
        """Environment variables pointing both SDKs here, with dummy keys."""
        return env_for(self.port)

    def fail(
        self,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        retry_after_ms: float | None = None,
    ) -> None:
        headers = {}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = f"{retry_after_ms:g}"
        with self._lock:
            self.failures.extend([(status, headers)] * times)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.failures.clear()
            self.max_in_flight = self.in_flight

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"fakellm-{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open keep-alive connection."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns, self._connections = list(self._connections), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the handler --------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive
            disable_nagle_algorithm = True  # 46 ms -> 4 ms per call on loopback

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._connections.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server._connections.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                if url.path == "/_stats":  # for benchmarks in another process
                    with server._lock:
                        handled = [r["handled_ms"] for r in server.requests if "handled_ms" in r]
                        stats = {
                            "requests": len(server.requests),
                            "max_in_flight": server.max_in_flight,
                            "handled_ms": sum(handled) / len(handled) if handled else 0.0,
                        }
                    if url.query == "reset=1":
                        server.reset()
                    self._send(200, stats)
                    return
                self._send(200, {"status": "ok"})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                protocol, platform = route(path)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._error(400, protocol, "request body is not JSON")
                    return
                if platform in ("bedrock", "vertex") and isinstance(body, dict):
                    body = {"model": path_model(path), **body}
                started = time.perf_counter()
                record: dict[str, Any] = {
                    "path": path,
                    "protocol": protocol,
                    "body": body,
                    "headers": dict(self.headers.items()),
                }
                with server._lock:
                    server.requests.append(record)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    failure = server.failures.pop(0) if server.failures else None
                try:
                    if server.latency:
                        time.sleep(server.latency)
                    self._answer(protocol, body, failure, platform)
                finally:
                    ended = time.perf_counter()
                    record["handled_ms"] = (ended - started) * 1000
                    record["handled"] = (started, ended)  # perf_counter: same-process clock
                    with server._lock:
                        server.in_flight -= 1

            def _answer(
                self,
                protocol: str,
                body: dict[str, Any],
                failure: tuple[int, dict[str, str]] | None,
                platform: str = "",
            ) -> None:
                if failure is not None:
                    status, headers = failure
                    if status == 0:  # a dropped connection
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    message = f"injected HTTP {status}"
                    if status == 401:
                        key = self.headers.get("x-api-key") or self.headers.get(
                            "authorization", ""
                        ).removeprefix("Bearer ")
                        message = f"Incorrect API key provided: {key}"
                    self._error(status, protocol, message, headers)
                    return
                if not protocol:
                    self._error(404, protocol, f"no route for POST {self.path}")
                    return
                if body.get("stream"):
                    self._error(400, protocol, "streaming is not supported by the fake server")
                    return
                if server.strict:
                    problem = (
                        check_openai(body)
                        if protocol == "openai"
                        else check_anthropic(body, platform)
                    )
                    if problem:
                        self._error(400, protocol, problem, kind="invalid_request_error")
                        return
                try:
                    answer = server.responder(body, protocol)
                except Exception as exc:  # noqa: BLE001 - reported to the client as a 500
                    self._error(500, protocol, f"responder failed: {exc!r}")
                    return
                text, calls = split_answer(answer)
                reply = (
                    server._openai(body, text, calls)
                    if protocol == "openai"
                    else server._anthropic(body, text, calls)
                )
                self._send(200, reply)

            def _error(
                self,
                status: int,
                protocol: str,
                message: str,
                headers: dict[str, str] | None = None,
                kind: str | None = None,
            ) -> None:
                if protocol == "anthropic":
                    payload = {
                        "type": "error",
                        "error": {"type": kind or "api_error", "message": message},
                    }
                else:
                    payload = {
                        "error": {
                            "message": message,
                            "type": kind or "fake_error",
                            "code": str(status),
                        }
                    }
                self._send(status, payload, headers)

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    # -- wire formats -------------------------------------------------------------------
    @staticmethod
    def _openai(
        body: dict[str, Any], text: str, calls: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        prompt = sum(tokens(text_of(m.get("content"))) for m in body.get("messages", []))
        out = tokens(text) + sum(tokens(json.dumps(c)) for c in calls or [])
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if calls:
            message["content"] = text or None
            message["tool_calls"] = [
                {
                    "id": c.get("id") or f"call_fake{i}",
                    "type": "function",
                    "function": {
                        "name": c["name"],
                        "arguments": c["arguments"]
                        if isinstance(c.get("arguments"), str)
                        else json.dumps(c.get("arguments") or {}),
                    },
                }
                for i, c in enumerate(calls)
            ]
        return {
            "id": f"chatcmpl-fake{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls" if calls else "stop",
                    "logprobs": None,
                    "message": message,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": out,
                "total_tokens": prompt + out,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        }

    @staticmethod
    def _anthropic(
        body: dict[str, Any], text: str, calls: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        prompt = tokens(text_of(body.get("system"))) + sum(
            tokens(text_of(m.get("content"))) for m in body.get("messages", [])
        )
        content: list[dict[str, Any]] = (
            [{"type": "text", "text": text}] if text or not calls else []
        )
        content += [
            {
                "type": "tool_use",
                "id": c.get("id") or f"toolu_fake{i}",
                "name": c["name"],
                "input": c.get("arguments") or {},
            }
            for i, c in enumerate(calls or [])
        ]
        return {
            "id": f"msg_fake{time.monotonic_ns()}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "fake"),
            "content": content,
            "stop_reason": "tool_use" if calls else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": prompt,
                "output_tokens": tokens(text) + sum(tokens(json.dumps(c)) for c in calls or []),
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
            },
        }


def route(path: str) -> tuple[str, str]:
    """(protocol, platform) of a request path: the public APIs, Azure, Bedrock and Vertex."""
    if path.endswith("/chat/completions"):
        return "openai", "azure" if "/openai/deployments/" in path else ""
    if path.endswith("/messages"):
        return "anthropic", ""
    if path.startswith("/model/") and path.endswith("/invoke"):
        return "anthropic", "bedrock"
    if path.endswith(":rawPredict") and "/publishers/anthropic/models/" in path:
        return "anthropic", "vertex"
    return "", ""


def path_model(path: str) -> str:
    from urllib.parse import unquote

    if path.startswith("/model/"):
        return unquote(path.split("/")[2])
    return unquote(path.rsplit("/", 1)[-1].split(":")[0])


def split_answer(answer: Any) -> tuple[str, list[dict[str, Any]]]:
    """A responder's answer as (text, tool calls)."""
    if isinstance(answer, dict):
        if "json" in answer:
            return json.dumps(answer["json"]), []
        return str(answer.get("text") or ""), list(answer.get("tool_calls") or [])
    return str(answer), []


# -- standalone ---------------------------------------------------------------------------
def outputs_responder(
    outputs: Path, workspace: Path, edit: Callable[[str, str, str], str] | None = None
) -> Responder:
    """Answer each suite case of ``workspace`` with its output from ``outputs`` (passed
    through ``edit(prompt, case_id, output)`` when given, to script a worse model).

    Matching is on the rendered last user message of each (prompt, case), which the suites
    keep unique; anything else gets ``I don't know.``.
    """
    import yaml

    from promptrail.render import render_messages
    from promptrail.suites import load_suite
    from promptrail.workspace import Workspace

    table: dict[str, str] = {}
    by_prompt = yaml.safe_load(outputs.read_text(encoding="utf-8")) or {}
    ws = Workspace(workspace)
    for name in ws.prompt_names():
        suite = load_suite(ws, name)
        if suite is None:
            continue
        resolved = ws.resolve(name)
        for case in suite.cases:
            users = [
                m["content"] for m in render_messages(resolved, case.vars) if m["role"] == "user"
            ]
            if users and case.id in by_prompt.get(name, {}):
                out = str(by_prompt[name][case.id])
                table[users[-1]] = edit(name, case.id, out) if edit else out

    def answer(body: dict[str, Any], protocol: str) -> str:
        return table.get(last_user(body), "I don't know.")

    return answer


def dotted_responder(spec: str) -> Responder:
    module, _, attr = spec.partition(":")
    func = getattr(importlib.import_module(module), attr)
    if not callable(func):
        raise SystemExit(f"--responder {spec}: not a function")
    return func  # type: ignore[no-any-return]


def serve(
    port: int = 8787,
    latency: float = 0.0,
    outputs: Path | None = None,
    workspace: Path = Path("."),
    responder_spec: str | None = None,
    print_env: bool = False,
) -> int:
    """Run the stand-in model in the foreground until interrupted (``promptrail dev-server``)."""
    if print_env:
        for k, v in env_for(port).items():
            print(f"export {k}={v}")
        return 0
    responder = None
    if outputs:
        responder = outputs_responder(outputs, workspace)
    elif responder_spec:
        sys.path.insert(0, str(Path.cwd() / "tests"))
        responder = dotted_responder(responder_spec)
    server = FakeLLMServer(responder=responder, latency=latency, port=port).start()
    print(
        f"promptrail dev-server: a stand-in for a model, NOT an LLM. Listening on "
        f"{server.openai_base_url} (openai) and {server.anthropic_base_url} (anthropic).\n"
        f'Point the SDKs at it with: eval "$(promptrail dev-server --print-env --port {port})"',
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="A fake OpenAI/Anthropic server for local runs.")
    ap.add_argument("--port", type=int, default=8787)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added per call")
    ap.add_argument("--outputs", type=Path, help="YAML {prompt: {case_id: output}}")
    ap.add_argument(
        "--workspace",
        type=Path,
        default=Path("."),
        help="the workspace whose suites --outputs answers (default: .)",
    )
    ap.add_argument("--responder", help="MODULE:FUNC answering (body, protocol) -> str")
    ap.add_argument(
        "--lenient",
        action="store_true",
        help="answer requests the real APIs would refuse (default: refuse them with 400)",
    )
    ap.add_argument(
        "--print-env",
        action="store_true",
        help="print export lines for the SDKs' variables and exit",
    )
    args = ap.parse_args(argv)
    serve(args.port, args.latency, args.outputs, args.workspace, args.responder, args.print_env)


if __name__ == "__main__":
    main()
