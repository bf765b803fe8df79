import pytest

from promptrail import semver

RANGES = [
    ("^2.1", "2.1.0", True),
    ("^2.1", "2.9.3", True),
    ("^2.1", "3.0.0", False),
    ("^2.1", "2.0.9", False),
    ("2.1", "2.5.0", True),
    ("^0.2", "0.2.9", True),
    ("^0.2", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("~1.0", "1.0.7", True),
    ("~1.0", "1.1.0", False),
    ("~1", "1.9.0", True),
    ("=1.2.3", "1.2.3", True),
    ("=1.2.3", "1.2.4", False),
    (">=1.2, <2", "1.9.9", True),
    (">=1.2, <2", "2.0.0", False),
    ("1.*", "1.4.0", True),
    ("1.*", "2.0.0", False),
    ("*", "9.9.9", True),
    ("<1.0.0", "0.9.0", True),
]


@pytest.mark.parametrize(("rng", "version", "ok"), RANGES)
def test_ranges_follow_cargo(rng: str, version: str, ok: bool) -> None:
    assert semver.parse_range(rng).allows(version) is ok


@pytest.mark.parametrize("bad", ["^x", "1.2.3.4", ">>1", "~*"])
def test_bad_ranges_are_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        semver.parse_range(bad)


@pytest.mark.parametrize("bad", ["1.4", "v1.2.3", "one", ""])
def test_bad_versions_are_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        semver.parse_version(bad)


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("1.4.0", "1.4.1", "patch"),
        ("1.4.0", "1.5.0", "minor"),
        ("1.4.0", "2.0.0", "major"),
        ("1.4.0", "1.4.0", "none"),
        ("1.4.0", "1.3.0", "none"),
    ],
)
def test_bump_between(old: str, new: str, kind: str) -> None:
    assert semver.bump_between(old, new) == kind


def test_bump_and_max() -> None:
    assert semver.bump("1.4.2", "minor") == "1.5.0"
    assert semver.max_bump("patch", "major", "minor") == "major"
    assert semver.max_bump() == "none"
