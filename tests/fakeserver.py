"""A local HTTP server that speaks the OpenAI chat-completions and Anthropic messages wire
protocols, so tests (and benchmarks) drive the real SDKs without a network or keys.

    with FakeLLMServer(responder=lambda body, proto: "hi") as server:
        os.environ.update(server.env())

Scriptable: ``responder`` picks the reply text, ``latency`` delays every call, ``fail()``
queues error responses (with ``retry-after``), and ``requests`` records what arrived.

Standalone: ``python tests/fakeserver.py --port 8787 --latency 0.05``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any], str], str]


def tokens(text: str) -> int:
    return max(1, len(text) // 4)


class FakeLLMServer:
    def __init__(self, responder: Responder | None = None, latency: float = 0.0,
                 port: int = 0) -> None:
        self.responder: Responder = responder or (lambda body, proto: "ok")
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.failures: list[tuple[int, float | None]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"OPENAI_BASE_URL": self.openai_base_url, "OPENAI_API_KEY": "sk-test-fake-key-0000",
                "ANTHROPIC_BASE_URL": self.anthropic_base_url,
                "ANTHROPIC_API_KEY": "sk-ant-test-fake-key-0000"}

    def fail(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        with self._lock:
            self.failures.extend([(status, retry_after)] * times)

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the handler --------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append({"path": self.path, "body": body,
                                            "headers": dict(self.headers)})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    failure = server.failures.pop(0) if server.failures else None
                try:
                    if server.latency:
                        time.sleep(server.latency)
                    if failure is not None:
                        status, retry_after = failure
                        headers = {"retry-after": str(retry_after)} if retry_after is not None \
                            else {}
                        self._send(status, {"error": {"message": f"injected {status}",
                                                      "type": "fake_error"},
                                            "type": "error"}, headers)
                        return
                    if self.path.endswith("/chat/completions"):
                        self._send(200, server._openai(body))
                    elif self.path.endswith("/messages"):
                        self._send(200, server._anthropic(body))
                    else:
                        self._send(404, {"error": {"message": "not found"}})
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _send(self, status: int, payload: dict[str, Any],
                      headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _openai(self, body: dict[str, Any]) -> dict[str, Any]:
        text = self.responder(body, "openai")
        prompt = sum(tokens(str(m.get("content", ""))) for m in body.get("messages", []))
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": tokens(text),
                          "total_tokens": prompt + tokens(text),
                          "prompt_tokens_details": {"cached_tokens": 0}}}

    def _anthropic(self, body: dict[str, Any]) -> dict[str, Any]:
        text = self.responder(body, "anthropic")
        prompt = tokens(str(body.get("system", ""))) + sum(
            tokens(str(m.get("content", ""))) for m in body.get("messages", []))
        return {"id": "msg_fake", "type": "message", "role": "assistant",
                "model": body.get("model", "fake"), "stop_reason": "end_turn",
                "stop_sequence": None, "content": [{"type": "text", "text": text}],
                "usage": {"input_tokens": prompt, "output_tokens": tokens(text),
                          "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}


def last_user(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    content = users[-1]["content"] if users else ""
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content)
    return str(content)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8787)
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args()
    server = FakeLLMServer(latency=args.latency, port=args.port).start()
    print(f"fake LLM server on {server.openai_base_url} (openai), "
          f"{server.anthropic_base_url} (anthropic); Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
