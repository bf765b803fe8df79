"""The cost gate: dollars and tokens per call and per 1,000 calls, against a ceiling and
against the version live in the target environment. A model the price table does not know
fails the gate with that said plainly; it is never counted as free."""

from __future__ import annotations

from typing import Any

from gates._eval import candidate_or_verdict, operational
from promptrail.gating import Gate, GateContext, GateResult


def p95(values: list[float]) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]


def cost_stats(run: Any) -> dict[str, Any]:
    """Cost and tokens per call over the calls that returned, in one pass (a big suite's
    cases are read back from disk as they are iterated)."""
    from array import array

    costs, tokens = array("d"), array("d")  # 8 bytes a call, not a float object each
    calls = input_tokens = 0
    price_source = None
    for c in run.cases:
        if c.output is None:
            continue
        calls += 1
        if c.cost_usd is not None:
            costs.append(c.cost_usd)
        tokens.append((c.input_tokens or 0) + (c.output_tokens or 0))
        input_tokens += c.input_tokens or 0
        price_source = price_source or c.price_source
    mean = sum(costs) / len(costs) if costs else None
    return {
        "calls": calls,
        "unpriced": calls - len(costs),
        "usd_per_call_mean": mean,
        "usd_per_call_p95": p95(list(costs)) if costs else None,
        "usd_per_1k_calls": mean * 1000 if mean is not None else None,
        "tokens_per_call_mean": sum(tokens) / len(tokens) if tokens else 0,
        "tokens_per_call_p95": p95(list(tokens)),
        # the prompt's own size as the provider counted it: input tokens per call
        "prompt_tokens": round(input_tokens / calls) if calls else 0,
        "price_source": price_source,
    }


class CostGate(Gate):
    name = "cost"
    needs_eval = True

    def run(self, ctx: GateContext) -> GateResult:
        run, verdict = candidate_or_verdict(ctx, self.name)
        if verdict is not None:
            return verdict
        ceiling = ctx.settings.get("max_usd_per_1k_calls")
        max_increase = ctx.settings.get("max_increase")
        stats = cost_stats(run)
        per_1k = stats["usd_per_1k_calls"]
        problems = []
        if stats["unpriced"]:
            problems.append(
                f"no price known for {ctx.resolved.provider}/"
                f"{ctx.resolved.model['name']} ({stats['unpriced']} calls unpriced)"
            )
        if per_1k is not None and ceiling is not None and per_1k > float(ceiling):
            problems.append(f"${per_1k:.4f} per 1k calls is over the ceiling ${ceiling}")
        summary = (
            f"${per_1k:.4f} per 1k calls (p95 ${stats['usd_per_call_p95']:.6f}/call), "
            f"{stats['tokens_per_call_mean']:.0f} tokens/call"
            if per_1k is not None
            else "cost unknown"
        )
        base = (
            ctx.baseline_eval()
            if ctx.baseline is not None and ctx.baseline.content_hash != ctx.resolved.content_hash
            else None
        )
        if base is not None:
            verdict = operational(base, self.name)
            if verdict is not None:
                return verdict
            bstats = cost_stats(base)
            stats["baseline"] = bstats
            b1k = bstats["usd_per_1k_calls"]
            if b1k and per_1k is not None:
                increase = per_1k / b1k - 1
                stats["increase"] = increase
                summary += f"; {increase:+.1%} against {base.version} (${b1k:.4f})"
                if max_increase is not None and increase > float(max_increase):
                    problems.append(
                        f"cost rose {increase:.1%} against {base.version} live in "
                        f"{ctx.env}; allowed {float(max_increase):.0%}"
                    )
            growth = stats["prompt_tokens"] - bstats["prompt_tokens"]
            summary += f"; input {growth:+d} tokens/call"
        if problems:
            summary = "; ".join(problems) + f" [{summary}]"
        return GateResult(
            self.name,
            "failed" if problems else "passed",
            per_1k,
            float(ceiling) if ceiling is not None else None,
            summary,
            stats,
        )
