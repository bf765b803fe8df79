"""A raw TCP server for hostile-network tests: each connection gets what ``behave(conn,
server)`` sends (a dribble, a bomb, a redirect), with every request it read kept."""

from __future__ import annotations


class RawServer:
    """A TCP server on a free port whose every connection is handled by ``behave(conn)``."""

    def __init__(self, behave) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[bytes] = []
        self.closed = threading.Event()

        def serve() -> None:
            while not self.closed.is_set():
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    return
                threading.Thread(target=self._handle, args=(conn, behave), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()

    def _handle(self, conn, behave) -> None:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(ln.split(b":")[1])
                    for ln in head.split(b"\r\n")
                    if ln.lower().startswith(b"content-length:")
                ),
                0,
            )
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + body)
            behave(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc) -> None:
        self.closed.set()
        self.sock.close()


def dribble(conn, server) -> None:
    import time

    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    while not server.closed.is_set():
        conn.sendall(b" ")
        time.sleep(0.2)


def answer(
    body: bytes, status: str = "200 OK", headers: str = "Content-Type: application/json\r\n"
):
    def behave(conn, server) -> None:
        conn.sendall(
            f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    return behave


def deflate_bomb(size: int) -> bytes:
    import zlib

    c = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    return b"".join(c.compress(chunk) for _ in range(size >> 20)) + c.flush()
