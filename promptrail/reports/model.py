"""What every report format shows, gathered from the store: the run, each prompt's gates
beside the baseline's scores, the bump the change calls for, cost old -> new, failing cases,
and each prompt's history for the plots.

Per prompt: ``case_counts``, ``all_cases`` (every case, in full only when it did not pass) and
``failing`` (those), both views on the store read as they are iterated (``CaseRows``: a big
run's rows are never all in memory), and
``cases`` (up to ``SHOWN_CASES`` in full, failing first), so a report of a 100,000-case suite
stays small and quick."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from promptrail.errors import UsageError

if TYPE_CHECKING:
    from promptrail.store import Store


SHOWN_CASES = 500  # per prompt, in full in the HTML report (failing first); JUnit lists all


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def build(
    store: Store, run_id: str, root: Path | None = None, result: dict[str, Any] | None = None
) -> dict[str, Any]:
    if run_id == "latest":
        runs = store.query_dicts(
            "SELECT * FROM runs WHERE kind = 'gate' ORDER BY started_at DESC LIMIT 1"
        )
        if not runs:
            raise UsageError("no gate run in the store yet: run `promptrail gate` first")
        run_id = runs[0]["run_id"]
    else:
        runs = store.query_dicts("SELECT * FROM runs WHERE run_id = ?", [run_id])
    if not runs:
        raise UsageError(f"no run {run_id!r} in the store")
    run = runs[0]
    gate_rows = store.query_dicts(
        "SELECT * FROM gate_results WHERE run_id = ? ORDER BY prompt, started_at", [run_id]
    )
    # Per prompt: counts from one query, every case and the failing ones as views on the
    # store (``CaseRows``, read a batch at a time when iterated), and the cases the HTML
    # report shows in full: up to SHOWN_CASES, failing first. A 100,000-case run's rows
    # are never all in memory here.
    counts = {
        r.pop("prompt"): r
        for r in store.query_dicts(
            "SELECT prompt, count(*) AS cases, "
            "count(*) FILTER (WHERE passed IS NOT TRUE) AS failing, "
            f"count(*) FILTER (WHERE passed IS NOT TRUE AND NOT ({_ERRORED})) AS failed, "
            f"count(*) FILTER (WHERE {_ERRORED}) AS errored, "
            "coalesce(sum(latency_ms), 0) AS latency_ms "
            f"{_WHERE} GROUP BY prompt",
            [run_id],
        )
    }
    rank = "row_number() OVER (PARTITION BY prompt ORDER BY passed, case_id, repeat) AS n"
    if store.dialect == "duckdb":
        # DuckDB sorts in this process: rank the key columns alone and join the full rows
        # (ranking full rows held a 50,000-case run's outputs, 40 MB, for the sort)
        full = ", ".join(f"c.{col.strip()}" for col in _FULL.split(","))
        shown = store.query_dicts(
            f"SELECT {full} FROM case_results c JOIN (SELECT prompt, case_id, repeat, {rank} "
            f"{_WHERE}) t ON c.prompt = t.prompt AND c.case_id = t.case_id AND "
            "c.repeat = t.repeat WHERE c.run_id = ? AND c.role = 'candidate' AND t.n <= ? "
            "ORDER BY c.prompt, t.n",
            [run_id, run_id, SHOWN_CASES],
        )
    else:  # the server sorts; and its statistics of rows just written may not know their
        # number yet, which made it plan the join as a nested loop (7 s at 100,000 cases)
        shown = store.query_dicts(
            f"SELECT * FROM (SELECT {_FULL}, {rank} {_WHERE}) t WHERE n <= ? ORDER BY prompt, n",
            [run_id, SHOWN_CASES],
        )
    for c in shown:
        _decode(c)
    run_rows = RunRows(store, run_id, sum(int(n["cases"]) for n in counts.values()))
    by_prompt: dict[str, dict[str, Any]] = {}
    for g in gate_rows:
        p = by_prompt.setdefault(
            g["prompt"],
            {
                "name": g["prompt"],
                "version": g["version"],
                "content_hash": g["content_hash"],
                "gates": [],
                "lint_findings": [],
                "baseline": None,
                "cost_1k": None,
                "baseline_cost_1k": None,
            },
        )
        details = _json(g["details"]) or {}
        gate = {
            "gate": g["gate"],
            "status": g["status"],
            "score": g["score"],
            "threshold": g["threshold"],
            "summary": g["summary"],
            "baseline_score": None,
        }
        if g["gate"] == "regression" and details.get("baseline"):
            p["baseline"] = details["baseline"]
            gate["baseline_score"] = details["baseline"].get("pass_rate")
        if g["gate"] == "cost":
            p["cost_1k"] = details.get("usd_per_1k_calls")
            base = details.get("baseline") or {}
            p["baseline_cost_1k"] = base.get("usd_per_1k_calls")
            gate["baseline_score"] = base.get("usd_per_1k_calls")
        if g["gate"] == "lint":
            p["lint_findings"] = details.get("findings", [])
        if gate["score"] is not None and gate["baseline_score"] is not None:
            gate["delta"] = gate["score"] - gate["baseline_score"]
        p["gates"].append(gate)
    prompts = []
    history = _history(store, list(by_prompt))
    for name, p in by_prompt.items():
        statuses = [g["status"] for g in p["gates"]]
        p["status"] = (
            "error" if "error" in statuses else ("failed" if "failed" in statuses else "passed")
        )
        n = counts.get(name) or dict.fromkeys(_COUNTS, 0)  # a prompt without cases (lint)
        p["case_counts"] = n
        p["all_cases"] = CaseRows(run_rows, name, int(n["cases"]))
        p["failing"] = CaseRows(run_rows, name, int(n["failing"]), failing=True)
        p["cases"] = [c for c in shown if c["prompt"] == name]  # at most SHOWN_CASES
        p.update(_change(store, name, p))
        p["history"] = history.get(name, [])
        prompts.append(p)
    summary = result or {
        "run_id": run_id,
        "status": run["status"],
        "env": run["env"],
        "mode": run["mode"],
        "cache_mode": run["cache_mode"],
        "prompts": [
            {k: p[k] for k in ("name", "version", "content_hash", "status")}
            | {
                "gates": [
                    {k: g[k] for k in ("gate", "status", "score", "threshold", "summary")}
                    for g in p["gates"]
                ]
            }
            for p in prompts
        ],
    }
    return {
        "run": summary,
        "run_row": run,
        "prompts": prompts,
        "root": str(root) if root else None,
    }


_WHERE = "FROM case_results WHERE run_id = ? AND role = 'candidate'"
_COUNTS = ("cases", "failing", "failed", "errored", "latency_ms")  # case_counts' keys
_ERRORED = "coalesce(error, '') <> ''"
_FULL = (
    "prompt, version, case_id, repeat, passed, error, latency_ms, cost_usd, "
    "vars, output, assertions, tool_calls"
)
# a case row as CaseRows reads it: in full only when the case did not pass (its reasons)
_ROW = "prompt, version, case_id, repeat, passed, error, latency_ms, cost_usd, " + ", ".join(
    f"CASE WHEN passed IS NOT TRUE THEN {c} END AS {c}"
    for c in ("vars", "output", "assertions", "tool_calls")
)


def _decode(c: dict[str, Any]) -> dict[str, Any]:
    if c["vars"] is None and c["assertions"] is None and c["tool_calls"] is None:
        c["assertions"], c["vars"], c["tool_calls"], c["calls_text"] = [], {}, [], ""
        return c  # a passing case as RunRows reads it (most of a run's rows)
    c["assertions"], c["vars"] = _json(c["assertions"]) or [], _json(c["vars"]) or {}
    c["tool_calls"] = _json(c["tool_calls"]) or []
    c["calls_text"] = "; ".join(
        f"{t.get('name')}({json.dumps(t.get('arguments'), ensure_ascii=False)})"
        for t in c["tool_calls"]
    )
    return c


class RunRows:
    """A run's candidate case rows as the report reads them, in case order per prompt: read
    from the store a batch at a time, each batch redacted as it is read (the report's
    redaction walk cannot see them). A case that did not pass comes in full; one that passed
    without its vars, output, checks and calls. A run of up to ``HELD`` cases is read in
    one query the first time and kept (a team's gate: one query, not one per prompt)."""

    HELD = 20_000
    BATCH = 1_000

    def __init__(self, store: Store, run_id: str, total: int) -> None:
        self._store, self._run_id, self._total = store, run_id, total
        self._held: dict[str, list[dict[str, Any]]] | None = None

    def rows(self, prompt: str, failing: bool) -> Iterator[dict[str, Any]]:
        if self._total <= self.HELD:
            if self._held is None:
                held: dict[str, list[dict[str, Any]]] = {}
                for r in self._read("", [self._run_id], "prompt, "):
                    held.setdefault(r["prompt"], []).append(r)
                self._held = held
            rows = self._held.get(prompt, [])
            return (r for r in rows if not r["passed"]) if failing else iter(rows)
        only = " AND passed IS NOT TRUE" if failing else ""
        return self._read(f" AND prompt = ?{only}", [self._run_id, prompt])

    def _read(self, where: str, params: list[Any], order: str = "") -> Iterator[dict[str, Any]]:
        from promptrail.secrets import might_change, redact, secret_values

        values = secret_values()
        rows = self._store.stream(
            f"SELECT {_ROW} {_WHERE}{where} ORDER BY {order}case_id, repeat", params
        )
        while batch := [_decode(r) for r in islice(rows, self.BATCH)]:
            yield from redact(batch, values) if might_change(batch, values) else batch


class CaseRows(Sequence[dict[str, Any]]):
    """One prompt's case rows of a run (all, or the failing ones), as a sequence the report
    formats read: ``len`` is counted, the rows come from ``RunRows`` each time they are
    iterated (JUnit lists every case; templates take the length, a slice or a loop)."""

    def __init__(self, run: RunRows, prompt: str, count: int, failing: bool = False) -> None:
        self._run, self._prompt, self._count, self._failing = run, prompt, count, failing

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._run.rows(self._prompt, self._failing) if self._count else iter(())

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step < 0:
                return list(self)[index]
            return list(islice(self, start, max(start, stop), step))
        i = index + self._count if index < 0 else index
        if not 0 <= i < self._count:
            raise IndexError("case index out of range")
        return next(islice(self, i, None))

    def __repr__(self) -> str:
        return f"<{self._count} case rows of {self._prompt}>"


def _change(store: Store, name: str, p: dict[str, Any]) -> dict[str, Any]:
    """The interface diff against the baseline: bump called for, bump made, rendered diff."""
    from promptrail import semver
    from promptrail.diff import compare

    base = p.get("baseline")
    if not base:
        return {
            "bump": None,
            "version_bump": None,
            "bump_ok": None,
            "rendered_diff": "",
            "from_version": None,
        }
    from promptrail.snapshots import from_store

    old = from_store(store, name, content_hash=base["content_hash"])
    new = from_store(store, name, content_hash=p["content_hash"])
    if old is None or new is None:
        return {
            "bump": None,
            "version_bump": None,
            "bump_ok": None,
            "rendered_diff": "",
            "from_version": base.get("version"),
        }
    diff = compare(old, new)
    made = semver.bump_between(old.version, new.version)
    return {
        "bump": diff["bump"],
        "version_bump": made,
        "from_version": old.version,
        "bump_ok": semver.BUMPS.index(made) >= semver.BUMPS.index(diff["bump"]),
        "rendered_diff": diff["rendered_diff"],
        "changes": diff["changes"],
    }


def _history(store: Store, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per prompt, pass rate and cost per version across gate runs, oldest first, for the
    plots: one query for every prompt of the run."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not names:
        return out
    rows = store.query_dicts(
        "SELECT prompt, version, min(started_at) AS first_run, avg(pass_rate) AS pass_rate, "
        "avg(usd_per_call) * 1000 AS usd_per_1k FROM pass_rates WHERE prompt IN ("
        + ", ".join("?" for _ in names)
        + ") GROUP BY prompt, version ORDER BY prompt, first_run",
        names,
    )
    for row in rows:
        out.setdefault(row.pop("prompt"), []).append(row)
    return out
