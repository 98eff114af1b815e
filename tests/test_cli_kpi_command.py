"""`fhir-writeback kpi` and `kpi merge` on real encrypted stores in a temp data folder: the
export of every site on the workstation, three workstations merged with known medians, the
HTML report rendered by headless Chromium, and the bad files refused with words."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.bootstrap import open_site_store
from app.cli import main
from app.domain.audit import AuditEvent, AuditKind
from app.domain.kpi_export import parse_export, to_csv, to_json
from app.main import CLI_COMMANDS
from tests.domain.test_kpi_export import three_workstations
from tests.support.kpi_data import seed_year
from tests.support.smart_fixtures import keep_test_keyring

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TODAY = datetime.now().astimezone().date()


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, accept_keyring=keep_test_keyring)
    return code, out.getvalue(), err.getvalue()


def site_with_figures(data_dir: Path, site: str, *, notes: int = 300) -> None:
    protected = open_site_store(data_dir / "sites" / site, is_sandbox=site == "sandbox")
    seed_year(protected.store, TODAY, notes=notes, seed=len(site))
    now = datetime.now(UTC)
    protected.audit.append(AuditEvent(AuditKind.SIGN_IN, now, "Practitioner/prac-1"))
    protected.close()


def test_kpi_is_a_cli_command_with_a_log_level() -> None:
    assert "kpi" in CLI_COMMANDS
    code, _out, err = run("kpi", "--log-level", "DEBUG")
    assert code == 2 and "give --since DATE" in err
    code, _out, err = run("kpi", "merge", "nothing.json", "--log-level", "WARNING")
    assert code == 1 and "nothing.json: there is no such file" in err


def test_export_holds_every_site_of_the_workstation_but_the_demo(tmp_path: Path) -> None:
    for site in ("north", "south", "sandbox"):
        site_with_figures(tmp_path, site)
    since = (TODAY - timedelta(days=27)).isoformat()
    code, out, err = run("kpi", "--since", since, "--format", "json", "--data-dir", str(tmp_path))
    assert code == 0, err
    export = parse_export(out)
    assert {n.site for n in export.notes} == {"north", "south"}  # the sandbox's demo left out
    assert all(export.since <= n.note.day <= TODAY for n in export.notes)
    assert any(d.day.sign_ins for d in export.days)
    again = parse_export(run("kpi", "--since", since, "--data-dir", str(tmp_path))[1])  # CSV
    assert again.workstation == export.workstation  # one random id per workstation
    assert again.notes == export.notes
    code, out, _ = run("kpi", "--since", since, "--site", "sandbox", "--data-dir", str(tmp_path))
    assert code == 0 and {n.site for n in parse_export(out).notes} == {"sandbox"}


def test_export_usage_errors(tmp_path: Path) -> None:
    code, _, err = run("kpi", "--since", "03/01/2026", "--data-dir", str(tmp_path))
    assert code == 2 and "is not a date: use YYYY-MM-DD" in err
    code, _, err = run(
        "kpi", "--since", "2026-03-05", "--until", "2026-03-01", "--data-dir", str(tmp_path)
    )
    assert code == 2 and "is before --since" in err
    code, _, err = run("kpi", "--since", "2026-03-01", "--site", "x", "--data-dir", str(tmp_path))
    assert code == 2 and "no store of site x" in err


def write_three(folder: Path) -> list[str]:
    paths = []
    for named in three_workstations():
        path = folder / named.name
        path.write_text(to_csv(named.export) if path.suffix == ".csv" else to_json(named.export))
        paths.append(str(path))
    return paths


def test_merge_of_three_workstations_reports_the_known_medians(tmp_path: Path) -> None:
    files = write_three(tmp_path)
    code, out, err = run("kpi", "merge", *files, "--format", "json")
    assert code == 0, err
    rows = {(r["site"], r["period"]): r for r in json.loads(out)["periods"]}
    assert rows[("north", "2026-W10")]["open_to_approve_median_s"] == 360.0
    assert rows[("north", "2026-W10")]["open_to_approve_p90_s"] == 600.0
    assert rows[("south", "2026-W11")]["open_to_approve_median_s"] == 240.0
    assert rows[("all sites", "total")]["open_to_approve_median_s"] == 300.0
    assert rows[("all sites", "total")]["notes_approved"] == 9
    code, text, _ = run("kpi", "merge", *files)
    assert code == 0 and "Site: north" in text and "6.0 min" in text
    code, csv_text, _ = run("kpi", "merge", *files, "--format", "csv")
    assert csv_text.splitlines()[0].startswith("site,period,workstations,notes_approved")


def test_merge_counts_a_file_given_twice_once(tmp_path: Path) -> None:
    files = write_three(tmp_path)
    code, out, err = run("kpi", "merge", *files, files[0], "--format", "json")
    assert code == 0
    rows = {(r["site"], r["period"]): r for r in json.loads(out)["periods"]}
    assert rows[("all sites", "total")]["notes_approved"] == 9
    assert "counted once" in err


def test_merge_refuses_bad_files_and_writes_nothing(tmp_path: Path) -> None:
    good = write_three(tmp_path)
    newer = tmp_path / "newer.json"
    newer.write_text(Path(good[0]).read_text().replace('"version": 1', '"version": 2'))
    cut = tmp_path / "cut.csv"
    cut.write_text(Path(good[1]).read_text()[:-30])
    html = tmp_path / "report.html"
    code, out, err = run("kpi", "merge", *good, str(newer), str(cut), "--html", str(html))
    assert code == 1 and out == "" and not html.exists()
    assert "newer.json: it was written by another version of the app" in err
    assert "cut.csv: " in err and ("cut short" in err or "ends early" in err)
    assert "Nothing was merged" in err


@pytest.fixture
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    return CHROMIUM


def render(chromium: str, page: Path, profile: Path, screenshot: Path) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1400,1800"]  # fmt: skip
    url = page.as_uri()
    shot = subprocess.run(
        [chromium, *flags, f"--screenshot={screenshot}", url],
        capture_output=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert shot.returncode == 0, shot.stderr[-2000:]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", url],
        capture_output=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout.decode()


def test_the_html_report_renders_in_chromium_with_its_figures(
    tmp_path: Path, chromium: str
) -> None:
    html = tmp_path / "report.html"
    code, _out, err = run("kpi", "merge", *write_three(tmp_path), "--html", str(html))
    assert code == 0 and f"HTML report written to {html}" in err
    dom = render(chromium, html, tmp_path / "profile", tmp_path / "report.png")
    assert (tmp_path / "report.png").stat().st_size > 10_000  # something was drawn
    assert dom.count("<svg") == 12  # four charts for north, south and all sites
    north = dom[dom.index("<h2>north</h2>") : dom.index("<h2>south</h2>")]
    cell = re.compile(r'data-column="open_to_approve_median_s">([^<]*)</td>')
    assert cell.findall(north) == ["360.0", "360.0"]  # the week and the total
    assert re.findall(r'data-column="notes_approved">(\d+)</td>', north) == ["5", "5"]
    assert ">6<" in north and "2026-W10: median 6" in north  # the bar and its tooltip
    everything = dom[dom.index("<h2>all sites</h2>") :]
    assert cell.findall(everything)[-1] == "300.0"
    assert "<script" not in dom.lower()
