"""The regression gate: the candidate against the version live in the target environment.

Both run the same cases. The gate fails when the candidate's pass rate is under the suite's
threshold, when a ``must_pass`` case fails, or when quality falls by more than ``max_drop``
from the baseline's: the pass rate and every metric whose direction is ``higher`` (see
``promptrail.regression``). Latency and cost are budgets, never quality: a faster, cheaper
candidate cannot fail here; ``max_latency_increase`` optionally limits a slowdown. Cases that
errored (more than the suite's ``max_errors``) make the gate ``error``, never a pass or a fail.
"""

from __future__ import annotations

from typing import Any

from gates._eval import candidate_or_verdict, errored, operational
from promptrail.gating import Gate, GateContext, GateResult
from promptrail.regression import compare, observe


class RegressionGate(Gate):
    name = "regression"
    needs_eval = True

    def run(self, ctx: GateContext) -> GateResult:
        cand, verdict = candidate_or_verdict(ctx, self.name)
        if verdict is None and cand is not None:
            verdict = errored(cand, self.name)
        if verdict is not None:
            return verdict
        max_drop = float(ctx.settings.get("max_drop", 0.05))
        latency_budget = ctx.settings.get("max_latency_increase")
        problems: list[str] = []
        details: dict[str, Any] = {"pass_rate": cand.pass_rate, "max_drop": max_drop}
        if cand.errors:
            details["errored_cases"] = len(cand.errors)
        if cand.pass_rate < cand.threshold:
            problems.append(
                f"pass rate {cand.pass_rate:.1%} is under the suite threshold {cand.threshold:.0%}"
            )
        must_fail: set[str] = set()
        failing: list[dict[str, Any]] = []  # the first 50
        for c in cand.cases:  # one pass: a big suite's cases are read back from disk
            if c.status == "failed" and c.must_pass:
                must_fail.add(c.case_id)
            if c.status != "passed" and len(failing) < 50:
                failing.append(
                    {
                        "case": c.case_id,
                        "repeat": c.repeat,
                        "output": c.output,
                        "error": c.error,
                        "failed": [a for a in c.assertions if a["status"] != "passed"],
                    }
                )
        if must_fail:
            problems.append(f"must_pass cases failed: {', '.join(sorted(must_fail))}")
        details["failing_cases"] = failing

        base = ctx.baseline_eval()
        if base is None:
            note = f"no version live in {ctx.env}; compared with the suite threshold only"
        elif base.content_hash == ctx.resolved.content_hash:
            note = f"same content as live in {ctx.env}"
        else:
            verdict = operational(base, self.name)
            if verdict is not None:
                return verdict
            against = f"{base.version} live in {ctx.env}"
            result = compare(
                observe(base.cases),
                observe(cand.cases),
                max_drop,
                cand.repeat,
                float(latency_budget) if latency_budget is not None else None,
                against,
            )
            problems += result.problems
            details.update(result.details)
            details["baseline"] = {
                "version": base.version,
                "content_hash": base.content_hash,
                "pass_rate": base.pass_rate,
            }
            note = f"{base.pass_rate:.1%} -> {cand.pass_rate:.1%} against {against}"
            if result.not_significant:
                details["not_significant"] = True
                note += " (the fall is within noise: not significant)"
        passed, judged = cand.passed, cand.total - len(cand.errors)
        summary = f"{passed}/{judged} cases passed; {note}"
        if cand.errors:
            summary += f"; {len(cand.errors)} errored (tolerated: max_errors {cand.max_errors})"
        if problems:
            summary = "; ".join(problems) + f" [{summary}]"
        return GateResult(
            self.name,
            "failed" if problems else "passed",
            cand.pass_rate,
            cand.threshold,
            summary,
            details,
        )
