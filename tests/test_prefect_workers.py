"""Scaling out with Prefect (docs/ci.md), run as a user runs it: a real Prefect server, the
deployments of the `prefect.yaml` that `promptrail init` writes, two process workers started
with the same PostgreSQL team store (PROMPTRAIL_DB) and their own PROMPTRAIL_ACTOR, and
several gate flow runs at once. One shared record comes out: a runs row per flow run, every
case row, one gate-run audit row per run in an intact chain, visible from another checkout."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import git, run_cli
from pgserver import PASSWORD

from promptrail.store import Store

# one xdist worker runs every test of the Prefect server (one start per run: --dist loadgroup)
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect-server")]

RUNS = 4  # gate flow runs submitted at once, for two workers of --limit 1
WAIT = 240  # s: a bound for the runs to finish on a slow CI machine, not a figure

PREFECT = [sys.executable, "-m", "prefect"]


FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def call(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """The Prefect REST API; a busy server (503: its SQLite is locked) is asked again, as
    Prefect's own client does."""
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(6):
        req = urllib.request.Request(
            url + path, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as exc:
            if exc.code not in (429, 503) or attempt == 5:
                raise
            time.sleep(0.5 * 2**attempt)


def prefect(env: dict[str, str], cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        [*PREFECT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, f"prefect {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate each process group (a worker and the flow runs it started), then kill."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def tails(paths: list[Path]) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in paths)


def store_rows(url: str, run_id: str) -> set[tuple[Any, ...]]:
    """What one gate run recorded, without its run id: gate results and case results."""
    store = Store(url)
    try:
        gates = store.query(
            "SELECT prompt, version, content_hash, gate, status, score FROM gate_results "
            "WHERE run_id = ?",
            [run_id],
        )[1]
        cases = store.query(
            "SELECT prompt, case_id, passed, output FROM case_results WHERE run_id = ?",
            [run_id],
        )[1]
    finally:
        store.close()
    assert cases, f"run {run_id} recorded no case rows"
    return set(gates) | {("case", *c) for c in cases}


def test_two_workers_share_one_postgres_team_store(
    example: Path,
    tmp_path: Path,
    pg_url: str,
    prefect_api: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, _ = prefect_api
    # the workspace: the repo's example (recordings, so --cache replay needs no model) with the
    # prefect.yaml `promptrail init` writes, committed as a team would have it
    from promptrail.scaffold import init

    init(tmp_path / "scaffolded")
    shutil.copy(tmp_path / "scaffolded/prefect.yaml", example / "prefect.yaml")
    git(example, "add", "prefect.yaml")
    git(example, "commit", "-qm", "prefect deployments")

    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTRAIL_")}
    env.update(
        PREFECT_API_URL=url,
        PREFECT_HOME=str(tmp_path / "prefect-client"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PWD=str(example),  # what a shell sets after `cd`; prefect.yaml's {{ $PWD }} reads it
    )
    prefect(env, example, "work-pool", "create", "promptrail", "--type", "process")

    procs: list[subprocess.Popen[bytes]] = []
    worker_logs = [tmp_path / f"worker-{w}.log" for w in "ab"]
    watch_log = tmp_path / "watch.log"
    watch_log.touch()

    def logs() -> str:
        return tails([*worker_logs, watch_log])

    try:
        for w, log in zip("ab", worker_logs, strict=True):
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [*PREFECT, "worker", "start", "--pool", "promptrail", "--limit", "1"]
                        + ["--name", f"worker-{w}"],
                        env={
                            **env,
                            "PROMPTRAIL_DB": pg_url,
                            "PROMPTRAIL_ACTOR": f"worker-{w}",
                            "PREFECT_WORKER_QUERY_SECONDS": "1",
                        },
                        cwd=tmp_path,  # the deployment's pull step moves a flow run to the ws
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deployed = prefect(env, example, "--no-prompt", "deploy", "--all")
        assert {"gate/gate", "promote/promote", "sweep/nightly-sweep"} <= set(
            re.findall(r"Deployment '([\w/-]+)' successfully", deployed)
        ), deployed

        # the in-process gate of the same workspace, into its own DuckDB file: what to expect
        monkeypatch.setenv("PROMPTRAIL_DB", str(tmp_path / "in-process.duckdb"))
        code, out, err = run_cli("-C", str(example), "gate", "--json", "--cache", "replay")
        assert code == 0, err
        expected = json.loads(out)
        assert expected["mode"] == "in-process"
        want = store_rows(str(tmp_path / "in-process.duckdb"), expected["run_id"])
        monkeypatch.delenv("PROMPTRAIL_DB")

        # several gate runs at once: one as docs/ci.md submits it (--watch exits 0 only for a
        # Completed run, i.e. a passed gate), the others straight through the REST API
        with watch_log.open("wb") as out_file:
            watcher = subprocess.Popen(
                [*PREFECT, "deployment", "run", "gate/gate"]
                + ["--param", "cache_mode=replay", "--watch"],
                env=env,
                cwd=example,
                stdout=out_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        procs.append(watcher)
        deployment = call(url, "/deployments/name/gate/gate")["id"]
        flow_run_ids = [
            call(
                url,
                f"/deployments/{deployment}/create_flow_run",
                {"parameters": {"cache_mode": "replay"}},
            )["id"]
            for _ in range(RUNS - 1)
        ]

        def finished() -> bool:
            runs = call(url, "/flow_runs/filter", {"flow_runs": {"id": {"any_": flow_run_ids}}})
            return all(r["state"]["type"] in FINAL for r in runs)

        deadline = time.monotonic() + WAIT
        while watcher.poll() is None or not finished():
            if any(w.poll() is not None for w in procs[:2]):
                pytest.fail("a worker stopped while gate runs were queued:\n" + logs())
            if time.monotonic() > deadline:
                pytest.fail(f"the {RUNS} gate flow runs did not finish in {WAIT} s:\n" + logs())
            time.sleep(1)
        assert watcher.returncode == 0, logs()
        found = re.search(r"UUID: ([0-9a-f-]{36})", watch_log.read_text())
        assert found, logs()
        flow_run_ids.append(found.group(1))
        flow_runs = call(url, "/flow_runs/filter", {"flow_runs": {"id": {"any_": flow_run_ids}}})
    finally:
        stop(procs)
    assert all(p.poll() is not None for p in procs)

    # Prefect: every run Completed, each published its gate table naming its promptrail run
    assert [r["state"]["type"] for r in flow_runs] == ["COMPLETED"] * RUNS, logs()
    run_ids = set()
    for fid in flow_run_ids:
        [table] = call(
            url,
            "/artifacts/filter",
            {
                "artifacts": {
                    "flow_run_id": {"any_": [fid]},
                    "key": {"any_": ["promptrail-gate-table"]},
                }
            },
        )
        run_ids.add(table["description"].rpartition(": ")[2])
    assert len(run_ids) == RUNS

    # the team store: a finished runs row per flow run, by the worker that ran it
    store = Store(pg_url)
    try:
        runs = store.query_dicts(
            "SELECT run_id, status, actor, mode, finished_at FROM runs WHERE kind = 'gate'"
        )
        audit = store.query_dicts(
            "SELECT actor, subject FROM audit_log WHERE event = 'gate-run' ORDER BY seq"
        )
        chain = store.query("SELECT count(*) FROM audit_log")[1][0][0]
    finally:
        store.close()
    assert {r["run_id"] for r in runs} == run_ids
    assert {r["status"] for r in runs} == {expected["status"]} == {"passed"}
    assert {r["mode"] for r in runs} == {"prefect"}
    assert all(r["finished_at"] is not None for r in runs)
    assert {r["actor"] for r in runs} == {"worker-a", "worker-b"}  # both workers ran gates
    # no row lost: each run recorded what the in-process gate recorded
    for run_id in run_ids:
        assert store_rows(pg_url, run_id) == want, run_id
    # one gate-run audit row per run, by the same worker
    assert sorted(a["subject"] for a in audit) == sorted(run_ids)
    assert {a["subject"]: a["actor"] for a in audit} == {r["run_id"]: r["actor"] for r in runs}

    # a third checkout of the workspace sees the shared record
    third = tmp_path / "third"
    shutil.copytree(example, third, ignore=shutil.ignore_patterns(".promptrail"))
    monkeypatch.setenv("PROMPTRAIL_DB", pg_url)
    code, out, err = run_cli("-C", str(third), "audit", "verify", "--json")
    assert code == 0, out + err
    verified = json.loads(out)
    assert verified["status"] == "ok" and verified["rows"] == chain
    code, out, err = run_cli("-C", str(third), "history", "support-reply", "--json")
    assert code == 0, err
    seen = {e["run_id"] for e in json.loads(out)["events"] if e["event"] == "gate-run"}
    assert seen == run_ids
    code, out, err = run_cli(
        "-C",
        str(third),
        "sql",
        "SELECT actor, count(*) AS runs FROM runs WHERE mode = 'prefect' GROUP BY actor",
        "--json",
    )
    assert code == 0, err
    assert sum(r["runs"] for r in json.loads(out)) == RUNS

    # the store's password went nowhere a worker or a watcher writes
    for log in [*worker_logs, watch_log]:
        assert PASSWORD not in log.read_text(errors="replace"), log.name
