"""``fhir-writeback sites validate|install|new``: check and provision a ``sites.toml`` (clinic IT).

    fhir-writeback sites validate FILE
    fhir-writeback sites install FILE [--target-dir DIR]
    fhir-writeback sites new --fhir-base URL --client-id ID [--display-name NAME]
                             [--site-id ID] --output FILE
    (each also takes --log FILE: append the output there too, as the installers' logs read)

``validate`` says whether the app would accept FILE, with the same loader the app uses at
start (app.smart.sites), plus what matters when the file is copied to other computers: it
must be a UTF-8 text file (not a folder), define at least one site, and any ``ca_bundle``
given relative to it must lie in its folder (or below), so it can be copied along.

``install`` validates, then copies FILE to DIR/sites.toml (default: the per-machine folder,
C:\\ProgramData\\fhir-writeback on Windows) together with the relative CA bundles it names,
keeping the previous file as sites.toml.bak. Every file is written under a temporary name
first and renamed into place at the end, so a failure leaves DIR as it was.

``new`` writes a one-site file (UTF-8, values escaped) and validates it: what the installer's
/FHIRBASE= /CLIENTID= /SITENAME= /SITEID= switches install.

The Windows installers run these from the bundled fhir-writeback-cli.exe (installer.nsi
before anything is installed; the MSI as a deferred custom action). Exit status: 0 valid /
installed, 3 the file is refused (one line on stderr says why), 1 the files could not be
written, 2 wrong usage.
"""

from __future__ import annotations

import argparse
import errno
import getpass
import io
import json
import os
import shutil
import socket
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TextIO

from app.domain.clock import utc_now
from app.logging_setup import add_log_level_option
from app.smart.errors import SiteConfigError
from app.smart.sites import SITES_FILE, SiteCatalog, load_sites, machine_sites_file

EXIT_OK, EXIT_WRITE_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
BACKUP_SUFFIX = ".bak"


class SiteFileRefused(Exception):
    """FILE cannot be used; ``str()`` is one line for IT: the file, the key and the problem."""


@dataclass(frozen=True)
class ValidatedSiteFile:
    source: Path
    catalog: SiteCatalog
    ca_files: tuple[PurePath, ...]  # relative to the source's folder: copied along
    external_ca_files: tuple[Path, ...]  # absolute paths: read from where they are

    def summary(self) -> str:
        sites = ", ".join(f"{s.id} ({s.fhir_base})" for s in self.catalog.sites)
        default = self.catalog.default
        lines = [
            f"{self.source}: valid. {len(self.catalog.sites)} site(s): {sites}; "
            f"default site: {default.id if default else 'none (users choose)'}."
        ]
        lines += [f"CA bundle {ca} is copied along with the file." for ca in self.ca_files]
        lines += [
            f"CA bundle {ca} is an absolute path: it must exist at that path on every computer."
            for ca in self.external_ca_files
        ]
        return "\n".join(lines)


def add_sites_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sites = commands.add_parser(
        "sites", help="check or provision a sites.toml: validate FILE, install FILE, new"
    )
    actions = sites.add_subparsers(dest="sites_command", required=True)
    validate = actions.add_parser(
        "validate", help="check a sites.toml as the app and the installers would (exit 0 valid)"
    )
    validate.add_argument("file", type=Path, metavar="FILE")
    install = actions.add_parser(
        "install", help="validate, then copy it (and its CA bundles) to the per-machine folder"
    )
    install.add_argument("file", type=Path, metavar="FILE")
    install.add_argument(
        "--target-dir",
        type=Path,
        default=None,
        help=f"folder to install into (default: {machine_sites_file().parent})",
    )
    new = actions.add_parser("new", help="write a sites.toml with one site, then validate it")
    new.add_argument("--fhir-base", required=True, help="the site's FHIR base URL (https://)")
    new.add_argument("--client-id", required=True, help="the client id the EHR registered")
    new.add_argument("--display-name", default="EHR", help="name clinicians see (EHR)")
    new.add_argument("--site-id", default="clinic", help="site id (clinic)")
    new.add_argument("--output", type=Path, required=True, metavar="FILE", help="file to write")
    for action in (validate, install, new):
        action.add_argument(
            "--log", type=Path, metavar="FILE", help="also append the output to FILE (installers)"
        )
        add_log_level_option(action)


