"""``--log-level`` and ``log_level``: which level wins, what DEBUG turns on (the app's own
loggers only), and the command line writing its log file at the chosen level."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from app.cli import main as cli_main
from app.domain.site import LogLevel, Site
from app.logging_setup import LOG_FILE, LogLevelChoice, configure_logging, logging_to
from app.main import _parser as gui_parser
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import keep_test_keyring


def site(level: LogLevel | None) -> Site:
    return Site(
        id="s", display_name="S", fhir_base="https://e/fhir", client_id="c", log_level=level
    )


def test_the_option_wins_then_the_site_then_the_file_then_info() -> None:
    D, W, E = LogLevel.DEBUG, LogLevel.WARNING, LogLevel.ERROR
    assert LogLevelChoice().for_site() is LogLevel.INFO
    assert LogLevelChoice(site_file=W).for_site(site(None)) is W
    assert LogLevelChoice(site_file=W).for_site(site(D)) is D
    assert LogLevelChoice(option=E, site_file=W).for_site(site(D)) is E


def test_debug_is_for_the_apps_own_loggers_only(tmp_path: Path) -> None:
    """Libraries log URLs, SQL parameters or token responses at DEBUG: they stay quieter."""
    with logging_to(tmp_path, LogLevel.DEBUG):
        assert logging.getLogger("app.sync.runner").isEnabledFor(logging.DEBUG)
        for name in ("sqlalchemy.engine", "httpx", "httpcore", "authlib", "keyring", "asyncio"):
            assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
        assert not logging.getLogger("sqlalchemy.engine").isEnabledFor(logging.INFO)
    with logging_to(tmp_path, LogLevel.WARNING):
        assert not logging.getLogger("app.sync.runner").isEnabledFor(logging.INFO)
        assert logging.getLogger("app.sync.runner").isEnabledFor(logging.WARNING)


def test_configuring_again_replaces_the_apps_file_handler(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    with logging_to(tmp_path / "a", LogLevel.INFO):
        configure_logging(tmp_path / "b", LogLevel.DEBUG)
        added = [h for h in root.handlers if h not in before]
        assert len(added) == 1 and Path(added[0].baseFilename).parent == tmp_path / "b"  # type: ignore[attr-defined]
    assert root.handlers == before


def test_the_gui_takes_log_level_in_any_case() -> None:
    assert gui_parser().parse_args(["--log-level", "debug"]).log_level is LogLevel.DEBUG
    assert gui_parser().parse_args(["--log-level", "ERROR"]).log_level is LogLevel.ERROR
    assert gui_parser().parse_args([]).log_level is None


@pytest.fixture
def log_dir(own_log_folder: Path) -> Path:
    return own_log_folder


def run(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli_main(list(argv), out=out, err=err, accept_keyring=keep_test_keyring)
    return code, out.getvalue() + err.getvalue()


COMMANDS = [
    ["check", "--fhir-base", "https://ehr.example/fhir"],
    ["login", "--site", "x"],
    ["outbox", "list"],
    ["outbox", "show", "abcdef12"],
    ["outbox", "sync"],
    ["audit", "export"],
    ["audit", "verify"],
    ["support-bundle"],
    ["kpi", "--since", "2026-03-01"],
    ["kpi", "merge", "export.json"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_support_command_takes_log_level(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run(*command, "--log-level", "verbose")
    assert exited.value.code == 2
    assert "'verbose' is not a log level (choose DEBUG, INFO, WARNING or ERROR)" in (
        capsys.readouterr().err
    )


def sites_toml(tmp_path: Path, server: RunningServer, extra: str) -> Path:
    path = tmp_path / "sites.toml"
    path.write_text(
        f'[sites.{server.name}]\ndisplay_name = "x"\nfhir_base = "{server.fhir_base}"\n'
        f'client_id = "{server.client_id}"\n{extra}',
        encoding="utf-8",
    )
    return path


def test_the_command_line_logs_at_the_sites_level_unless_told_otherwise(
    tmp_path: Path, log_dir: Path, sandbox_server: RunningServer
) -> None:
    sites = sites_toml(tmp_path, sandbox_server, 'log_level = "debug"\n')
    code, text = run("check", "--sites-file", str(sites))
    assert code == 0, text
    logged = (log_dir / LOG_FILE).read_text(encoding="utf-8")
    assert " DEBUG app.smart.http_log: GET metadata -> 200 in " in logged
    assert " DEBUG app.smart.discovery: " in logged

    (log_dir / LOG_FILE).unlink()
    code, text = run("check", "--sites-file", str(sites), "--log-level", "WARNING")
    assert code == 0, text
    path = log_dir / LOG_FILE
    assert not path.exists() or " DEBUG " not in path.read_text(encoding="utf-8")
    assert logging.getLogger("app").level == logging.NOTSET  # undone after the command
