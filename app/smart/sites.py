"""Site configuration: ``sites.toml`` from the per-machine folder, with per-user overrides.

    machine: platformdirs.site_config_dir("fhir-writeback")/sites.toml   (clinic IT)
    user:    platformdirs.user_config_dir("fhir-writeback")/sites.toml   (overrides, per key)

An explicit path (tests, ``--sites-file``) replaces both. Validation is strict: unknown keys,
wrong types, non-https URLs (loopback excepted) and missing CA files raise ``SiteConfigError``
naming the file, the key and the problem. See docs/sign-in.md for the format.

The file is read as a clinic's editor saves it (app.domain.text_files: UTF-8 with or without a
byte-order mark, UTF-16 with one; anything else is refused with the line and column), only if it
is a regular file of reasonable size (app._user_files: a FIFO or a device never blocks the app),
and TOML nested deeper than Python's stack or holding numbers too long to convert is refused
like any other mistake: ``SiteConfigError`` is the only exception ``load_sites`` raises.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import stat
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from app._resources import vendor_profile_names
from app._user_files import FileProblem, UserFileError, read_user_file
from app.domain.chart_history import DEFAULT_HISTORY_LIMIT, HISTORY_LIMIT_RANGE
from app.domain.errors import TextEncodingError
from app.domain.offline import DEFAULT_OFFLINE_POLICY
from app.domain.site import DEFAULT_INBOX_SETTLE_SECONDS, DEFAULT_REDIRECT_PATH, LogLevel, Site
from app.domain.text_files import decode_text
from app.smart.errors import SiteConfigError
from app.smart.hl7_settings import read_hl7_table
from app.smart.offline_settings import read_offline_table

APP_DIR = "fhir-writeback"
SITES_FILE = "sites.toml"
SANDBOX_CLIENT_ID = "fhir-writeback"
_SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TOP_KEYS = {"default_site", "log_level", "sites"}
_REQUIRED = ("display_name", "fhir_base", "client_id")
_SITE_KEYS = {
    "display_name": str,
    "fhir_base": str,
    "client_id": str,
    "scopes": list,
    "vendor_profile": str,
    "ca_bundle": str,
    "proxy": str,
    "redirect_path": str,
    "idle_lock_minutes": int,
    "log_level": str,
    "draft_inbox": str,
    "draft_inbox_settle_seconds": int,
    "hl7": dict,  # the HL7 v2 listener (app.smart.hl7_settings)
    "offline": dict,  # charts kept for offline use (app.smart.offline_settings)
    "chart_history_limit": int,  # older items paged in per chart section (docs/performance.md)
}
# the site's sub-tables, each read (and validated) by its own module
_TABLES: dict[str, Callable[[Path, str, object], object]] = {
    "hl7": read_hl7_table,
    "offline": read_offline_table,
}
_TYPE_WORDS = {str: "a string", list: "a list of strings", int: "a whole number", dict: "a table"}
MAX_SITES_FILE_BYTES = 1024 * 1024
MAX_CA_BUNDLE_BYTES = 10 * 1024 * 1024


def machine_sites_file() -> Path:
    return Path(platformdirs.site_config_dir(APP_DIR, appauthor=False)) / SITES_FILE


def user_sites_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_DIR, appauthor=False)) / SITES_FILE


@dataclass(frozen=True)
class SiteCatalog:
    sites: tuple[Site, ...]
    default_site_id: str | None
    sources: tuple[Path, ...]  # the files that were read
    log_level: LogLevel | None = None  # the top-level ``log_level`` (a site's own one wins)

    @property
    def empty(self) -> bool:
        return not self.sites

    def find(self, name: str) -> Site | None:
        """By id, else by display name (case-insensitive)."""
        for site in self.sites:
            if site.id == name:
                return site
        folded = name.casefold()
        return next((s for s in self.sites if s.display_name.casefold() == folded), None)

    @property
    def default(self) -> Site | None:
        if self.default_site_id is not None:
            return self.find(self.default_site_id)
        return self.sites[0] if len(self.sites) == 1 else None


def sandbox_site(fhir_base: str) -> Site:
    """The embedded sandbox, offered when no site is configured."""
    return Site(
        id="sandbox",
        display_name="Sandbox EHR (synthetic patients)",
        fhir_base=fhir_base.rstrip("/"),
        client_id=SANDBOX_CLIENT_ID,
        is_sandbox=True,
    )


def load_sites(
    path: Path | None = None,
    *,
    machine_file: Path | None = None,
    user_file: Path | None = None,
) -> SiteCatalog:
    """Read and validate the site files. No files at all: an empty catalog."""
    files = (
        [path]
        if path is not None
        else [machine_file or machine_sites_file(), user_file or user_sites_file()]
    )
    if path is not None and not _present(path):
        raise SiteConfigError(str(path), None, "the file does not exist")
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, dict[str, Path]] = {}  # site id -> key -> the file that set it
    default: tuple[str, Path] | None = None
    log_level: LogLevel | None = None
    sources: list[Path] = []
    for file in files:
        if not _present(file):
            continue
        sources.append(file)
        doc = _read(file)
        for key in doc:
            if key not in _TOP_KEYS:
                raise SiteConfigError(str(file), key, _unknown(key, _TOP_KEYS))
        if "default_site" in doc:
            if not isinstance(doc["default_site"], str):
                raise SiteConfigError(str(file), "default_site", "must be a string (a site id)")
            default = (doc["default_site"], file)
        if "log_level" in doc:
            log_level = _log_level(file, "log_level", doc["log_level"])
        sites = doc.get("sites", {})
        if not isinstance(sites, dict):
            raise SiteConfigError(str(file), "sites", "must be a table: [sites.<id>]")
        for site_id, table in sites.items():
            where = f"sites.{site_id}"
            if not _SITE_ID.match(site_id):
                raise SiteConfigError(
                    str(file), where, "the site id may only use letters, digits, '.', '_', '-'"
                )
            if not isinstance(table, dict):
                raise SiteConfigError(str(file), where, "must be a table")
            for key, value in table.items():
                _check_value(file, f"{where}.{key}", key, value)
                merged.setdefault(site_id, {})[key] = _resolve_relative(file, key, value)
                origin.setdefault(site_id, {})[key] = file
    result = tuple(_build(site_id, values, origin[site_id]) for site_id, values in merged.items())
    if default is not None and default[0] not in merged:
        raise SiteConfigError(
            str(default[1]), "default_site", f"names the site '{default[0]}', which is not defined"
        )
    return SiteCatalog(result, default[0] if default else None, tuple(sources), log_level)


def _present(file: Path) -> bool:
    """Whether something is at ``file`` (a dangling link or an unreadable folder counts: reading
    it then says what is wrong, instead of the file being silently ignored)."""
    try:
        os.lstat(file)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def _read(file: Path) -> dict[str, Any]:
    try:
        text = decode_text(read_user_file(file, limit=MAX_SITES_FILE_BYTES))
    except UserFileError as exc:
        raise SiteConfigError(str(file), None, f"the file {exc.problem}") from None
    except TextEncodingError as exc:
        raise SiteConfigError(str(file), None, f"{exc.where}: {exc.problem}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SiteConfigError(str(file), None, f"not valid TOML ({exc})") from None
    except RecursionError:
        raise SiteConfigError(
            str(file), None, "not valid TOML (lists or tables are nested too deeply)"
        ) from None
    except ValueError as exc:  # e.g. an integer with thousands of digits
        raise SiteConfigError(str(file), None, f"not valid TOML ({exc})") from None


def _unknown(key: str, allowed: set[str] | Mapping[str, object]) -> str:
    return f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))})"


def _check_value(file: Path, where: str, key: str, value: object) -> None:
    expected = _SITE_KEYS.get(key)
    if expected is None:
        raise SiteConfigError(str(file), where, _unknown(key, _SITE_KEYS))
    wrong_type = not isinstance(value, expected) or isinstance(value, bool)
    if key == "scopes" and isinstance(value, list):
        wrong_type = not all(isinstance(s, str) and s and " " not in s for s in value)
    if wrong_type:
        raise SiteConfigError(str(file), where, f"must be {_TYPE_WORDS[expected]}, not {value!r}")
    table_reader = _TABLES.get(key)
    if table_reader is not None:
        table_reader(file, where, value)
    if isinstance(value, str) and not value.strip():
        raise SiteConfigError(str(file), where, "must not be empty")
    check = _VALUE_CHECKS.get(key)
    if check is not None:
        check(file, where, value)


def _check_fhir_base(file: Path, where: str, value: object) -> None:
    _check_url(file, where, value, schemes=("https", "http"))


def _check_proxy(file: Path, where: str, value: object) -> None:
    _check_url(file, where, value, schemes=("http", "https", "socks5", "socks5h"), tls=False)


def _check_redirect_path(file: Path, where: str, value: object) -> None:
    assert isinstance(value, str)
    if not value.startswith("/") or any(c in value for c in "?#% "):
        raise SiteConfigError(
            str(file),
            where,
            f"must be a path starting with '/', like \"/callback\", not {value!r}",
        )


def _check_idle_lock(file: Path, where: str, value: object) -> None:
    assert isinstance(value, int)
    if not 1 <= value <= 24 * 60:
        raise SiteConfigError(str(file), where, "must be between 1 and 1440 minutes")


def _check_draft_inbox(file: Path, where: str, value: object) -> None:
    folder = _resolve_relative(file, "draft_inbox", value)
    assert isinstance(folder, Path)
    problem = draft_inbox_problem(folder)
    if problem is not None:
        raise SiteConfigError(str(file), where, problem)


def _check_settle_seconds(file: Path, where: str, value: object) -> None:
    assert isinstance(value, int)
    if not 1 <= value <= 300:
        raise SiteConfigError(str(file), where, "must be between 1 and 300 seconds")


def _check_history_limit(file: Path, where: str, value: object) -> None:
    assert isinstance(value, int)
    low, high = HISTORY_LIMIT_RANGE
    if not low <= value <= high:
        raise SiteConfigError(str(file), where, f"must be between {low:,} and {high:,} items")


def _check_ca_bundle(file: Path, where: str, value: object) -> None:
    assert isinstance(value, str)
    ca = _resolve_relative(file, "ca_bundle", value)
    assert isinstance(ca, Path)
    problem = ca_bundle_problem(ca)
    if problem is not None:
        raise SiteConfigError(str(file), where, problem)


def _check_log_level(file: Path, where: str, value: object) -> None:
    _log_level(file, where, value)


def _check_vendor_profile(file: Path, where: str, value: object) -> None:
    names = vendor_profile_names()
    if value not in names:
        valid = ", ".join(f'"{name}"' for name in names)
        raise SiteConfigError(
            str(file), where, f"is not a vendor profile this app knows ({value!r}); use {valid}"
        )


def draft_inbox_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be a watched folder (None when it can). A folder that does not
    exist yet is accepted (a network share may be mounted later); the app reports it."""
    if folder == Path(folder.anchor):
        return "must be a folder of its own, not a drive root"
    try:
        info = folder.stat()
    except FileNotFoundError:
        if folder.is_symlink():
            return f"{folder} is a link to something that does not exist"
        return None
    except OSError as exc:
        return f"{folder} cannot be checked ({exc.strerror or type(exc).__name__})"
    if not stat.S_ISDIR(info.st_mode):
        return f"{folder} is a file; name a folder"
    return None


