"""The store as pandas DataFrames, for analysts and notebooks.

    from promptrail.analytics import Analytics
    a = Analytics(".promptrail/promptrail.duckdb")
    a.pass_rate_by_version("support-reply")
    a.frame("SELECT * FROM runs WHERE status = 'failed'")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptrail.store import Store


class Analytics:
    def __init__(self, db: str | Path | Store) -> None:
        self.store = db if isinstance(db, Store) else Store(db)

    def frame(self, sql: str, params: list[Any] | None = None) -> Any:
        import pandas as pd

        cols, rows = self.store.query(sql, params)
        return pd.DataFrame.from_records(rows, columns=cols)

    def pass_rate_by_version(self, prompt: str | None = None) -> Any:
        return self.frame(
            "SELECT prompt, version, date_trunc('day', started_at) AS day, count(*) AS cases, "
            "avg(pass_rate) AS pass_rate FROM pass_rates "
            + ("WHERE prompt = ? " if prompt else "") + "GROUP BY ALL ORDER BY prompt, day",
            [prompt] if prompt else None)

    def cost_trend(self, prompt: str | None = None) -> Any:
        return self.frame(
            "SELECT c.prompt, c.version, date_trunc('day', r.started_at) AS day, "
            "avg(c.cost_usd) * 1000 AS usd_per_1k_calls, avg(c.input_tokens + c.output_tokens) "
            "AS tokens_per_call FROM case_results c JOIN runs r USING (run_id) "
            "WHERE c.role = 'candidate' " + ("AND c.prompt = ? " if prompt else "")
            + "GROUP BY ALL ORDER BY day", [prompt] if prompt else None)

    def slowest_cases(self, limit: int = 20) -> Any:
        return self.frame("SELECT prompt, version, case_id, latency_ms, run_id FROM "
                          "case_results WHERE NOT cached ORDER BY latency_ms DESC LIMIT ?",
                          [limit])

    def failing_cases(self, run_id: str) -> Any:
        return self.frame("SELECT prompt, case_id, repeat, error, output, assertions FROM "
                          "case_results WHERE run_id = ? AND NOT passed ORDER BY prompt, case_id",
                          [run_id])

    def compare_runs(self, run_a: str, run_b: str) -> Any:
        return self.frame(
            "SELECT coalesce(a.prompt, b.prompt) AS prompt, coalesce(a.case_id, b.case_id) "
            "AS case_id, a.passed AS passed_a, b.passed AS passed_b FROM "
            "(SELECT * FROM case_results WHERE run_id = ? AND repeat = 0) a FULL JOIN "
            "(SELECT * FROM case_results WHERE run_id = ? AND repeat = 0) b "
            "ON a.prompt = b.prompt AND a.case_id = b.case_id AND a.role = b.role "
            "WHERE a.passed IS DISTINCT FROM b.passed ORDER BY 1, 2", [run_a, run_b])
