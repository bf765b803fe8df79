"""Record the example workspace's responses: ``python tests/record_example.py``.

Starts the fake model server with the hand-written fixture outputs, runs the example's gate
in read-write cache mode against it, and leaves ``recordings/cache.jsonl`` with one recorded
response per request. Run it again after changing a prompt or a suite case.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from example_model import responder  # noqa: E402
from fakeserver import FakeLLMServer  # noqa: E402

from promptrail.pipeline import run_gate  # noqa: E402


def main() -> None:
    root = HERE.parent
    cache = root / "recordings" / "cache.jsonl"
    cache.unlink(missing_ok=True)
    with FakeLLMServer(responder=responder(root)) as server:
        os.environ.update(server.env())
        os.environ["PROMPTRAIL_DB"] = str(Path(tempfile.mkdtemp()) / "record.duckdb")
        result = run_gate(str(root), cache_mode="read-write", actor="recorder")
    for p in result["prompts"]:
        print(p["name"], p["status"], [(g["gate"], g["status"]) for g in p["gates"]])
    lines = cache.read_text().count("\n")
    print(f"{result['status']}: {lines} responses recorded in {cache.relative_to(root)}")
    sys.exit(0 if result["status"] == "passed" else 1)


if __name__ == "__main__":
    main()
