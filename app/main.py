"""Composition root: parses the command line, builds every service, starts the UI.

Services get their dependencies as constructor arguments; nothing here is a global registry,
so tests build exactly what they need. Subcommands for support staff live in app.cli.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from app import __version__
from app.logging_setup import add_log_level_option

# httpx imports its own command line (httpx._main: click, rich, pygments, ≈ 70 ms at start-up)
# whenever those are installed, as development tools install them; this app never runs it, and
# httpx does without it (its `main` then only says the extra is missing).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

CLI_COMMANDS = {"check", "login", "outbox", "audit", "store", "support-bundle", "sites", "kpi"}

log = logging.getLogger("app")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fhir-writeback",
        description="Review, approve and write clinical notes back to the EHR (SMART on FHIR). "
        "Subcommands for support staff: " + ", ".join(sorted(CLI_COMMANDS)) + ".",
    )
    p.add_argument("--version", action="version", version=f"fhir-writeback {__version__}")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="run a headless check of every layer and exit (0 = healthy)",
    )
    p.add_argument(
        "--sites-file",
        type=Path,
        default=None,
        help="use this sites.toml instead of the per-machine and per-user ones",
    )
    p.add_argument(
        "--sandbox",
        action="store_true",
        help="use the embedded sandbox EHR even when sites are configured",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="per-user data folder (drafts, outbox); default: the platform's one",
    )
    add_log_level_option(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in CLI_COMMANDS:
        from app.cli import main as cli_main

        return cli_main(args_list)
    args = _parser().parse_args(args_list)
    if args.self_test:
        from app.selftest import run_self_test

        return run_self_test()
    from app.ui.quit_signals import QuitRequests

    # before anything slow is imported or started: a logoff while starting ends the app cleanly
    asked_to_quit = QuitRequests.noted_from_now()
    from app.bootstrap import run_gui

    return run_gui(
        sites_file=args.sites_file,
        force_sandbox=args.sandbox,
        data_dir=args.data_dir,
        log_level=args.log_level,
        asked_to_quit=asked_to_quit,
    )


if __name__ == "__main__":
    sys.exit(main())
