"""The store as pandas DataFrames, for analysts and notebooks.

    from promptrail import analytics
    analytics.pass_rate_by_version("support-reply")            # the workspace's store
    analytics.frame("SELECT * FROM runs WHERE status = 'failed'", db="ci.duckdb")

``db`` is a path, a ``postgresql://`` URL or a ``Store``; without one, ``PROMPTRAIL_DB`` or
the ``store:`` of the ``promptrail.yaml`` in the current directory (default
``.promptrail/promptrail.duckdb``). The SQL runs where the store is (DuckDB, or PostgreSQL for
a team store: the helpers' queries are written to run on both); pandas is imported only
here, and only when a frame is built.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from promptrail.store import Store

DEFAULT_STORE = ".promptrail/promptrail.duckdb"


def _store(db: str | Path | Store | None) -> Store:
    if isinstance(db, Store):
        return db
    if db is not None:
        store: Store = Store(db, read_only=True)
        return store
    if os.environ.get("PROMPTRAIL_DB"):
        store = Store(os.environ["PROMPTRAIL_DB"], read_only=True)
        return store
    if Path("promptrail.yaml").is_file():
        from promptrail.workspace import Workspace

        return Workspace(".").store(read_only=True)  # type: ignore[no-any-return]
    store = Store(DEFAULT_STORE, read_only=True)
    return store


def frame(sql: str, params: list[Any] | None = None, db: str | Path | Store | None = None) -> Any:
    """The result of one read query as a pandas DataFrame (timestamps in UTC)."""
    from promptrail.extras import require

    require("pandas", "analytics")  # DuckDB's .df() needs it: fail here with the install hint

    store = _store(db)
    if store.dialect != "duckdb":
        return store.arrow(sql, params).to_pandas()
    with store.connection() as con:
        from promptrail.store.db import check_read_only

        check_read_only(con, sql)
        with warnings.catch_warnings():  # DuckDB 2.0's df() uses pandas' deprecated inplace=
            warnings.filterwarnings("ignore", message=".*inplace keyword.*")
            return con.sql(sql, params=params or None).df()


def _where(prompt: str | None, column: str = "prompt") -> tuple[str, list[Any]]:
    return (f"AND {column} = ? ", [prompt]) if prompt else ("", [])


def pass_rate_by_version(prompt: str | None = None, db: str | Path | Store | None = None) -> Any:
    """Candidate pass rate per prompt, version and day, over finished gate runs."""
    where, params = _where(prompt)
    return frame(
        "SELECT prompt, version, date_trunc('day', started_at) AS day, "
        "sum(cases) AS cases, sum(pass_rate * cases) / sum(cases) AS pass_rate "
        f"FROM pass_rates WHERE true {where}"
        "GROUP BY 1, 2, 3 ORDER BY prompt, day, version",
        params,
        db,
    )


def cost_trend(prompt: str | None = None, db: str | Path | Store | None = None) -> Any:
    """Cost per 1,000 calls and tokens per call, per prompt, version and day."""
    where, params = _where(prompt, "c.prompt")
    return frame(
        "SELECT c.prompt, c.version, date_trunc('day', r.started_at) AS day, "
        "avg(c.cost_usd) * 1000 AS usd_per_1k_calls, "
        "avg(c.input_tokens + c.output_tokens) AS tokens_per_call, count(*) AS calls "
        "FROM case_results c JOIN runs r USING (run_id) "
        f"WHERE c.role = 'candidate' {where}"
        "GROUP BY 1, 2, 3 ORDER BY c.prompt, day, c.version",
        params,
        db,
    )


def slowest_cases(limit: int = 20, db: str | Path | Store | None = None) -> Any:
    """The slowest calls that reached a model (cache hits left out)."""
    return frame(
        "SELECT prompt, version, case_id, repeat, latency_ms, run_id "
        "FROM case_results WHERE NOT coalesce(cached, false) AND latency_ms IS NOT NULL "
        "ORDER BY latency_ms DESC LIMIT ?",
        [limit],
        db,
    )


def failing_cases(run_id: str, db: str | Path | Store | None = None) -> Any:
    """Every failed or errored case of one run, with its error and assertions."""
    return frame(
        "SELECT prompt, version, role, case_id, repeat, error, output, assertions "
        "FROM case_results WHERE run_id = ? AND NOT coalesce(passed, false) "
        "ORDER BY prompt, role, case_id, repeat",
        [run_id],
        db,
    )


def compare_runs(run_a: str, run_b: str, db: str | Path | Store | None = None) -> Any:
    """Cases whose pass rate (over repeats) differs between two runs, or that only one ran."""
    return frame(
        "WITH r AS (SELECT run_id, prompt, role, case_id, "
        "           avg(CASE WHEN passed THEN 1.0 ELSE 0.0 END) AS pass_rate "
        "           FROM case_results WHERE run_id IN (?, ?) GROUP BY 1, 2, 3, 4) "
        "SELECT coalesce(a.prompt, b.prompt) AS prompt, coalesce(a.role, b.role) AS role, "
        "       coalesce(a.case_id, b.case_id) AS case_id, a.pass_rate AS pass_rate_a, "
        "       b.pass_rate AS pass_rate_b "
        "FROM (SELECT * FROM r WHERE run_id = ?) a FULL JOIN (SELECT * FROM r WHERE run_id = ?) b "
        "  ON a.prompt = b.prompt AND a.role = b.role AND a.case_id = b.case_id "
        "WHERE a.pass_rate IS DISTINCT FROM b.pass_rate ORDER BY 1, 2, 3",
        [run_a, run_b, run_a, run_b],
        db,
    )


class Analytics:
    """The same helpers bound to one store: ``Analytics(path).pass_rate_by_version()``."""

    def __init__(self, db: str | Path | Store | None = None) -> None:
        self.store = _store(db)

    def frame(self, sql: str, params: list[Any] | None = None) -> Any:
        return frame(sql, params, self.store)

    def pass_rate_by_version(self, prompt: str | None = None) -> Any:
        return pass_rate_by_version(prompt, self.store)

    def cost_trend(self, prompt: str | None = None) -> Any:
        return cost_trend(prompt, self.store)

    def slowest_cases(self, limit: int = 20) -> Any:
        return slowest_cases(limit, self.store)

    def failing_cases(self, run_id: str) -> Any:
        return failing_cases(run_id, self.store)

    def compare_runs(self, run_a: str, run_b: str) -> Any:
        return compare_runs(run_a, run_b, self.store)
