"""Run a prompt's suite against its model: every case × repeat, concurrently, with assertions.

One ``Evaluator`` serves a whole gate run: a single event loop on a background thread and a
single ``ModelClient``, so per-provider concurrency limits hold across every prompt being
gated at once, and callers on any thread (Prefect task workers included) simply block on
``evaluate``. Results are memoised by content hash: the baseline's run is done once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

from promptrail.errors import OperationalError, UsageError

if TYPE_CHECKING:
    from promptrail.resolve import ResolvedPrompt
    from promptrail.workspace import Workspace


RUNNERS_PER_SLOT = 2  # cases started per provider slot (see Evaluator.run_jobs)


@dataclass(slots=True)
class CaseRun:
    case_id: str
    repeat: int
    vars: dict[str, Any]
    status: str  # passed | failed | error
    output: str | None = None
    error: str | None = None
    must_pass: bool = False
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float | None = None
    price_source: str | None = None
    cached: bool = False
    attempts: int = 0
    assertions: list[dict[str, Any]] = field(default_factory=list)
    operational: bool = False  # the error was the provider's or the cache's, not the case's
    tool_calls: list[dict[str, Any]] | None = None  # [{id, name, arguments}] the model made
    structured_output: Any = None  # the parsed JSON, when structured output was asked for

    @property
    def passed(self) -> bool:
        return self.status == "passed"


_FIELDS = tuple(f.name for f in fields(CaseRun))  # CaseRun's arguments, in order


def case_log() -> Any:
    """A list for a suite run's cases that spills to disk when the suite is big
    (``promptrail.spill``): reading it back gives equal ``CaseRun`` objects."""
    from operator import attrgetter

    from promptrail.spill import SpillList

    return SpillList(attrgetter(*_FIELDS), _rebuild)


def _rebuild(values: tuple[Any, ...]) -> CaseRun:
    return CaseRun(*values)


@dataclass
class SuiteRun:
    """A suite's results for one content and role. ``cases`` is a sequence in job order
    (case, then repeat): a list-like ``SpillList`` that keeps a big suite's results on disk,
    read back as they are iterated. What is said of them all is counted in one pass."""

    prompt: str
    version: str
    content_hash: str
    role: str  # candidate | baseline
    threshold: float
    repeat: int
    cases: Sequence[CaseRun]
    seconds: float = 0.0
    max_errors: int = 0  # the suite's tolerance for errored cases (default none)

    @property
    def total(self) -> int:
        return len(self.cases)

    @cached_property
    def _tally(self) -> tuple[int, int, list[CaseRun], bool]:
        """(passed, judged, errored cases, every output live), in one pass over the cases."""
        passed = judged = 0
        errors: list[CaseRun] = []
        live = True
        for c in self.cases:
            if c.status == "error":
                errors.append(c)
            else:
                judged += 1
                passed += c.status == "passed"
            if c.cached and c.output is not None:
                live = False
        return passed, judged, errors, live

    @property
    def passed(self) -> int:
        return self._tally[0]

    @property
    def pass_rate(self) -> float:
        """Passed over judged cases: an errored case is neither a pass nor a failure."""
        passed, judged = self._tally[:2]
        return passed / judged if judged else 0.0

    @property
    def operational_errors(self) -> list[CaseRun]:
        return [c for c in self._tally[2] if c.operational]

    @property
    def errors(self) -> list[CaseRun]:
        """Cases that could not be judged: an assertion raised, the judge's answer did not
        parse, the provider's usage was impossible, the provider failed."""
        return self._tally[2]

    @property
    def live(self) -> bool:
        """Every output came from a live model call in this run (none from the cache)."""
        return self._tally[3]


