"""``fhir-writeback kpi``: the app's figures of use for clinic IT and the product team.

    fhir-writeback kpi --since DATE [--until DATE] [--format csv|json] [--output FILE]
                       [--site ID ...] [--data-dir DIR]
    fhir-writeback kpi merge FILE... [--format text|csv|json] [--output FILE] [--html OUT]

``kpi`` exports the figures of every site on this workstation (the stores under the data
folder; the embedded sandbox's demo store only with ``--site sandbox``): counts and durations,
no PHI (docs/kpi.md). Run it as the user whose stores they are (their keys are in the user's
keyring). ``merge`` combines exports of many workstations into one report — per site and week,
median and 90th percentile, totals — as text, CSV or JSON, and with ``--html`` as a page with
its charts inline. Both take ``--log-level`` like every command.

Exit status: 0 done; 1 a file could not be merged (nothing is written; the message names the
file and what to do); 2 wrong usage; 3 a site's store cannot be used (nothing is written).
"""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

from app import __version__
from app.bootstrap import EXIT_STORE_UNUSABLE, open_site_store
from app.domain.clock import utc_now
from app.domain.kpi_export import (
    KpiExport,
    KpiFileError,
    SiteDayRow,
    SiteNoteRow,
    parse_export,
    to_csv,
    to_json,
)
from app.domain.kpi_merge import NamedExport, merge_exports
from app.kpi_html import report_html
from app.kpi_output import notices_text, report_csv, report_json, report_text
from app.logging_setup import add_log_level_option
from app.paths import AppPaths
from app.store.errors import StoreError
from app.store.file_check import existence_evidence

EXIT_OK, EXIT_BAD_FILE, EXIT_USAGE = 0, 1, 2
WORKSTATION_FILE = "kpi-workstation.json"
SANDBOX = "sandbox"


class KpiUsageError(Exception):
    pass


def add_kpi_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kpi = commands.add_parser(
        "kpi", help="figures of use, no PHI: export this workstation's (--since), or merge"
    )
    kpi.add_argument("--since", help="first day to export, YYYY-MM-DD (local days)")
    kpi.add_argument("--until", help="last day to export, YYYY-MM-DD (default: today)")
    kpi.add_argument("--format", dest="export_format", default="csv", help="csv (default) or json")
    kpi.add_argument("--output", type=Path, help="file to write (default: standard output)")
    kpi.add_argument(
        "--site",
        dest="kpi_sites",
        action="append",
        help="only this site (repeat for more; 'sandbox' for the demo store)",
    )
    kpi.add_argument(
        "--data-dir", type=Path, help="the per-user data folder (default: the platform's)"
    )
    add_log_level_option(kpi)
    actions = kpi.add_subparsers(dest="kpi_command")
    merge = actions.add_parser("merge", help="combine exports of many workstations into a report")
    merge.add_argument("files", nargs="+", type=Path, metavar="FILE")
    merge.add_argument("--format", dest="report_format", default="text", help="text, csv or json")
    merge.add_argument("--output", dest="report_output", type=Path, help="file for the report")
    merge.add_argument("--html", type=Path, metavar="OUT", help="also write the report as HTML")
    add_log_level_option(merge)


