"""Is the candidate worse than the baseline? The comparison the regression gate and the drift
sweep share.

Only *quality* is compared with ``max_drop``: the pass rate and every metric whose direction
is ``higher`` (deepeval scores, pass/fail scores of the deterministic assertions). Latency and
cost are budgets (direction ``lower``): their own assertions judge them per case, the cost gate
judges cost, and ``max_latency_increase`` (optional) limits how much *slower* the candidate's
median call may be than the baseline's. A faster or cheaper candidate never fails here.
With repeats, a fall only counts when a paired bootstrap over cases says it is real (its 95%
interval lies above zero), so one flaky sample does not flip the verdict.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import median
from typing import Any

BOOTSTRAP_SAMPLES = 2000
HIGHER, LOWER = "higher", "lower"


def direction_of(metric: str) -> str:
    """Which way is better for a metric (an assertion type): ``higher`` or ``lower``."""
    from promptrail.assertions.base import direction_of as assertion_direction

    return assertion_direction(metric)


@dataclass
class Observed:
    """What one side of a comparison saw: pass/fail per case (one per repeat), the scores of
    every metric, call latencies, and how many cases ended in an error."""

    passes: dict[str, list[bool]] = field(default_factory=dict)
    scores: dict[str, list[float]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def judged(self) -> int:
        return sum(len(v) for v in self.passes.values())

    @property
    def pass_rate(self) -> float:
        n = self.judged
        return sum(sum(v) for v in self.passes.values()) / n if n else 0.0

    def per_case_rates(self) -> dict[str, float]:
        return {k: sum(v) / len(v) for k, v in self.passes.items() if v}

    def means(self) -> dict[str, float]:
        return {k: sum(v) / len(v) for k, v in self.scores.items() if v}


def observe(cases: Iterable[Any]) -> Observed:
    """An ``Observed`` from case results: ``CaseRun`` objects or store rows (dicts with
    ``case_id``, ``passed``, ``error`` or ``status``, ``latency_ms``, ``assertions``).
    Errored cases are counted apart: they are neither passes nor failures."""
    obs = Observed()
    for c in cases:
        get = c.get if isinstance(c, dict) else lambda k, _c=c: getattr(_c, k, None)
        status = get("status")
        errored = status == "error" if status is not None else bool(get("error"))
        if errored:
            obs.errors += 1
            continue
        obs.passes.setdefault(str(get("case_id")), []).append(bool(get("passed")))
        latency = get("latency_ms")
        if latency is not None and not get("cached"):
            obs.latencies.append(float(latency))
        for a in get("assertions") or []:
            if a.get("score") is not None and a.get("status") != "error":
                obs.scores.setdefault(a["type"], []).append(float(a["score"]))
    return obs


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


@dataclass
class Comparison:
    problems: list[str]
    details: dict[str, Any]
    not_significant: bool = False


def compare(
    base: Observed,
    cand: Observed,
    max_drop: float,
    repeat: int = 1,
    max_latency_increase: float | None = None,
    against: str = "the baseline",
) -> Comparison:
    """Problems (empty when the candidate is no worse) of ``cand`` against ``base``."""
    problems: list[str] = []
    details: dict[str, Any] = {"max_drop": max_drop}
    drop = base.pass_rate - cand.pass_rate
    significant = True
    if repeat > 1:
        mean, low, high = bootstrap_drop(base.per_case_rates(), cand.per_case_rates())
        significant = low > 0
        details["bootstrap"] = {"mean_drop": mean, "ci95": [low, high]}
    not_significant = False
    if drop > max_drop and significant:
        problems.append(
            f"pass rate fell {drop:.1%} ({base.pass_rate:.1%} -> {cand.pass_rate:.1%}) "
            f"against {against}; allowed {max_drop:.1%}"
        )
    elif drop > max_drop:
        not_significant = True
    cmeans, bmeans = cand.means(), base.means()
    metrics: dict[str, Any] = {}
    for metric, bval in sorted(bmeans.items()):
        cval = cmeans.get(metric)
        way = direction_of(metric)
        metrics[metric] = {"candidate": cval, "baseline": bval, "direction": way}
        if cval is None or way != HIGHER:
            continue  # latency and cost are budgets, judged by their own thresholds
        if bval - cval > max_drop:
            problems.append(
                f"{metric} mean fell {bval - cval:.2f} ({bval:.2f} -> {cval:.2f}) "
                f"against {against}; allowed {max_drop:.2f}"
            )
    details["metrics"] = metrics
    if base.latencies and cand.latencies:
        b50, c50 = median(base.latencies), median(cand.latencies)
        details["latency_p50_ms"] = {"candidate": c50, "baseline": b50}
        if max_latency_increase is not None and b50 > 0:
            rise = c50 / b50 - 1
            if rise > float(max_latency_increase):
                problems.append(
                    f"median latency rose {rise:.0%} ({b50:.0f} ms -> {c50:.0f} ms) against "
                    f"{against}; allowed {float(max_latency_increase):.0%}"
                )
    return Comparison(problems, details, not_significant)
