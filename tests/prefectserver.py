"""A throwaway Prefect server for tests and benchmarks: on 127.0.0.1 and a free port, its
``PREFECT_HOME`` in a folder of the caller's, analytics off, its log in that folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class NotStarted(RuntimeError):
    """The server did not answer its health check in time (the message ends with its log)."""


def environment(home: Path) -> dict[str, str]:
    """This process's environment for a Prefect server (or client) kept inside ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    return env


@contextmanager
def running(home: Path, wait: float = 90) -> Iterator[str]:
    """Start a server, yield its API URL once it answers, stop it at the end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start"]
            + ["--host", "127.0.0.1", "--port", str(port)],
            env=environment(home),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-3000:]
                    raise NotStarted(
                        f"the Prefect server did not start in {wait:g} s:\n{tail}"
                    ) from None
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
