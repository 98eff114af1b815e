"""Operational logging: rotating files in the per-user log folder.

Log records carry ids, states and error classes only — never names, note text or tokens.
``RedactingFormatter`` is the safety net behind that rule: whatever a record or a traceback
says, bearer tokens, JWTs, OAuth parameters and URL query strings (which can carry a patient's
name as a search parameter) are masked before a line reaches the file.

The level comes from ``--log-level``, else the site's ``log_level`` in sites.toml, else the
file's top-level ``log_level``, else INFO (``LogLevelChoice``). DEBUG applies to the app's own
loggers only (``app.*``): libraries stay at INFO or quieter, because some of them log request
URLs, SQL parameters or token responses at DEBUG.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.domain.site import LogLevel, Site

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE = "fhir-writeback.log"
APP_LOGGER = "app"

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[jwt redacted]"),
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|id_token|code|code_verifier|client_secret|"
            r"password|assertion)(\\?[\"']?\s*[=:]\s*\\?[\"']?)[^&\s\"'\\,}]+"
        ),
        r"\1\2[redacted]",
    ),
    (re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]+"), r"\1?[query redacted]"),
)

# Libraries that put URLs (with search parameters), SQL parameters or token responses in their
# records below these levels.
_QUIET_LIBRARIES = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "sqlalchemy": logging.WARNING,
    "authlib": logging.INFO,
}


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks secrets and query strings in the whole line (message,
    arguments and traceback alike)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _AppLogFile(logging.handlers.RotatingFileHandler):
    """The app's own log file handler (told apart from handlers others installed)."""


@dataclass(frozen=True)
class LogLevelChoice:
    """Where the level comes from, strongest first."""

    option: LogLevel | None = None  # --log-level
    site_file: LogLevel | None = None  # the top-level log_level of sites.toml

    def for_site(self, site: Site | None = None) -> LogLevel:
        site_level = site.log_level if site is not None else None
        return self.option or site_level or self.site_file or LogLevel.INFO


def _number(level: LogLevel | int) -> int:
    return level if isinstance(level, int) else int(getattr(logging, level.name))


def set_log_level(level: LogLevel | int) -> None:
    """DEBUG for the app's loggers only; any other level for everything."""
    number = _number(level)
    logging.getLogger().setLevel(max(number, logging.INFO))
    logging.getLogger(APP_LOGGER).setLevel(number if number < logging.INFO else logging.NOTSET)
    for name, quietest in _QUIET_LIBRARIES.items():
        logging.getLogger(name).setLevel(max(quietest, number))


def configure_logging(log_dir: Path, level: LogLevel | int = LogLevel.INFO) -> Path:
    """Log to ``<log_dir>/fhir-writeback.log`` (rotating) at ``level``; called again, it
    replaces the app's earlier file handler instead of adding a second one."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _AppLogFile)]:
        root.removeHandler(old)
        old.close()
    handler = _AppLogFile(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(RedactingFormatter(FORMAT))
    root.addHandler(handler)
    set_log_level(level)
    return path


@contextmanager
def logging_to(log_dir: Path, level: LogLevel) -> Iterator[Path]:
    """``configure_logging`` for one command (the command line runs in-process in tests):
    the handler and the levels are undone afterwards."""
    root, app = logging.getLogger(), logging.getLogger(APP_LOGGER)
    before = root.level, app.level, {n: logging.getLogger(n).level for n in _QUIET_LIBRARIES}
    handlers = list(root.handlers)
    path = configure_logging(log_dir, level)
    try:
        yield path
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(before[0])
        app.setLevel(before[1])
        for name, value in before[2].items():
            logging.getLogger(name).setLevel(value)


def add_log_level_option(p: argparse.ArgumentParser) -> None:
    """``--log-level`` (the GUI and every support command): wins over sites.toml."""
    p.add_argument(
        "--log-level",
        type=_log_level,
        default=None,
        metavar="{DEBUG,INFO,WARNING,ERROR}",
        help="how much the log file says; DEBUG adds the steps of sign-in, chart loading and "
        "sync, without patient data (default: log_level in sites.toml, else INFO)",
    )


def _log_level(text: str) -> LogLevel:
    level = LogLevel.parse(text)
    if level is None:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a log level (choose DEBUG, INFO, WARNING or ERROR)"
        )
    return level
