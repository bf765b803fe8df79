"""Eval worker processes: a big run's cases split across CPU cores.

One event loop on one thread saturates long before the network does: the official SDKs
spend 1-2 ms of CPU on every call, and the GIL keeps a second loop thread from helping. So a
run with many live calls starts ``processes - 1`` worker processes (spawned, not forked: the
parent has threads). Each builds its own Workspace, ``Evaluator`` and SDK clients from the
same root; a suite run is cut into chunks of cases that each process pulls as it frees up
(``Evaluator._run_split``), and each process uses its share of every provider's
concurrency. The shares add up to the configured limit, so the provider sees no more calls
in flight than with one process.

The protocol is a duplex pipe per worker, messages pickled by ``multiprocessing``:

- parent → worker: ``("run", task, resolved, role, job_slice)`` and ``None`` to stop;
- worker → parent: ``("done", task, [CaseRun, ...])`` or ``("fail", task, (kind, message))``;
  the parent counts a slice's cases for the progress line when it comes back.

``PROMPTRAIL_EVAL_PROCESSES``: ``auto`` (default: half the usable cores, at most 4, for a
run of at least ``MIN_CALLS`` model calls not answered by replay), or a number (``1``:
everything in this process; ``2`` or more: always split, whatever the run's size). Half,
because the HTTP stack, the store and whatever else the machine runs need cores too: on a
2-core machine with the model server beside it (bench/eval_vs_promptfoo.py) a second
process bought no wall time and cost a fifth more CPU, so ``auto`` keeps one there.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from promptrail.errors import OperationalError, UsageError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from promptrail.resolve import ResolvedPrompt

MIN_CALLS = 400  # below this a worker's start-up (imports, clients) costs more than it saves
MAX_PROCESSES = 4


def planned_processes(calls: int, cache_mode: str) -> int:
    """How many processes should evaluate a run of ``calls`` model calls."""
    raw = os.environ.get("PROMPTRAIL_EVAL_PROCESSES", "auto").strip().lower()
    if raw != "auto":
        try:
            n = int(raw)
        except ValueError:
            raise UsageError(
                f"PROMPTRAIL_EVAL_PROCESSES is {raw!r}: use auto or a number of processes"
            ) from None
        return max(1, min(n, 16))
    if cache_mode == "replay" or calls < MIN_CALLS:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores // 2, MAX_PROCESSES))


def share(limit: int, index: int, parts: int) -> int:
    """Process ``index``'s part of a concurrency ``limit`` split ``parts`` ways (sums to it)."""
    return limit // parts + (1 if index < limit % parts else 0)


