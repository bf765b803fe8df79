"""A throwaway PostgreSQL server for tests and benchmarks (Debian's postgresql package).

``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the ``postgres`` user
from a data directory that user can reach (``mkdtemp`` opened to 0777: pytest's own temp
dirs are 0700). The server listens on 127.0.0.1 only, on a free port, with its socket in the
same directory, trusts local connections, and is stopped (and its files removed) at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "pg-Test-pw-7c1f"  # the superuser's password over TCP: tests check it never shows


def bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def why_unavailable() -> str | None:
    """None when a server can be started here, else the reason it cannot."""
    if bindir() is None:
        return "PostgreSQL is not installed (apt-get install -y postgresql; .ci/run does)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user to run the server as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'promptrail[postgres]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    root: Path
    port: int
    bindir: Path

    password: str = PASSWORD

    @property
    def admin_url(self) -> str:
        """Over the Unix socket (trusted): no password."""
        return f"postgresql://postgres@/postgres?host={self.root}&port={self.port}"

    def url(self, dbname: str, user: str = "postgres", password: str | None = PASSWORD) -> str:
        """Over TCP on 127.0.0.1, which asks for a password (SCRAM)."""
        cred = f"{user}:{password}" if password else user
        return f"postgresql://{cred}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """A fresh empty database; returns its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        _as_postgres(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def _as_postgres(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def start(durable: bool = False) -> Server:
    """A running server; ``durable`` keeps PostgreSQL's default fsync settings (benchmarks)."""
    found = bindir()
    assert found is not None
    root = Path(tempfile.mkdtemp(prefix="promptrail-pg-"))
    root.chmod(0o777)
    data = root / "data"
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    pwfile.chmod(0o644)
    _as_postgres(
        [
            str(found / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale",
            "C",
        ]
    )
    pwfile.unlink()
    port = _free_port()
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    proc = _as_postgres(
        [
            str(found / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=False,
    )
    if proc.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {proc.stderr}\n{log}")
    return Server(root, port, found)