def run_sites(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.log is None:
        return _run(args, out, err)
    said, complained = io.StringIO(), io.StringIO()
    code = _run(args, said, complained)
    out.write(said.getvalue())
    err.write(complained.getvalue())
    try:
        _append_to_log(args.log, said.getvalue() + complained.getvalue(), code)
    except OSError as exc:
        err.write(f"fhir-writeback sites: could not write the log {args.log}: {exc.strerror}\n")
    return code


def _append_to_log(log: Path, text: str, code: int) -> None:
    """The installers' log format: UTC time, DOMAIN\\user@computer, the line."""
    stamp = utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")
    domain = os.environ.get("USERDOMAIN")
    who = f"{domain + chr(92) if domain else ''}{getpass.getuser()}@{socket.gethostname()}"
    lines = [*text.splitlines(), f"(fhir-writeback sites: exit code {code})"]
    with log.open("a", encoding="utf-8") as fh:
        fh.writelines(f"{stamp} {who}   | {line}\n" for line in lines)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    command = f"fhir-writeback sites {args.sites_command}"
    try:
        if args.sites_command == "new":
            return _new(args, out)
        checked = validate_site_file(args.file)
        if args.sites_command == "validate":
            out.write(checked.summary() + "\n")
            return EXIT_OK
        target = args.target_dir or machine_sites_file().parent
        written = install_site_file(checked, target)
    except SiteFileRefused as exc:
        err.write(f"{command}: refused: {exc}\n")
        return EXIT_REFUSED
    except OSError as exc:
        err.write(f"{command}: could not write {exc.filename or 'the files'}: {exc.strerror}\n")
        return EXIT_WRITE_FAILED
    out.write(checked.summary() + "\n")
    out.write("".join(f"Wrote {path}\n" for path in written))
    return EXIT_OK


def _new(args: argparse.Namespace, out: TextIO) -> int:
    args.output.write_text(
        one_site_toml(args.site_id, args.display_name, args.fhir_base, args.client_id),
        encoding="utf-8",
    )
    try:
        checked = validate_site_file(args.output)
    except SiteFileRefused:
        args.output.unlink()
        raise
    out.write(checked.summary() + "\n")
    return EXIT_OK


def one_site_toml(site_id: str, display_name: str, fhir_base: str, client_id: str) -> str:
    """A sites.toml with one site, the default. JSON string escapes are valid TOML ones."""

    def quoted(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    return (
        "# Written by fhir-writeback sites new (the installer's /FHIRBASE= /CLIENTID= switches).\n"
        "# Reference: docs/deployment.md and docs/sign-in.md. Users' own additions go in\n"
        "# %LOCALAPPDATA%\\fhir-writeback\\sites.toml, not here.\n\n"
        f"default_site = {quoted(site_id)}\n\n"
        f"[sites.{quoted(site_id)}]\n"
        f"display_name = {quoted(display_name)}\n"
        f"fhir_base = {quoted(fhir_base)}\n"
        f"client_id = {quoted(client_id)}\n"
    )


def validate_site_file(file: Path) -> ValidatedSiteFile:
    """Everything the app's loader checks, and what copying the file elsewhere needs."""
    if file.is_dir():
        raise SiteFileRefused(f"{file} is a folder; give the path of the sites.toml file itself")
    if not file.is_file():
        raise SiteFileRefused(f"{file} does not exist (give a full path)")
    try:
        file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SiteFileRefused(
            f"{file} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise SiteFileRefused(f"{file} cannot be read ({exc.strerror})") from None
    try:
        catalog = load_sites(file)
    except SiteConfigError as exc:
        where = f"key '{exc.key}': " if exc.key else ""
        raise SiteFileRefused(f"{exc.file}: {where}{exc.problem}") from None
    if catalog.empty:
        raise SiteFileRefused(f"{file} defines no site: add a [sites.<id>] table")
    relative, external = _ca_files(file, catalog)
    return ValidatedSiteFile(file, catalog, relative, external)


def _ca_files(file: Path, catalog: SiteCatalog) -> tuple[tuple[PurePath, ...], tuple[Path, ...]]:
    folder = file.parent.resolve()
    relative: list[PurePath] = []
    external: list[Path] = []
    for site in catalog.sites:
        if site.ca_bundle is None:
            continue
        declared = _declared_ca_bundle(file, site.id)
        ca = Path(site.ca_bundle)
        if declared is not None and not Path(declared).expanduser().is_absolute():
            if not ca.resolve().is_relative_to(folder):
                raise SiteFileRefused(
                    f"{file}: key 'sites.{site.id}.ca_bundle': {declared} lies outside the "
                    "file's folder, so it cannot be copied along; put the CA file next to "
                    "sites.toml (or in a folder below it), or give an absolute path"
                )
            rel = ca.resolve().relative_to(folder)
            if rel not in relative:
                relative.append(rel)
        elif ca not in external:
            external.append(ca)
    return tuple(relative), tuple(external)


def _declared_ca_bundle(file: Path, site_id: str) -> str | None:
    """The ca_bundle text as written in the file (the loader hands back resolved paths)."""
    doc = tomllib.loads(file.read_text(encoding="utf-8"))
    value = doc.get("sites", {}).get(site_id, {}).get("ca_bundle")
    return value if isinstance(value, str) else None


def install_site_file(checked: ValidatedSiteFile, target: Path) -> list[Path]:
    """Copy the file and its relative CA bundles into ``target``; all or nothing."""
    target.mkdir(parents=True, exist_ok=True)
    source_folder = checked.source.parent.resolve()
    # sites.toml goes last: the app never sees it before the CA files it names.
    plan = [(source_folder / rel, target / rel) for rel in checked.ca_files]
    plan.append((checked.source, target / SITES_FILE))
    for _, final in plan:
        if final.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder is in the way", str(final))
    with _staged(plan) as staged:
        _swap_in(staged)
    return [final for _, final in plan]


def _swap_in(staged: list[tuple[Path, Path]]) -> None:
    """Renames each temporary copy over its destination, the previous file set aside; on
    failure puts every previous file back. The previous sites.toml becomes sites.toml.bak."""
    done: list[tuple[Path, Path | None]] = []  # (destination, its previous file set aside)
    try:
        for temporary, final in staged:
            previous = None
            if final.exists():
                previous = final.with_name(f".{final.name}.{os.getpid()}.old")
                os.replace(final, previous)
            done.append((final, previous))
            os.replace(temporary, final)
    except OSError:
        for final, previous in reversed(done):
            if previous is not None:
                os.replace(previous, final)
            else:
                final.unlink(missing_ok=True)
        raise
    for final, previous in done:
        if previous is None:
            continue
        if final.name == SITES_FILE:
            os.replace(previous, final.with_name(SITES_FILE + BACKUP_SUFFIX))
        else:
            previous.unlink()


@contextmanager
def _staged(plan: list[tuple[Path, Path]]) -> Iterator[list[tuple[Path, Path]]]:
    """Copies each source beside its destination under a temporary name; removes the
    temporary copies that were not renamed into place."""
    staged: list[tuple[Path, Path]] = []
    try:
        for source, final in plan:
            final.parent.mkdir(parents=True, exist_ok=True)
            temporary = final.with_name(f".{final.name}.{os.getpid()}.new")
            shutil.copyfile(source, temporary)
            staged.append((temporary, final))
        yield staged
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
