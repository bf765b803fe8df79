"""deepeval metrics as assertions: ``{type: "deepeval:GEval", criteria: ..., threshold: 0.7}``.

Imported only when a suite uses one (deepeval takes seconds to import). Before importing it we
stop it phoning home, loading the user's ``.env`` into the environment (a secrets leak) and
writing ``.deepeval`` folders. Metrics are measured directly with ``a_measure`` on a fresh
object per case; ``deepeval.evaluate()`` rewrites its cache after every case and is never used.
LLM-judged metrics call the judge model through promptrail's own provider layer (``JudgeLLM``),
so they are cached, rate-limited and testable offline like every other call.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any

from promptrail.assertions.base import Assertion, AssertionContext, AssertionResult

_deepeval: Any = None
TEST_CASE_FIELDS = ("expected_output", "context", "retrieval_context")


def load_deepeval() -> Any:
    global _deepeval
    if _deepeval is None:
        os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "1")
        os.environ.setdefault("DEEPEVAL_DISABLE_DOTENV", "1")
        os.environ.setdefault("DEEPEVAL_UPDATE_WARNING_OPT_IN", "0")
        os.environ.setdefault(
            "DEEPEVAL_CACHE_FOLDER", tempfile.mkdtemp(prefix="promptrail-deepeval-")
        )
        os.environ.setdefault("DEEPEVAL_RESULTS_FOLDER", os.environ["DEEPEVAL_CACHE_FOLDER"])
        os.environ.setdefault("ERROR_REPORTING", "NO")
        from promptrail.extras import require

        deepeval = require("deepeval", "deepeval")
        require("deepeval.metrics", "deepeval")
        require("deepeval.test_case", "deepeval")
        _deepeval = deepeval
    return _deepeval


def judge_llm(judge: Any) -> Any:
    """A ``DeepEvalBaseLLM`` that sends deepeval's prompts to our judge."""
    from deepeval.models import DeepEvalBaseLLM

    class JudgeLLM(DeepEvalBaseLLM):
        def __init__(self) -> None:
            self.judge = judge
            super().__init__(judge.model_name)

        def load_model(self, *args: Any, **kwargs: Any) -> Any:
            return self

        def get_model_name(self, *args: Any, **kwargs: Any) -> str:
            return str(judge.model_name)

        async def a_generate(self, prompt: str, schema: Any = None, **kwargs: Any) -> Any:
            text = await judge.generate(prompt)
            if schema is None:
                return text
            return schema.model_validate(_loose_json(text))

        def generate(self, prompt: str, schema: Any = None, **kwargs: Any) -> Any:
            import asyncio
            import concurrent.futures

            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                return pool.submit(asyncio.run, self.a_generate(prompt, schema)).result()

    return JudgeLLM()


def _loose_json(text: str) -> Any:
    """The judge's JSON answer; one that does not parse raises, so the assertion is an
    error (never a failure, never a pass)."""
    m = re.search(r"\{.*\}", text, re.S)
    try:
        return json.loads(m.group(0) if m else text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the judge's answer is not JSON ({exc.msg}): {text[:200]!r}") from None


class DeepEvalMetric(Assertion):
    """``deepeval:<Metric>``: the metric's own options are passed through to deepeval (checked
    when it runs: importing deepeval to check them would make ``lint`` slow)."""

    metric: str
    options: dict[str, Any] = {}

    def check(self, ctx: AssertionContext) -> None:
        if not re.fullmatch(r"[A-Za-z]+", self.metric):
            raise ValueError(f"{self.metric!r} is not a deepeval metric name")
        from promptrail.extras import ensure

        ensure("deepeval", "deepeval", f"the assertion deepeval:{self.metric}")

    def prepare(self) -> None:
        load_deepeval()  # seconds of import, done before any call is timed

    async def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        de = load_deepeval()
        cls = getattr(de.metrics, self.metric, None)
        if cls is None:
            return AssertionResult(
                self.type, "error", None, None, f"deepeval has no metric {self.metric!r}"
            )
        opts = {k: v for k, v in self.options.items() if k not in TEST_CASE_FIELDS}
        case_fields = {k: v for k, v in self.options.items() if k in TEST_CASE_FIELDS}
        if self.metric == "GEval":
            opts.setdefault("name", "GEval")
            params = opts.pop("evaluation_params", ["input", "actual_output"])
            opts["evaluation_params"] = [
                getattr(de.test_case.SingleTurnParams, p.upper()) for p in params
            ]
        import inspect

        if "model" in inspect.signature(cls.__init__).parameters:
            if ctx.judge is None:
                return AssertionResult(
                    self.type, "error", None, None, "an LLM-judged metric needs a judge model"
                )
            opts["model"] = judge_llm(ctx.judge)
            opts.setdefault("async_mode", True)
        if self.metric == "ExactMatchMetric" and "expected_output" not in case_fields:
            return AssertionResult(
                self.type, "error", None, None, "ExactMatchMetric needs expected_output"
            )
        metric = cls(**opts)
        test_case = de.test_case.LLMTestCase(
            input=ctx.input_text, actual_output=ctx.output, **case_fields
        )
        await metric.a_measure(test_case, _show_indicator=False)
        if getattr(metric, "error", None):  # deepeval caught the judge's failure itself
            return AssertionResult(self.type, "error", None, None, f"{self.metric}: {metric.error}")
        score = float(metric.score) if metric.score is not None else None
        if score is None or not 0.0 <= score <= 1.0:
            return AssertionResult(
                self.type, "error", None, None, f"{self.metric} gave no usable score: {score!r}"
            )
        threshold = float(getattr(metric, "threshold", 0.5))
        ok = bool(metric.is_successful())
        reason = str(
            getattr(metric, "reason", None) or f"score {score} {'>=' if ok else '<'} {threshold}"
        )
        return AssertionResult(self.type, "passed" if ok else "failed", score, threshold, reason)
