"""Generate a large workspace: N prompts sharing M components (default 1,000 and 20).

python bench/gen_workspace.py /tmp/big --prompts 1000 --components 20
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

CONFIG = """environments:
  - name: dev
  - name: staging
    gates: [lint, schema, regression, cost]
  - name: production
    gates: [lint, schema, regression, cost]
    requires: staging
    approvals: 1
store: .promptrail/promptrail.duckdb
gates:
  lint: {max_tokens: 4000}
"""


def generate(root: Path, prompts: int, components: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for d in ("prompts", "components", "schemas", "suites", "environments"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "promptrail.yaml").write_text(CONFIG)
    (root / "schemas/answer.json").write_text(
        '{"type": "object", "required": ["answer", "score"], "additionalProperties": false, '
        '"properties": {"answer": {"type": "string"}, "score": {"type": "number"}}}\n'
    )
    for c in range(components):
        rules = "\n".join(
            f"  - Rule {c}.{i}: {' '.join(rng.choices(WORDS, k=12))}." for i in range(8)
        )
        (root / f"components/comp-{c:02d}.yaml").write_text(
            f"name: comp-{c:02d}\nversion: 1.{c % 5}.0\ndescription: shared rules {c}\n"
            f"template: |\n  Shared rules {c}:\n{rules}\n"
        )
    for p in range(prompts):
        comps = rng.sample(range(components), 3)
        uses = ", ".join(f'comp-{c:02d}: "^1.0"' for c in comps)
        calls = "\n".join(f'      {{{{ component("comp-{c:02d}") }}}}' for c in comps)
        body = " ".join(rng.choices(WORDS, k=60))
        (root / f"prompts/p-{p:04d}.yaml").write_text(f"""name: p-{p:04d}
version: 1.{p % 7}.{p % 3}
description: generated prompt {p}
model: {{provider: openai, name: gpt-4o-mini, temperature: 0.2, max_tokens: 300}}
uses: {{{uses}}}
input_schema:
  type: object
  required: [question]
  properties:
    question: {{type: string}}
    context: {{type: string}}
output_schema: {{$ref: schemas/answer.json}}
messages:
  - role: system
    content: |
{calls}
      You are assistant number {p}. {body}
      Answer in JSON with the key "answer".
  - role: user
    content: "{{{{ question }}}}{{% if context %}} Context: {{{{ context }}}}{{% endif %}}"
""")
        (root / f"suites/p-{p:04d}.yaml").write_text(
            f"prompt: p-{p:04d}\ncases:\n  - id: c1\n    vars: {{question: hi}}\n"
            "    assert: [{type: is-json}]\n"
        )


WORDS = (
    "answer the customer clearly and politely using only the facts given never invent "
    "policies keep replies short prefer plain words over jargon escalate when unsure "
    "protect personal data and do not repeat secrets"
).split()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--prompts", type=int, default=1000)
    ap.add_argument("--components", type=int, default=20)
    args = ap.parse_args()
    generate(args.root, args.prompts, args.components)
    print(f"generated {args.prompts} prompts and {args.components} components in {args.root}")


if __name__ == "__main__":
    main()
