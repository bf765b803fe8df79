"""Shared fixtures: an isolated environment, a scaffolded workspace, and the fake LLM server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))

# Session-wide, before anything imports deepeval or prefect: they read these once and cache.
os.environ["DEEPEVAL_TELEMETRY_OPT_OUT"] = "1"
os.environ["DEEPEVAL_DISABLE_DOTENV"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """No real keys, no user config, Prefect and deepeval kept inside the test run."""
    for key in list(os.environ):
        if key.startswith(("OPENAI_", "ANTHROPIC_", "PREFECT_API", "PROMPTRAIL_")):
            monkeypatch.delenv(key, raising=False)
    scratch = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("PREFECT_HOME", str(scratch / "prefect-home"))
    monkeypatch.setenv("PROMPTRAIL_ACTOR", "tester@example.com")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Tester")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "tester@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Tester")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "tester@example.com")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh scaffolded workspace, committed to git."""
    from promptrail.scaffold import init

    root = tmp_path / "ws"
    init(root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of this repository's example workspace."""
    root = tmp_path / "example"
    root.mkdir()
    for name in (
        "promptrail.yaml",
        "prompts",
        "components",
        "schemas",
        "suites",
        "environments",
        "recordings",
    ):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        elif src.exists():
            shutil.copy(src, root / name)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "example")
    return root


def run_cli(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """The real CLI in-process (fast), capturing stdout and stderr."""
    import contextlib
    import io

    from promptrail.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli():
    return run_cli


# -- stores: every store test runs on both engines -------------------------------------------
@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL server per test session (per xdist worker)."""
    import pgserver

    reason = pgserver.why_unavailable()
    if reason:
        if os.environ.get("PROMPTRAIL_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here (PROMPTRAIL_REQUIRE_POSTGRES): {reason}")
        pytest.skip(reason)
    server = pgserver.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh database on the session's server."""
    from promptrail.store import Store

    url = pg_server.create_database()
    yield url
    Store(url).close()


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store lives: a DuckDB file, then a fresh PostgreSQL database."""
    if request.param == "duckdb":
        return str(tmp_path / "store.duckdb")
    return str(request.getfixturevalue("pg_url"))


# -- Prefect ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One real Prefect server per test session (per xdist worker), on 127.0.0.1 and a free
    port, analytics off: yields (API URL, its PREFECT_HOME); stopped at the end."""
    import prefectserver

    home = tmp_path_factory.mktemp("prefect-server")
    try:
        with prefectserver.running(home) as url:
            yield url, home
    except prefectserver.NotStarted as exc:
        pytest.fail(str(exc))
