"""Versions and Cargo-style version ranges.

Versions parse with the ``semver`` library. Ranges follow Cargo: ``^1.2`` (the default for a bare
``1.2``), ``~1.2``, ``=1.2.3``, comparisons (``>=1.2, <2``), wildcards (``1.*``, ``*``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from semver import Version

BUMPS = ("none", "patch", "minor", "major")


@lru_cache(maxsize=4096)
def parse_version(text: str) -> Version:
    try:
        return Version.parse(str(text).strip())
    except (ValueError, TypeError):
        raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)") from None


_PART = re.compile(
    r"^\s*(?P<op>\^|~|=|>=|<=|>|<)?\s*(?P<major>\d+|\*)(?:\.(?P<minor>\d+|\*))?"
    r"(?:\.(?P<patch>\d+|\*))?(?P<rest>[-+][0-9A-Za-z.+-]*)?\s*$"
)


@dataclass(frozen=True)
class Range:
    text: str
    bounds: tuple[tuple[str, Version], ...]  # (operator, version) pairs, all must hold

    def allows(self, version: str | Version) -> bool:
        v = parse_version(version) if isinstance(version, str) else version
        for op, bound in self.bounds:
            c = v.compare(bound)
            ok = {">=": c >= 0, ">": c > 0, "<": c < 0, "<=": c <= 0, "=": c == 0}[op]
            if not ok:
                return False
        return True

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=4096)
def parse_range(text: str) -> Range:
    text = str(text).strip()
    if text in ("*", ""):
        return Range(text or "*", ())
    bounds: list[tuple[str, Version]] = []
    for part in text.split(","):
        m = _PART.match(part)
        if m is None:
            raise ValueError(f"{text!r} is not a version range (e.g. ^2.1, ~1.0, >=1.2, <2)")
        bounds.extend(_bounds(m, text))
    return Range(text, tuple(bounds))


def _bounds(m: re.Match[str], text: str) -> list[tuple[str, Version]]:
    op = m["op"] or "^"
    nums = [m["major"], m["minor"], m["patch"]]
    wild = next((i for i, n in enumerate(nums) if n == "*"), None)
    if wild is not None:
        if op not in ("^", "="):
            raise ValueError(f"{text!r}: a wildcard cannot follow {op!r}")
        if wild == 0:
            return []
        nums = nums[:wild] + [None] * (3 - wild)
        op = "~" if wild == 2 else "^"
    given = len([n for n in nums if n is not None])
    major, minor, patch = (int(n) if n is not None else 0 for n in nums)
    pre = (m["rest"] or "").lstrip("-").split("+")[0] or None
    low = Version(major, minor, patch, prerelease=pre)
    if op == "=":
        if given == 3:
            return [("=", low)]
        op = "~" if given == 2 else "^"
    if op in (">=", ">", "<", "<="):
        return [(op, low)]
    if op == "~":
        high = Version(major, minor + 1, 0) if given >= 2 else Version(major + 1, 0, 0)
        return [(">=", low), ("<", high)]
    # caret: the left-most non-zero part may not change
    if major > 0 or given == 1:
        high = Version(major + 1, 0, 0)
    elif minor > 0 or given == 2:
        high = Version(0, minor + 1, 0)
    else:
        high = Version(0, 0, patch + 1)
    return [(">=", low), ("<", high)]


def bump(version: str, part: str) -> str:
    v = parse_version(version)
    if part == "major":
        return str(v.bump_major())
    if part == "minor":
        return str(v.bump_minor())
    if part == "patch":
        return str(v.bump_patch())
    raise ValueError(f"unknown bump {part!r}")


def bump_between(old: str, new: str) -> str:
    """The kind of bump that leads from ``old`` to ``new`` ('none' when not higher)."""
    a, b = parse_version(old), parse_version(new)
    if b.compare(a) <= 0:
        return "none"
    if b.major != a.major:
        return "major"
    if b.minor != a.minor:
        return "minor"
    return "patch"


def max_bump(*bumps: str) -> str:
    return max(bumps, key=BUMPS.index, default="none")
