"""Recorded latency is the provider's round trip, not the time the event loop was busy elsewhere.

The fake server measures how long it took to answer each request; the latency promptrail
records for a case must stay close to that even while slow checks and a slow one-off set-up
(standing in for deepeval's import and an LLM judge) run during the suite.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakeserver import FakeLLMServer, last_user

from promptrail.assertions import AssertionContext, AssertionResult
from promptrail.assertions.base import Assertion, assertion

BURN = 0.25  # seconds of pure-Python CPU per check: holds the GIL the way an import does
SET_UP: list[int] = []  # how many requests the server had seen when the set-up ran


def burn(seconds: float) -> float:
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        n += sum(i * i for i in range(200))
    return time.perf_counter() - start


CHECKS: list[tuple[float, float]] = []  # when each slow check ran (perf_counter)


@assertion("test-slow-check")
@dataclass
class SlowCheck(Assertion):
    """A synchronous check that takes a quarter of a second of CPU, like an in-process judge."""

    def prepare(self) -> None:
        SET_UP.append(len(SERVER[0].requests))
        burn(BURN)

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        start = time.perf_counter()
        took = burn(BURN)
        CHECKS.append((start, time.perf_counter()))
        return self.result(True, f"burned {took:.3f} s", score=took)


SERVER: list[FakeLLMServer] = []


def write_workspace(root: Path, cases: int) -> None:
    (root / "prompts").mkdir(parents=True)
    (root / "suites").mkdir()
    (root / "promptrail.yaml").write_text(
        "environments: [{name: dev}]\nproviders: {openai: {concurrency: 2}}\n"
    )
    (root / "prompts/echo.yaml").write_text(
        "name: echo\nversion: 1.0.0\nmodel: {provider: openai, name: gpt-4o-mini}\n"
        "messages:\n  - {role: user, content: 'Ticket {{ n }}'}\n"
    )
    rows = "".join(f"  - {{id: c{i}, vars: {{n: '{i}'}}}}\n" for i in range(cases))
    (root / "suites/echo.yaml").write_text(
        f"prompt: echo\ndefaults:\n  assert: [{{type: test-slow-check}}]\ncases:\n{rows}"
    )


def test_latency_is_the_round_trip_while_slow_checks_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptrail.evaluate import Evaluator
    from promptrail.workspace import Workspace

    root = tmp_path / "ws"
    write_workspace(root, cases=6)
    CHECKS.clear()
    SET_UP.clear()
    with FakeLLMServer(responder=lambda body, protocol: last_user(body), latency=0.05) as server:
        SERVER[:] = [server]
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        ws = Workspace(str(root))
        with Evaluator(ws, cache_mode="off") as ev:
            run = ev.evaluate(ws.resolve("echo"))
        requests = list(server.requests)
        handled = {r["body"]["messages"][-1]["content"]: r["handled_ms"] for r in requests}
    assert SET_UP == [0]  # the one-off set-up ran once, before any call went out
    assert run.total == 6 and run.pass_rate == 1.0
    # No slow check ran while any case call was being answered: with two calls in flight and
    # checks taking a quarter of a second, a check run as soon as its call returned would
    # overlap the next call (and be counted in that call's latency).
    calls = [r["handled"] for r in requests]
    assert len(CHECKS) == 6
    for c_start, c_end in CHECKS:
        for s_start, s_end in calls:
            assert c_end <= s_start or c_start >= s_end, "a slow check overlapped a timed call"
    # And what is recorded is the round trip: the typical case is near the server's own time
    # (the median: a new connection on a loaded machine can take a while to be accepted).
    excess = sorted((c.latency_ms or 0) - handled[f"Ticket {c.vars['n']}"] for c in run.cases)
    burned = min(float(c.assertions[0]["score"]) for c in run.cases) * 1000
    # A check run during a call would add all of its burn (>= 250 ms) to that call; a busy
    # machine adds tens of ms to any round trip. The bound sits between the two.
    assert 0 <= excess[len(excess) // 2] < burned * 0.8, excess
