"""Reports of a fixed run: the PR comment, the HTML report, JUnit and SARIF."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import git
from example_model import responder
from fakeserver import FakeLLMServer

from promptrail.lock import entry_for, write_lock
from promptrail.reports.templating import COMMENT_LIMIT
from promptrail.workspace import Workspace

pytestmark = pytest.mark.e2e


@pytest.fixture
def regressed_run(example: Path, cli, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """support-reply 1.4.0 live in staging; a candidate 1.4.1 that changes the output schema
    (a patch bump is wrong) and answers the two urgent cases as low priority."""
    monkeypatch.setenv("PROMPTRAIL_DB", str(example / ".promptrail" / "r.duckdb"))
    ws = Workspace(example)
    code, out, err = cli("-C", str(example), "gate", "support-reply", "--cache", "replay", "--json")
    assert code == 0, err
    write_lock(
        ws.lock_path("staging"),
        "staging",
        {"support-reply": entry_for(ws.resolve("support-reply"))},
    )
    git(example, "add", "-A")
    git(example, "commit", "-qm", "live")
    prompt = example / "prompts/support-reply.yaml"
    prompt.write_text(
        prompt.read_text()
        .replace("version: 1.4.0", "version: 1.4.1")
        .replace("You are a support agent", "You are a friendly support agent")
    )
    schema = example / "schemas/support_reply.json"
    schema.write_text(
        schema.read_text().replace('"low", "normal", "high", "urgent"', '"low", "normal", "high"')
    )
    answer = responder(example)

    def worse(body: dict, proto: str) -> str:
        text = answer(body, proto)
        if "friendly support agent" in body["messages"][0]["content"]:
            return text.replace('"urgent"', '"low"')
        return text

    with FakeLLMServer(responder=worse) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        code, out, err = cli(
            "-C", str(example), "gate", "support-reply", "--cache", "off", "--keep-going", "--json"
        )
    assert code == 1, err
    return example, json.loads(out)["run_id"]


def report(cli, root: Path, run_id: str, fmt: str) -> str:
    code, out, err = cli("-C", str(root), "report", run_id, "--format", fmt)
    assert code == 0, err
    return out


def test_comment_shows_bump_baseline_deltas_diff_and_failures(regressed_run, cli) -> None:
    root, run_id = regressed_run
    md = report(cli, root, run_id, "md")
    assert "## promptrail gate ❌ failed" in md
    assert "1.4.0 → 1.4.1" in md
    assert "major ❌ (bumped patch)" in md  # enum narrowed: major
    assert "values narrowed" in md
    assert re.search(r"\| regression \| ❌ failed \| 0\.8 \| 1 \| -0\.2 \|", md), md
    assert "-You are a support agent" in md and "+You are a friendly support agent" in md
    assert "**site-down**" in md and "json-path" in md and "'low', expected 'urgent'" in md
    assert (root / f"reports/out/{run_id}/report.md").read_text() == md


def test_comment_stays_under_githubs_limit(regressed_run, cli, monkeypatch) -> None:
    root, run_id = regressed_run
    from promptrail.reports import model

    real = model.build

    def bloated(*args, **kwargs):
        data = real(*args, **kwargs)
        data["prompts"] = data["prompts"] * 10  # a 10-prompt change
        for p in data["prompts"]:
            p["rendered_diff"] = "\n".join(f"+line {i} " + "x" * 80 for i in range(2000))
            p["failing"] = [{**c, "output": "y" * 5000} for c in p["failing"]]
        return data

    monkeypatch.setattr("promptrail.reports.build", bloated)
    md = report(cli, root, run_id, "md")
    assert len(md) < COMMENT_LIMIT
    assert md.count("### ") == 10 or "truncated to fit a comment" in md


def test_html_is_self_contained_with_plots(regressed_run, cli) -> None:
    root, run_id = regressed_run
    html = report(cli, root, run_id, "html")
    assert html.startswith("<!doctype html>")
    assert html.count("<svg") == 2 and "pass rate by version" in html
    assert "<polyline" in html and "1.4.1" in html
    fetches = re.findall(r'(?:src|href)="(https?:[^"]+)"', html)
    assert fetches == []  # nothing fetched at view time
    assert "<script" not in html


def test_html_shows_the_first_cases_failing_first_and_junit_lists_all(
    regressed_run, cli, monkeypatch
) -> None:
    """A 100,000-case suite must not make a 100,000-row HTML page: the page shows the first
    SHOWN_CASES per prompt, failing first, and says where the rest are."""
    root, run_id = regressed_run
    monkeypatch.setattr("promptrail.reports.model.SHOWN_CASES", 3)
    html = report(cli, root, run_id, "html")
    table = html.split("<th>output</th></tr>", 1)[1].split("</table>", 1)[0]
    results = re.findall(r'<td class="(passed|failed)">', table)
    assert len(results) == 3
    assert results[0] == "failed" and "site-down" in table  # failing first
    assert "Cases (10, " in html and "the first 3 shown, failing first" in html
    tree = valid_junit(report(cli, root, run_id, "junit"))
    assert int(tree.find("testsuite").get("tests")) == 4 + 10  # every case all the same


def test_a_big_runs_case_rows_are_streamed_into_the_same_reports(
    regressed_run, cli, monkeypatch
) -> None:
    """A run of up to RunRows.HELD cases is read in one query; a bigger one is streamed
    prompt by prompt, a batch at a time: the reports are the same."""
    from promptrail.reports.model import RunRows

    root, run_id = regressed_run
    held = {fmt: report(cli, root, run_id, fmt) for fmt in ("junit", "md", "html")}
    monkeypatch.setattr(RunRows, "HELD", 0)
    monkeypatch.setattr(RunRows, "BATCH", 3)
    assert {fmt: report(cli, root, run_id, fmt) for fmt in held} == held
    assert held["junit"].count("<testcase ") == 14


@pytest.mark.parametrize("held", [20_000, 0])
def test_case_rows_are_redacted_as_they_are_read_from_the_store(
    regressed_run, cli, monkeypatch, held: int
) -> None:
    """Case rows reach the reports through views on the store, which the report's redaction
    walk cannot see: a value that became a secret after the run is redacted in them too, and
    the gate's own junit.xml, written in pieces, is the report's JUnit."""
    from promptrail.reports.model import RunRows
    from promptrail.store import Store

    monkeypatch.setattr(RunRows, "HELD", held)
    monkeypatch.setattr(RunRows, "BATCH", 3)
    root, run_id = regressed_run
    assert (root / f"reports/out/{run_id}/junit.xml").read_text() == report(
        cli, root, run_id, "junit"
    )
    from promptrail.reports.model import build

    store = Store(root / ".promptrail/r.duckdb")
    [(output,)] = store.query(
        "SELECT output FROM case_results WHERE run_id = ? AND case_id = 'site-down' "
        "AND role = 'candidate'",
        [run_id],
    )[1]
    secret = max(re.findall(r"[A-Za-z][A-Za-z ]{10,}[A-Za-z]", output), key=len)
    for fmt in ("junit", "md", "html"):
        assert secret in report(cli, root, run_id, fmt), fmt
    monkeypatch.setenv("ACME_SERVICE_TOKEN", secret)
    for fmt in ("junit", "md", "html"):
        text = report(cli, root, run_id, fmt)
        assert secret not in text and "[REDACTED]" in text, fmt
    # before any rendering: the rows themselves (escaping in a template could hide a secret
    # from the redaction of the rendered text)
    [p] = build(store, run_id)["prompts"]
    rows = [*p["failing"], *p["all_cases"], *p["failing"][:1], p["failing"][-1]]
    store.close()
    assert len(rows) == len(p["failing"]) + len(p["all_cases"]) + 2
    assert any("[REDACTED]" in json.dumps(r) for r in p["failing"])
    assert not any(secret in json.dumps(r) for r in rows)


JUNIT_XSD = Path(__file__).parent / "data" / "junit-10.xsd"  # Jenkins' (xunit-plugin)


def valid_junit(text: str) -> ET.Element:
    import xmlschema

    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(text)
    return ET.fromstring(text)


def test_junit_has_one_testcase_per_gate_and_per_case(regressed_run, cli) -> None:
    root, run_id = regressed_run
    tree = valid_junit(report(cli, root, run_id, "junit"))
    assert tree.tag == "testsuites"
    [suite] = tree.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == int(suite.get("tests")) == 4 + 10  # four gates, ten cases
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures")) == len(failed) == int(tree.get("failures"))
    assert "site-down" in failed and "gate: regression" in failed
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp"))
    assert suite.get("hostname")
    for c in cases:
        assert c.get("classname") and c.get("name")


def test_junit_of_a_gate_failed_on_lint_shows_a_failure(example: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(example / ".promptrail" / "j.duckdb"))
    prompt = example / "prompts/ticket-router.yaml"
    prompt.write_text(
        prompt.read_text().replace(
            "You route support tickets",
            "Use key sk-proj-abcdefghijklmnopqrstuvwx01. You route support tickets",
        )
    )
    assert cli("-C", str(example), "bump", "ticket-router", "--patch")[0] == 0
    code, out, _ = cli("-C", str(example), "gate", "ticket-router", "--cache", "replay", "--json")
    assert code == 1
    tree = valid_junit(report(cli, example, json.loads(out)["run_id"], "junit"))
    [suite] = tree.findall("testsuite")
    by_name = {c.get("name"): c for c in suite.findall("testcase")}
    assert by_name["gate: lint"].find("failure") is not None
    assert tree.get("failures") == suite.get("failures") == "1"
    skipped = [n for n, c in by_name.items() if c.find("skipped") is not None]
    assert skipped == ["gate: schema", "gate: regression", "gate: cost"]
    assert suite.get("skipped") == "3"


SARIF_SHAPE = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {"driver": {"type": "object", "required": ["name", "rules"]}},
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "level", "message", "locations"],
                            "properties": {
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {"type": "object", "required": ["text"]},
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["physicalLocation"],
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "required": ["artifactLocation"],
                                                "properties": {
                                                    "region": {
                                                        "type": "object",
                                                        "required": ["startLine"],
                                                        "properties": {
                                                            "startLine": {
                                                                "type": "integer",
                                                                "minimum": 1,
                                                            }
                                                        },
                                                    }
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_sarif_annotates_lint_findings(example: Path, cli, monkeypatch) -> None:
    import jsonschema

    monkeypatch.setenv("PROMPTRAIL_DB", str(example / ".promptrail" / "s.duckdb"))
    prompt = example / "prompts/ticket-router.yaml"
    prompt.write_text(
        prompt.read_text().replace(
            "You route support tickets",
            "Use key sk-proj-abcdefghijklmnopqrstuvwx01. You route support tickets",
        )
    )
    assert cli("-C", str(example), "bump", "ticket-router", "--patch")[0] == 0
    code, out, _ = cli("-C", str(example), "gate", "ticket-router", "--cache", "replay", "--json")
    assert code == 1
    run_id = json.loads(out)["run_id"]
    doc = json.loads(report(cli, example, run_id, "sarif"))
    jsonschema.validate(doc, SARIF_SHAPE)
    official = json.loads(
        (Path(__file__).parent / "data/sarif-2.1.0-subset.schema.json").read_text()
    )
    jsonschema.Draft4Validator(official).validate(doc)
    [rule] = doc["runs"][0]["tool"]["driver"]["rules"]
    assert rule["fullDescription"]["text"] and rule["help"]["text"]  # GitHub needs both
    [result] = doc["runs"][0]["results"]
    assert result["ruleId"] == "secret" and result["level"] == "error"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "prompts/ticket-router.yaml"
    line = prompt.read_text().splitlines()[loc["region"]["startLine"] - 1]
    assert "sk-proj-" in line
    assert "sk-proj-abcdef" not in json.dumps(doc)  # the secret is not repeated


def test_workspace_template_overrides_the_packaged_one(regressed_run, cli) -> None:
    root, run_id = regressed_run
    (root / "reports").mkdir(exist_ok=True)
    (root / "reports/comment.md.j2").write_text("custom {{ run.run_id }}\n")
    assert report(cli, root, run_id, "md") == f"custom {run_id}\n"


def test_unknown_run_is_exit_2(example: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(example / ".promptrail" / "u.duckdb"))
    code, _, err = cli("-C", str(example), "report", "gate-nope")
    assert code == 2 and "no run 'gate-nope'" in err


def test_html_renders_in_headless_chromium(regressed_run, cli, tmp_path: Path) -> None:
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    root, run_id = regressed_run
    page = root / f"reports/out/{run_id}/report.html"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [browser, *flags, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") == 2 and "<polyline" in dom.stdout
    assert "CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