def read_ca_bundle(path: Path) -> str:
    """The PEM text of a CA bundle; UserFileError or TextEncodingError when it cannot be one
    (read capped: ``ca_bundle = "/dev/zero"`` is not read forever)."""
    return decode_text(read_user_file(path, limit=MAX_CA_BUNDLE_BYTES))


def ca_bundle_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as a CA bundle, in words (None when it can)."""
    try:
        pem = read_ca_bundle(path)
    except UserFileError as exc:
        if exc.kind is FileProblem.MISSING:
            return f"the CA bundle file {path} does not exist"
        return f"the CA bundle {path} {exc.problem}, so it is not a PEM certificate bundle"
    except TextEncodingError:
        return f"{path} is not a PEM certificate bundle (it is not text)"
    try:
        ssl.create_default_context().load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        return f"{path} is not a readable PEM certificate bundle ({exc})"
    return None


def _log_level(file: Path, where: str, value: object) -> LogLevel:
    level = LogLevel.parse(value) if isinstance(value, str) else None
    if level is None:
        allowed = ", ".join(f'"{level.value}"' for level in LogLevel)
        raise SiteConfigError(str(file), where, f"must be one of {allowed}, not {value!r}")
    return level


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_problem(
    value: str, *, schemes: Sequence[str] = ("https", "http"), tls: bool = True
) -> str | None:
    """Why ``value`` is not an acceptable URL (None when it is): https, or http to loopback."""
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        return f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
    if tls and parts.scheme == "http" and not _is_loopback(parts.hostname):
        return f"must use https:// (plain http is only allowed for this computer), not {value!r}"
    if parts.query or parts.fragment:
        return "must not contain '?' or '#'"
    return None


def _check_url(
    file: Path, where: str, value: object, *, schemes: Sequence[str], tls: bool = True
) -> None:
    assert isinstance(value, str)
    problem = url_problem(value, schemes=schemes, tls=tls)
    if problem is not None:
        raise SiteConfigError(str(file), where, problem)


def _resolve_relative(file: Path, key: str, value: object) -> object:
    table_reader = _TABLES.get(key)
    if table_reader is not None:
        return table_reader(file, f"{key} of {file.name}", value)
    if key in ("ca_bundle", "draft_inbox") and isinstance(value, str):
        path = Path(value).expanduser()
        return path if path.is_absolute() else (file.parent / path).resolve()
    return value


def _build(site_id: str, values: Mapping[str, Any], origin: Mapping[str, Path]) -> Site:
    for key in _REQUIRED:
        if key not in values:
            file = next(iter(origin.values()))
            raise SiteConfigError(str(file), f"sites.{site_id}.{key}", "is required but missing")
    scopes = values.get("scopes")
    return Site(
        id=site_id,
        display_name=values["display_name"].strip(),
        fhir_base=values["fhir_base"].strip().rstrip("/"),
        client_id=values["client_id"].strip(),
        scopes=tuple(scopes) if scopes is not None else None,
        vendor_profile=values.get("vendor_profile"),
        ca_bundle=values.get("ca_bundle"),
        proxy=values.get("proxy"),
        redirect_path=values.get("redirect_path", DEFAULT_REDIRECT_PATH),
        idle_lock_minutes=values.get("idle_lock_minutes"),
        log_level=LogLevel.parse(values["log_level"]) if "log_level" in values else None,
        draft_inbox=values.get("draft_inbox"),
        draft_inbox_settle_seconds=values.get(
            "draft_inbox_settle_seconds", DEFAULT_INBOX_SETTLE_SECONDS
        ),
        hl7=values.get("hl7"),
        offline=values.get("offline", DEFAULT_OFFLINE_POLICY),
        chart_history_limit=values.get("chart_history_limit", DEFAULT_HISTORY_LIMIT),
    )


# The checks beyond the value's type, by key (each raises SiteConfigError with the words).
_VALUE_CHECKS: dict[str, Callable[[Path, str, object], None]] = {
    "fhir_base": _check_fhir_base,
    "proxy": _check_proxy,
    "redirect_path": _check_redirect_path,
    "idle_lock_minutes": _check_idle_lock,
    "log_level": _check_log_level,
    "vendor_profile": _check_vendor_profile,
    "draft_inbox": _check_draft_inbox,
    "draft_inbox_settle_seconds": _check_settle_seconds,
    "ca_bundle": _check_ca_bundle,
    "chart_history_limit": _check_history_limit,
}
