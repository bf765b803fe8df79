"""The JSON in a model's output: the one parser the assertions and the schema gate share.

An output is JSON when it parses as JSON, or when it is one Markdown code fence (```` ``` ```` or
```` ```json ````) around JSON with nothing but white space outside it. Text after the closing
fence is not JSON output: an application parsing the reply would fail on it too.
"""

from __future__ import annotations

import json
import re
from typing import Any

FENCE = re.compile(r"^\s*```(?:json)?[ \t]*\n(.*?)\n?```\s*$", re.S)
OPEN_FENCE = re.compile(r"^\s*```(?:json)?[ \t]*\n(.*?)\n?```", re.S)


def parse_json_output(text: str) -> tuple[Any, bool]:
    """The JSON in ``text`` and whether it was inside a code fence; ``json.JSONDecodeError``
    (with a message saying why) when there is none."""
    m = FENCE.match(text)
    if m:
        return json.loads(m.group(1)), True
    try:
        return json.loads(text), False
    except json.JSONDecodeError:
        opened = OPEN_FENCE.match(text)
        if opened is None:
            raise
        after = opened.end() + len(text[opened.end() :]) - len(text[opened.end() :].lstrip())
        raise json.JSONDecodeError("text after the closing code fence", text, after) from None