class ProviderJudge:
    """The judge model for LLM-judged metrics, called through the same provider layer."""

    def __init__(self, client: Any, provider: str, model: str) -> None:
        self.client, self.provider, self.model_name = client, provider, model

    async def generate(self, prompt: str) -> str:
        from promptrail.providers import ModelRequest

        req = ModelRequest(
            self.provider,
            self.model_name,
            ({"role": "user", "content": prompt},),
            {"temperature": 0},
        )
        return str((await self.client.complete(req)).text)


class Phases:
    """Timed model calls and slow checks take turns, never overlapping.

    A case's recorded latency is its HTTP round trip, stamped on the event loop; anything
    CPU-heavy in the process meanwhile (an LLM-judged metric, a plugin's check in a worker
    thread, both contending for the GIL) would be counted in it. So a slow check starts only
    when no case call is in flight or queued, and a new case call waits for running checks to
    drain. Cheap built-in checks run inline and need no turn; judge calls are not timed.
    """

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self.calls = 0  # in flight or queued for a provider slot
        self.calls_waiting = 0
        self.checks = 0

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        async with self._cond:
            self.calls_waiting += 1
            await self._cond.wait_for(lambda: self.checks == 0)
            self.calls_waiting -= 1
            self.calls += 1
        try:
            yield
        finally:
            async with self._cond:
                self.calls -= 1
                self._cond.notify_all()

    @asynccontextmanager
    async def check(self) -> AsyncIterator[None]:
        async with self._cond:
            await self._cond.wait_for(lambda: self.calls == 0 and self.calls_waiting == 0)
            self.checks += 1
        try:
            yield
        finally:
            async with self._cond:
                self.checks -= 1
                self._cond.notify_all()