def run_kpi(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        if args.kpi_command == "merge":
            return _merge(args, out, err)
        return _export(args, out, err)
    except KpiUsageError as exc:
        command = "kpi merge" if args.kpi_command == "merge" else "kpi"
        err.write(f"fhir-writeback {command}: {exc}\n")
        return EXIT_USAGE


# ---------------------------------------------------------------- export


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise KpiUsageError(f"{option} {text!r} is not a date: use YYYY-MM-DD") from None


def _export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    since = _day(args.since, "--since")
    if since is None:
        raise KpiUsageError("give --since DATE (or 'merge FILE...'); see --help")
    until = _day(args.until, "--until") or datetime.now().astimezone().date()
    if until < since:
        raise KpiUsageError(f"--until {until} is before --since {since}")
    if args.export_format not in ("csv", "json"):
        raise KpiUsageError(f"unknown format {args.export_format!r}: use csv or json")
    data_dir = AppPaths.default(args.data_dir).data_dir
    notes: list[SiteNoteRow] = []
    days: list[SiteDayRow] = []
    for site_id, folder in _site_folders(data_dir, args.kpi_sites):
        try:
            protected = open_site_store(folder, is_sandbox=site_id == SANDBOX)
        except StoreError as exc:
            err.write(
                f"fhir-writeback kpi: site '{site_id}': {exc.user_message}\nNothing was "
                "exported; to export the other sites, name them with --site.\n"
            )
            return EXIT_STORE_UNUSABLE
        try:
            kpi = protected.store.kpi
            kpi.measure_pending()
            notes += [SiteNoteRow(site_id, n) for n in kpi.notes(since, until)]
            days += [SiteDayRow(site_id, d) for d in kpi.days(since, until)]
        finally:
            protected.close()
    export = KpiExport(
        workstation=workstation_id(data_dir),
        exported_at=utc_now(),
        since=since,
        until=until,
        app_version=__version__,
        notes=tuple(notes),
        days=tuple(days),
    )
    text = to_json(export) if args.export_format == "json" else to_csv(export)
    return _write(text, args.output, out, err, f"{len(notes)} note(s) from {since} to {until}")


def _site_folders(data_dir: Path, chosen: list[str] | None) -> list[tuple[str, Path]]:
    root = data_dir / "sites"
    found = sorted(
        p.name
        for p in (root.iterdir() if root.is_dir() else [])
        if p.is_dir() and ((p / "store.db").is_file() or existence_evidence(p / "store.db"))
    )
    if chosen is None:
        return [(name, root / name) for name in found if name != SANDBOX]
    missing = [name for name in chosen if name not in found]
    if missing:
        raise KpiUsageError(
            f"no store of site {', '.join(missing)} on this computer (stores here: "
            f"{', '.join(found) or 'none'})"
        )
    return [(name, root / name) for name in chosen]


def workstation_id(data_dir: Path) -> str:
    """This workstation's random id (made once, kept in the data folder): what tells exports
    of one workstation from another's, and nothing else about it."""
    path = data_dir / WORKSTATION_FILE
    try:
        value = str(json.loads(path.read_text(encoding="utf-8"))["workstation"])
        uuid.UUID(value)
        return value
    except (OSError, ValueError, KeyError, TypeError):
        value = str(uuid.uuid4())
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"workstation": value}) + "\n", encoding="utf-8")
    return value


# ---------------------------------------------------------------- merge


def _merge(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.report_format not in ("text", "csv", "json"):
        raise KpiUsageError(f"unknown format {args.report_format!r}: use text, csv or json")
    exports: list[NamedExport] = []
    problems: list[str] = []
    for path in args.files:
        try:
            text = path.read_text(encoding="utf-8-sig")
            exports.append(NamedExport(path.name, parse_export(text)))
        except FileNotFoundError:
            problems.append(f"{path}: there is no such file")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: it cannot be read ({type(exc).__name__})")
        except KpiFileError as exc:
            problems.append(f"{path}: {exc}")
    if problems:
        err.write("".join(f"fhir-writeback kpi merge: {p}\n" for p in problems))
        err.write("Nothing was merged: fix or leave out the file(s) above, then run it again.\n")
        return EXIT_BAD_FILE
    merged = merge_exports(exports)
    err.write(notices_text(merged.notices))
    if args.html is not None:
        args.html.write_text(report_html(merged), encoding="utf-8")
        err.write(f"HTML report written to {args.html}.\n")
    render = {"text": report_text, "csv": report_csv, "json": report_json}[args.report_format]
    return _write(render(merged), args.report_output, out, err, f"{len(exports)} file(s)")


def _write(text: str, target: Path | None, out: TextIO, err: TextIO, what: str) -> int:
    if target is None:
        out.write(text)
        return EXIT_OK
    target.write_text(text, encoding="utf-8")
    err.write(f"Written to {target}: {what}.\n")
    return EXIT_OK
