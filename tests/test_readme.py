"""The README's tour runs as written: every ```bash block, in order, in a fresh copy of the
repository, each command's exit code checked (0 unless the line says `# exit N`).

Like pydantic_evals' test_examples: documentation that is executed cannot rot. The first
block's set-up part (installing) is what this test environment already did; its promptrail
part runs, the test command (pytest) does not.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
README = REPO / "README.md"


def bash_blocks(text: str) -> list[list[str]]:
    return [
        [line for line in block.splitlines() if line.strip()]
        for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)
    ]


def tour_commands(text: str) -> list[tuple[str, int]]:
    blocks = bash_blocks(text)
    setup, test = blocks[0]
    assert "uv sync --frozen" in setup and test.startswith("python -m pytest")
    main_job = setup.split("&& . .venv/bin/activate &&", 1)[1].split("#", 1)[0].strip()
    commands = [(main_job, 0)]
    for block in blocks[1:]:
        for line in block:
            expected = re.search(r"#\s*exit (\d)\b", line)
            commands.append((line, int(expected.group(1)) if expected else 0))
    return commands


def test_readme_blocks_parse() -> None:
    commands = tour_commands(README.read_text())
    assert commands[0][0] == "promptrail gate --cache replay"
    verbs = {c.split()[1] for c, _ in commands if c.startswith("promptrail ")}
    for verb in ("lint", "render", "lock", "diff", "bump", "gate", "promote", "rollback", "at"):
        assert verb in verbs, verb
    assert any(code == 1 for _, code in commands), "the tour shows a failing check too"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_readme_tour_runs_as_written(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        src = REPO / name
        if src.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / name)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "clone"]):
        subprocess.run(["git", "-C", str(clone), *args], check=True, capture_output=True)

    port = _free_port()
    lines = [
        "set -u",
        f"cd {shlex.quote(str(clone))}",
        "trap 'kill $(jobs -p) 2>/dev/null' EXIT",
    ]
    for n, (command, expected) in enumerate(tour_commands(README.read_text())):
        command = command.replace("promptrail dev-server", f"promptrail dev-server --port {port}")
        if command.rstrip().endswith("&"):
            lines.append(command)
            continue
        lines += [
            f"echo '>>> {n}: '{shlex.quote(command)}",
            command,
            f"rc=$?; if [ $rc -ne {expected} ]; then echo 'README command {n} exited '$rc', "
            f"expected {expected}: '{shlex.quote(command)} >&2; exit 1; fi",
        ]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PROMPTRAIL_ACTOR": "alice@acme.test",
        "HOME": str(tmp_path / "home"),
    }
    proc = subprocess.run(
        ["bash", "-c", "\n".join(lines)], env=env, capture_output=True, text=True, timeout=540
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    # The story's end state: rollback put 1.4.0 back into production, and the chain holds.
    lock = (clone / "environments" / "production.lock").read_text()
    assert '"1.4.0"' in lock
    assert "audit verify: ok" in proc.stdout
    assert (clone / "report.html").read_text().lstrip().lower().startswith("<!doctype html")
