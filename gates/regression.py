"""The regression gate: the candidate against the version live in the target environment.

Both run the same cases. The gate fails when the candidate's pass rate is under the suite's
threshold, when the pass rate or a metric's mean falls by more than ``max_drop`` from the
baseline's, or when a ``must_pass`` case fails. With ``repeat > 1`` a fall only counts when a
paired bootstrap over cases says it is real (its 95% interval lies above zero), so that one
flaky sample does not flip the gate.
"""

from __future__ import annotations

import random
from typing import Any

from gates._eval import candidate_or_verdict, operational
from promptrail.gating import Gate, GateContext, GateResult

BOOTSTRAP_SAMPLES = 2000


def per_case_rates(run: Any) -> dict[str, float]:
    totals: dict[str, list[int]] = {}
    for c in run.cases:
        totals.setdefault(c.case_id, []).append(1 if c.passed else 0)
    return {k: sum(v) / len(v) for k, v in totals.items()}


def bootstrap_drop(
    base: dict[str, float], cand: dict[str, float], seed: int = 0
) -> tuple[float, float, float]:
    """Mean paired drop (baseline - candidate) over shared cases and its 95% interval."""
    ids = sorted(set(base) & set(cand))
    if not ids:
        return 0.0, 0.0, 0.0
    diffs = [base[i] - cand[i] for i in ids]
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(
        sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(BOOTSTRAP_SAMPLES)
    )
    return (
        sum(diffs) / n,
        means[int(0.025 * BOOTSTRAP_SAMPLES)],
        means[int(0.975 * BOOTSTRAP_SAMPLES) - 1],
    )


class RegressionGate(Gate):
    name = "regression"
    needs_eval = True

    def run(self, ctx: GateContext) -> GateResult:
        cand, verdict = candidate_or_verdict(ctx, self.name)
        if verdict is not None:
            return verdict
        max_drop = float(ctx.settings.get("max_drop", 0.05))
        problems: list[str] = []
        details: dict[str, Any] = {"pass_rate": cand.pass_rate, "max_drop": max_drop}
        if cand.pass_rate < cand.threshold:
            problems.append(
                f"pass rate {cand.pass_rate:.1%} is under the suite threshold {cand.threshold:.0%}"
            )
        must = sorted({c.case_id for c in cand.cases if c.must_pass and not c.passed})
        if must:
            problems.append(f"must_pass cases failed: {', '.join(must)}")
        failing = [
            {
                "case": c.case_id,
                "repeat": c.repeat,
                "output": c.output,
                "error": c.error,
                "failed": [a for a in c.assertions if a["status"] != "passed"],
            }
            for c in cand.cases
            if not c.passed
        ]
        details["failing_cases"] = failing[:50]

        base = ctx.baseline_eval()
        if base is None:
            note = f"no version live in {ctx.env}; compared with the suite threshold only"
        elif base.content_hash == ctx.resolved.content_hash:
            note = f"same content as live in {ctx.env}"
        else:
            verdict = operational(base, self.name)
            if verdict is not None:
                return verdict
            details["baseline"] = {
                "version": base.version,
                "content_hash": base.content_hash,
                "pass_rate": base.pass_rate,
            }
            drop = base.pass_rate - cand.pass_rate
            significant = True
            if cand.repeat > 1:
                mean, low, high = bootstrap_drop(per_case_rates(base), per_case_rates(cand))
                significant = low > 0
                details["bootstrap"] = {"mean_drop": mean, "ci95": [low, high]}
            if drop > max_drop and significant:
                problems.append(
                    f"pass rate fell {drop:.1%} ({base.pass_rate:.1%} -> "
                    f"{cand.pass_rate:.1%}) against {base.version} live in "
                    f"{ctx.env}; allowed {max_drop:.1%}"
                )
            elif drop > max_drop:
                details["not_significant"] = True
            cand_means, base_means = cand.metric_means(), base.metric_means()
            details["metrics"] = {
                k: {"candidate": cand_means.get(k), "baseline": v} for k, v in base_means.items()
            }
            for metric, bval in sorted(base_means.items()):
                cval = cand_means.get(metric)
                if cval is not None and bval - cval > max_drop:
                    problems.append(
                        f"{metric} mean fell {bval - cval:.2f} ({bval:.2f} -> "
                        f"{cval:.2f}); allowed {max_drop:.2f}"
                    )
            note = (
                f"{base.pass_rate:.1%} -> {cand.pass_rate:.1%} against {base.version} "
                f"live in {ctx.env}"
            )
            if details.get("not_significant"):
                note += " (the fall is within noise: not significant)"
        passed = sum(c.passed for c in cand.cases)
        summary = f"{passed}/{cand.total} cases passed; {note}"
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