class Evaluator:
    def __init__(
        self,
        ws: Workspace,
        cache_mode: str | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        processes: int | None = None,
        part: tuple[int, int] | None = None,
    ) -> None:
        """``processes``: how many processes evaluate (None: decided by ``get_ready`` from
        the run's size, see ``promptrail.workers``); ``part``: (index, of how many) when this
        is a worker process's Evaluator, which then uses its share of each concurrency."""
        from promptrail.providers import ModelClient
        from promptrail.providers.cache import open_cache

        self.ws = ws
        cfg = ws.config
        self.cache_mode = cache_mode or cfg.cache.mode
        cache = None if self.cache_mode == "off" else open_cache(ws)
        self.client = ModelClient(cfg.providers, cache=cache, mode=self.cache_mode)
        self.client.part = part
        self.processes = processes
        self._workers: Any = None  # promptrail.workers.Workers, when the run is split
        self._turn = 0  # the process that takes the next split suite's first chunk
        self._checks: dict[tuple[Any, ...], dict[str, Any]] = {}  # see _shared
        self.judge = ProviderJudge(self.client, cfg.judge.provider, cfg.judge.name)
        self.progress = progress
        self._results: dict[tuple[str, str, str], SuiteRun] = {}
        self._pending: dict[tuple[str, str, str], threading.Event] = {}
        self._prepared: set[str] = set()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._phases: Phases | None = None  # made on the loop, on first use
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="promptrail-eval", daemon=True
        )
        self._thread.start()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def close(self) -> None:
        if self._workers is not None:
            self._workers.close()
            self._workers = None
        if self._loop.is_closed():
            return
        fut = asyncio.run_coroutine_threadsafe(self.client.aclose(), self._loop)
        try:
            fut.result(timeout=10)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_ready(self, prompts: list[Any], suites: dict[str, Any]) -> None:
        """Before any call, do every one-off set-up (SDK imports, clients, the price table,
        deepeval's import) for these prompts and their suites (``load_suite``'s, parsed
        once per workspace): done later, it would run while calls are timed."""
        if self.processes is None and self.client.part is None:
            # first: worker processes start up (imports, clients) while this one does too
            calls = sum(len(s.cases) * s.repeat for s in suites.values() if s is not None)
            self._split_across(calls)
        for resolved in prompts:
            suite = suites.get(resolved.name)
            if suite is not None:
                self._ready(resolved, suite)

    def _split_across(self, calls: int) -> None:
        """Start worker processes when the run is big enough to keep more than one core
        busy (``promptrail.workers``); this process then takes its share of the limits."""
        from promptrail.workers import Workers, planned_processes

        n = planned_processes(calls, self.cache_mode)
        self.processes = n
        if n <= 1 or self.ws.ref is not None or self.ws.config.cache.store:
            return  # a git-ref workspace or a store-backed cache stays in this process
        self._workers = Workers(str(self.ws.root), self.cache_mode, n)
        self.client.part = (0, n)

    def _ready(self, resolved: ResolvedPrompt, suite: Any) -> None:
        from promptrail.render import render_messages, validate_vars

        self.prepare(suite)
        self.client.warm(resolved.provider, resolved.model["name"])
        if suite.cases:  # loads and compiles what rendering a case needs (Jinja2, the schema)
            try:
                validate_vars(resolved, suite.cases[0].vars)
                render_messages(resolved, suite.cases[0].vars)
            except UsageError:
                pass  # that case will report it

    def prepare(self, suite: Any) -> None:
        """Run each assertion kind's one-off set-up (deepeval's import takes seconds) once,
        on the caller's thread."""
        for case in suite.cases:
            for a in case.assertions:
                if a.type not in self._prepared:
                    with self._lock:
                        if a.type in self._prepared:
                            continue
                        self._prepared.add(a.type)
                    a.prepare()

    def suite(self, name: str) -> Any:
        from promptrail.suites import load_suite

        return load_suite(self.ws, name)

    def forget(self, name: str) -> None:
        """Let go of this prompt's suite runs (its rows are written): a gate of many big
        prompts holds one prompt's results at a time, not all of them."""
        with self._lock:
            for key in [k for k in self._results if k[0] == name]:
                del self._results[key]

    def peek(self, resolved: ResolvedPrompt, role: str) -> SuiteRun | None:
        """The suite run already done for this content, if any (no new calls)."""
        return self._results.get((resolved.name, resolved.content_hash, role))

    def evaluate(
        self, resolved: ResolvedPrompt, role: str = "candidate", suite: Any = None
    ) -> SuiteRun:
        """The suite run for this prompt's content; concurrent callers for the same share one.
        Two prompts of the same content have their own suites, so the name is in the key."""
        key = (resolved.name, resolved.content_hash, role)
        with self._lock:
            if key in self._results:
                return self._results[key]
            waiter = self._pending.get(key)
            owner = waiter is None
            if owner:
                waiter = self._pending[key] = threading.Event()
        assert waiter is not None
        if not owner:
            waiter.wait()
            return self._results[key]
        try:
            suite = suite if suite is not None else self.suite(resolved.name)
            if suite is None:
                raise UsageError(
                    f"no suite for {resolved.name}", file=f"suites/{resolved.name}.yaml"
                )
            self._ready(resolved, suite)  # on the caller's thread, not the loop timing calls
            fut = asyncio.run_coroutine_threadsafe(self._run(resolved, role, suite), self._loop)
            result = fut.result()
            self._results[key] = result
            return result
        finally:
            waiter.set()
            with self._lock:
                self._pending.pop(key, None)

    async def _run(self, resolved: ResolvedPrompt, role: str, suite: Any) -> SuiteRun:
        started = time.perf_counter()
        jobs = range(len(suite.cases) * suite.repeat)  # job k: case k // repeat, repeat k % repeat
        done = 0
        label = f"{resolved.name}@{resolved.version}" + (
            "" if role == "candidate" else f" ({role})"
        )

        def tick() -> None:  # on this loop, for cases run here and in worker processes
            nonlocal done
            done += 1
            if self.progress is not None:
                self.progress(label, done, len(jobs))

        cases = case_log()
        workers = self._workers
        if workers is None or suite is not self.suite(resolved.name):  # workers load that one
            await self.run_jobs(resolved, suite, jobs, tick, cases)
        else:
            await self._run_split(workers, resolved, role, suite, jobs, tick, cases)
        return SuiteRun(
            resolved.name,
            resolved.version,
            resolved.content_hash,
            role,
            suite.threshold,
            suite.repeat,
            cases,
            time.perf_counter() - started,
            suite.max_errors,
        )

    async def _run_split(
        self,
        workers: Any,
        resolved: ResolvedPrompt,
        role: str,
        suite: Any,
        jobs: range,
        tick: Callable[[], None],
        out: Any,
    ) -> None:
        """The jobs in chunks that this process and each worker process pull as they free
        up (two chunks in hand each, so no slot idles between chunks): a worker still
        starting up simply takes fewer. Results are appended to ``out`` in job order, as
        soon as every chunk before theirs is back.

        A small suite (a team's forty prompts of forty cases each) is cut into one chunk per
        process at most, and its first chunk goes to the next process in turn: each process
        has only its share of the provider's concurrency, so a suite run whole in one
        process would leave the others' shares idle."""
        from collections import deque

        processes = workers.processes
        size = max(8, 4 * self.client.concurrency(resolved.provider))
        size = max(8, min(size, -(-len(jobs) // processes)))
        chunks = deque(enumerate(jobs[i : i + size] for i in range(0, len(jobs), size)))
        back: dict[int, list[CaseRun]] = {}  # chunks back before one ahead of them
        following = 0  # the chunk whose results go to ``out`` next

        async def lane(process: int) -> None:
            nonlocal following
            while chunks:
                index, chunk = chunks.popleft()
                if process == 0:
                    back[index] = await self.run_jobs(resolved, suite, chunk, tick)
                else:
                    back[index] = await workers.run(process, resolved, role, chunk, tick)
                while following in back:
                    out.extend(back.pop(following))
                    following += 1

        first = self._turn
        self._turn = (first + 1) % processes
        order = [(first + k) % processes for k in range(processes)]
        lanes = [asyncio.ensure_future(lane(k)) for _ in range(2) for k in order]
        try:
            await asyncio.gather(*lanes)
        except BaseException:  # a worker died: the other lanes stop calling too
            for t in lanes:
                t.cancel()
            raise

    async def run_jobs(
        self,
        resolved: ResolvedPrompt,
        suite: Any,
        jobs: range,
        on_case: Callable[[], None],
        out: Any = None,
    ) -> Any:
        """Run ``jobs`` of ``suite`` on this loop (job k is case k // repeat, repeat
        k % repeat); their results are appended to ``out`` (a new list when None) in job
        order as they are ready, and ``out`` is returned. A few runners per provider slot
        take the jobs in turn, so a case is
        rendered just before its call can go out: started all at once, thousands of cases
        would render (and hold a task each) while the first answers wait on the loop. A
        suite with slow checks (deepeval, plugins) starts every case at once as before: its
        checks wait for the calls to drain (``Phases``), and a few runners would take turns
        at that in small rounds, judging a few cases at a time."""
        if self._phases is None:
            self._phases = Phases()
        out = [] if out is None else out
        todo = iter(jobs)  # shared by the runners: each job is taken once, in order
        done: dict[int, CaseRun] = {}  # results ahead of one still running (a few at most)
        following = jobs[0] if jobs else 0  # the job whose result goes to ``out`` next
        repeat = suite.repeat

        async def runner() -> None:
            nonlocal following
            for k in todo:
                i, r = divmod(k, repeat)
                done[k] = await self._case(resolved, suite.cases[i], r)
                on_case()
                while following in done:
                    out.append(done.pop(following))
                    following += 1

        per_slot = RUNNERS_PER_SLOT * self.client.concurrency(resolved.provider)
        runners = len(jobs) if suite.slow_checks else min(len(jobs), per_slot)
        await asyncio.gather(*(runner() for _ in range(runners)))
        return out

    def _shared(self, result: Any, spec: Any) -> dict[str, Any]:
        """One check's result as recorded, one dict shared by every case with the same
        result of the same spec (most passing checks say the same thing: 50,000 cases held
        100,000 equal dicts). Results are read, never changed, after this."""
        entry = _assertion_dict(result)
        # types too: a score of True, 1 and 1.0 are equal keys but not the same record
        key = (*entry.values(), *map(type, entry.values()), id(spec))
        try:
            return self._checks[key]
        except TypeError:  # a result field that cannot be a key
            return {**entry, "spec": spec}
        except KeyError:
            entry["spec"] = spec
            if len(self._checks) < SHARED_RESULTS:
                self._checks[key] = entry  # the entry keeps its spec, so the id stays its own
            return entry

    async def _case(self, resolved: ResolvedPrompt, case: Any, repeat: int) -> CaseRun:
        from promptrail.assertions import AssertionContext, run_assertions
        from promptrail.providers import ModelRequest
        from promptrail.providers.calls import resolved_parts
        from promptrail.render import render_messages, validate_vars

        run = CaseRun(case.id, repeat, case.vars, "error", must_pass=case.must_pass)
        try:
            validate_vars(resolved, case.vars)
            messages = render_messages(resolved, case.vars)
        except UsageError as exc:
            run.error = f"case {case.id}: {exc.message}"
            return run
        provider, model_name, params = resolved_parts(resolved)
        request = ModelRequest(provider, model_name, tuple(messages), params, sample=repeat)
        assert self._phases is not None
        try:
            async with self._phases.call():
                resp = await self.client.complete(request)
        except OperationalError as exc:
            run.error = f"case {case.id}: {exc.message}"
            run.operational = True
            return run
        run.output, run.latency_ms = resp.text, resp.latency_ms
        run.input_tokens, run.output_tokens = resp.input_tokens, resp.output_tokens
        run.cached_tokens, run.cost_usd = resp.cached_tokens, resp.cost_usd
        run.price_source, run.cached, run.attempts = resp.price_source, resp.cached, resp.attempts
        run.tool_calls = resp.tool_calls or None
        if "output_schema" in params and resp.text:
            import json

            try:
                run.structured_output = json.loads(resp.text)
            except ValueError:
                run.structured_output = None  # the schema gate reports it
        user = [m["content"] for m in messages if m["role"] == "user"]
        ctx = AssertionContext(
            output=resp.text,
            vars=case.vars,
            input_text=user[-1] if user else "",
            output_schema=resolved.output_schema,
            tool_calls=resp.tool_calls or [],
            tools=resolved.tools or [],
            latency_ms=resp.latency_ms,
            cost_usd=resp.cost_usd,
            judge=self.judge,
        )
        try:
            if all(a.inline for a in case.assertions):
                results = await run_assertions(case.assertions, ctx)
            else:
                async with self._phases.check():
                    results = await run_assertions(case.assertions, ctx)
        except OperationalError as exc:  # the judge model was unreachable
            run.error = f"case {case.id}: judge: {exc.message}"
            run.operational = True
            return run
        # each result records the spec (from the suite) that produced it
        specs = list(getattr(case, "specs", None) or []) + [None] * len(results)
        run.assertions = [self._shared(a, spec) for a, spec in zip(results, specs, strict=False)]
        statuses = {a.status for a in results}
        run.status = (
            "error" if "error" in statuses else ("failed" if "failed" in statuses else "passed")
        )
        if run.status == "error":
            run.error = "; ".join(f"{a.type}: {a.reason}" for a in results if a.status == "error")
        return run


SHARED_RESULTS = 10_000  # distinct check results kept for sharing, per run


def _assertion_dict(a: Any) -> dict[str, Any]:
    return {
        "type": a.type,
        "status": a.status,
        "score": a.score,
        "threshold": a.threshold,
        "reason": a.reason,
    }
