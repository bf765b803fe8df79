"""A run split across worker processes (promptrail/workers.py): both processes really call
the model, the provider never sees more calls in flight than the configured limit, results
come back complete and in case order, and a worker that dies is exit 3, not a pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakeserver import FakeLLMServer, last_user

from promptrail.store import Store
from promptrail.workers import planned_processes, share

pytestmark = pytest.mark.e2e

# A workspace check that says which process ran it; with DIE_IN_WORKER set, a worker
# process (not the one running the gate) exits in the middle of its first case.
PID_CHECK = """
import os
from dataclasses import dataclass

from promptrail.assertions import Assertion, AssertionContext, AssertionResult


@dataclass
class WhichProcess(Assertion):
    inline = True

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        if os.environ.get("DIE_IN_WORKER") and os.getpid() != int(os.environ["GATE_PID"]):
            os._exit(7)
        return self.result(True, f"pid {os.getpid()}")
"""


def workspace(root: Path, cases: int, concurrency: int, prompts: int = 1) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "suites").mkdir()
    (root / "assertions").mkdir()
    (root / "assertions/which_process.py").write_text(PID_CHECK)
    (root / "promptrail.yaml").write_text(
        "environments: [{name: dev}, {name: staging, gates: [lint, regression]}]\n"
        f"providers: {{openai: {{concurrency: {concurrency}}}}}\n"
    )
    rows = "".join(f"  - {{id: c{i:03d}, vars: {{n: '{i}'}}}}\n" for i in range(cases))
    for name in ["echo"] + [f"echo{k}" for k in range(1, prompts)]:
        suffix = "" if name == "echo" else f" for {name}"  # no two prompts send one request
        (root / f"prompts/{name}.yaml").write_text(
            f"name: {name}\nversion: 1.0.0\nmodel: {{provider: openai, name: gpt-4o-mini}}\n"
            "input_schema: {type: object, required: [n], properties: {n: {type: string}}}\n"
            f"messages:\n  - {{role: user, content: 'Ticket {{{{ n }}}}{suffix}'}}\n"
        )
        (root / f"suites/{name}.yaml").write_text(
            f"prompt: {name}\ndefaults:\n  assert: [{{type: which-process}}, "
            f"{{type: contains, value: Ticket}}]\ncases:\n{rows}"
        )
    return root


def gate(
    root: Path, server: FakeLLMServer, processes: str, **env: str
) -> subprocess.CompletedProcess:
    code = (
        "import os, sys; os.environ['GATE_PID'] = str(os.getpid()); "
        "from promptrail.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "-C", str(root), "gate", "--env", "staging", "--json"],
        env={
            **os.environ,
            **server.env(),
            "PROMPTRAIL_DB": str(root / "store.duckdb"),
            "PROMPTRAIL_EVAL_PROCESSES": processes,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_two_processes_share_the_limit_and_return_every_case_in_order(tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws", cases=60, concurrency=4)
    with FakeLLMServer(responder=lambda body, protocol: last_user(body), latency=0.02) as server:
        proc = gate(root, server, "2")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        assert len(server.requests) == 60  # each case called once, by one process
        assert server.max_in_flight <= 4  # the shares add up to the configured limit
    run_id = json.loads(proc.stdout)["run_id"]
    cols, rows = Store(root / "store.duckdb").query(
        "SELECT case_id, output, passed, assertions FROM case_results WHERE run_id = ? "
        "ORDER BY case_id",
        [run_id],
    )
    assert [r[0] for r in rows] == [f"c{i:03d}" for i in range(60)]
    assert all(r[2] for r in rows)
    assert [r[1] for r in rows] == [f"Ticket {i}" for i in range(60)]  # each its own answer
    pids = {json.loads(r[3])[0]["reason"] for r in rows}
    assert len(pids) == 2  # cases really ran in the gate's process and in a worker


def test_small_suites_are_spread_over_both_processes(tmp_path: Path) -> None:
    """A team's gate is many small suites run at once. Each process has only its share of
    the concurrency, so a suite run whole in the gate's process would leave the worker's
    share idle (a forty-prompt gate took twice as long): every suite uses both."""
    root = workspace(tmp_path / "ws", cases=12, concurrency=4, prompts=4)
    with FakeLLMServer(responder=lambda body, protocol: last_user(body), latency=0.02) as server:
        proc = gate(root, server, "2")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert len(server.requests) == 48
        assert server.max_in_flight <= 4
    run_id = json.loads(proc.stdout)["run_id"]
    _, rows = Store(root / "store.duckdb").query(
        "SELECT prompt, list(DISTINCT json_extract_string(assertions, '$[0].reason')) "
        "FROM case_results WHERE run_id = ? GROUP BY prompt ORDER BY prompt",
        [run_id],
    )
    assert [r[0] for r in rows] == ["echo", "echo1", "echo2", "echo3"]
    assert all(len(r[1]) == 2 for r in rows), rows


def test_one_process_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTRAIL_EVAL_PROCESSES", "1")
    assert planned_processes(100_000, "off") == 1
    monkeypatch.delenv("PROMPTRAIL_EVAL_PROCESSES")
    assert planned_processes(10, "off") == 1  # auto: a small run stays in one process
    assert planned_processes(100_000, "replay") == 1  # replay costs no SDK time
    assert [share(16, k, 3) for k in range(3)] == [6, 5, 5]
    assert sum(share(7, k, 4) for k in range(4)) == 7


def test_a_worker_that_dies_is_exit_3_naming_it(tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws", cases=30, concurrency=4)
    with FakeLLMServer(responder=lambda body, protocol: last_user(body), latency=0.02) as server:
        proc = gate(root, server, "2", DIE_IN_WORKER="1")
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert "eval worker process 1 stopped (exit code 7)" in proc.stdout + proc.stderr