class Workers:
    """The parent's side: the worker processes and the tasks in flight on them."""

    def __init__(self, root: str, cache_mode: str, processes: int) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.processes = processes
        self._lock = threading.Lock()
        self._next = 0
        # task -> (the caller's loop, its future, its per-case callback, the worker index)
        self._tasks: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Any, int]] = {}
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._send_locks: list[threading.Lock] = []
        for index in range(1, processes):
            mine, theirs = ctx.Pipe(duplex=True)
            proc = ctx.Process(
                target=serve,
                args=(theirs, root, cache_mode, index, processes),
                name=f"promptrail-eval-{index}",
                daemon=True,
            )
            proc.start()
            theirs.close()
            self._conns.append(mine)
            self._procs.append(proc)
            self._send_locks.append(threading.Lock())
            threading.Thread(
                target=self._read,
                args=(mine, proc),
                name=f"promptrail-eval-{index}-reader",
                daemon=True,
            ).start()

    def run(
        self,
        worker: int,
        resolved: ResolvedPrompt,
        role: str,
        jobs: range,
        on_case: Callable[[], None],
    ) -> asyncio.Future[Any]:
        """Run ``jobs`` (job k: case k // repeat of the prompt's suite, repeat k % repeat;
        see ``Evaluator.run_jobs``) on worker process
        ``worker`` (1-based); a future of the loop calling this, resolved with the CaseRuns
        (``on_case`` is called for each, on that loop, when they come back)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            task = self._next = self._next + 1
            self._tasks[task] = (loop, fut, on_case, worker - 1)
        try:
            with self._send_locks[worker - 1]:
                self._conns[worker - 1].send(("run", task, resolved, role, jobs))
        except (OSError, EOFError):
            self._forget(task)
            fut.set_exception(self._died(worker - 1))
        return fut

    def _forget(self, task: int) -> Any:
        with self._lock:
            return self._tasks.pop(task, None)

    def _died(self, index: int) -> OperationalError:
        code = self._procs[index].exitcode
        return OperationalError(
            f"eval worker process {index + 1} stopped"
            + (f" (exit code {code})" if code is not None else "")
            + "; run again, or set PROMPTRAIL_EVAL_PROCESSES=1 to evaluate in one process",
            kind="eval-worker",
        )

    def _read(self, conn: Connection, proc: Any) -> None:
        index = self._conns.index(conn)
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            kind, task = msg[0], msg[1]
            entry = self._forget(task)
            if entry is None:
                continue
            loop, fut, on_case, _ = entry
            if kind == "done":
                loop.call_soon_threadsafe(_settle, fut, msg[2], None, on_case)
            else:
                kind, message = msg[2]
                error = UsageError(message) if kind == "usage" else OperationalError(message)
                loop.call_soon_threadsafe(_settle, fut, None, error)
        # the worker is gone: every task still waiting on it fails
        proc.join(timeout=5)
        with self._lock:
            waiting = [t for t, entry in self._tasks.items() if entry[3] == index]
            entries = [self._tasks.pop(t) for t in waiting]
        for loop, fut, _, _ in entries:
            loop.call_soon_threadsafe(_settle, fut, None, self._died(index))

    def close(self) -> None:
        for conn, lock in zip(self._conns, self._send_locks, strict=True):
            try:
                with lock:
                    conn.send(None)
            except (OSError, EOFError):
                pass
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for conn in self._conns:
            conn.close()


def _settle(
    fut: asyncio.Future[Any],
    value: Any,
    error: Exception | None,
    on_case: Callable[[], None] | None = None,
) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
        return
    if on_case is not None:
        for _ in value:
            on_case()
    fut.set_result(value)


# -- the worker's side ---------------------------------------------------------------------
def serve(conn: Connection, root: str, cache_mode: str, index: int, processes: int) -> None:
    """A worker process: its own Evaluator (one loop, one client per provider, this
    process's share of each provider's concurrency) running slices the parent sends."""
    from promptrail.evaluate import Evaluator
    from promptrail.workspace import Workspace

    send_lock = threading.Lock()

    def send(msg: Any) -> None:
        with send_lock, suppress(OSError, EOFError):  # the parent gone: recv() sees it
            conn.send(msg)

    try:
        ws = Workspace(root)
        evaluator = Evaluator(ws, cache_mode, processes=1, part=(index, processes))
    except Exception as exc:  # noqa: BLE001 - reported to the parent for every task
        _refuse_all(conn, send, exc)
        return
    ready: set[str] = set()
    try:
        _serve(conn, evaluator, send, ready)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent reports it
        pass
    finally:
        evaluator.close()
        conn.close()


def _serve(conn: Connection, evaluator: Any, send: Callable[[Any], None], ready: set[str]) -> None:
    """Take slices from the parent until it says stop (or goes away); answer each one."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg is None:
            break
        _, task, resolved, role, jobs = msg

        def finished(fut: Any, task: int = task) -> None:
            try:
                send(("done", task, fut.result()))
            except Exception as exc:  # noqa: BLE001 - the parent reports it
                send(("fail", task, _failure(exc)))

        try:
            suite = evaluator.suite(resolved.name)
            if resolved.content_hash not in ready:  # imports, client, Jinja2: once
                evaluator.get_ready([resolved], {resolved.name: suite})
                ready.add(resolved.content_hash)
            fut = asyncio.run_coroutine_threadsafe(
                evaluator.run_jobs(resolved, suite, jobs, _nothing), evaluator.loop
            )
            fut.add_done_callback(finished)
        except Exception as exc:  # noqa: BLE001 - the parent reports it
            send(("fail", task, _failure(exc)))


def _nothing() -> None:
    pass


def _failure(exc: Exception) -> tuple[str, str]:
    """An exception as it crosses the pipe: ("usage" or "operational", its message)."""
    if isinstance(exc, UsageError):
        return "usage", exc.message
    if isinstance(exc, OperationalError):
        return "operational", exc.message
    return "operational", f"{type(exc).__name__}: {exc}"


def _refuse_all(conn: Connection, send: Callable[[Any], None], exc: Exception) -> None:
    failure = _failure(exc)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        send(("fail", msg[1], failure))
