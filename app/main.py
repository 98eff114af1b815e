"""Composition root: parses the command line, builds every service, starts the UI.

Services get their dependencies as constructor arguments; nothing here is a global registry,
so tests build exactly what they need. Subcommands for support staff live in app.cli.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import __version__
from app.logging_setup import add_log_level_option

if TYPE_CHECKING:  # the GUI's stack loads once the quit signals are noted (main below)
    from app.bootstrap import SiteFactory
    from app.domain.site import LogLevel
    from app.services.workbench import Workbench
    from app.ui.quit_signals import QuitRequests

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
    return run_gui(
        sites_file=args.sites_file,
        force_sandbox=args.sandbox,
        data_dir=args.data_dir,
        log_level=args.log_level,
        asked_to_quit=asked_to_quit,
    )


# ---------------------------------------------------------------------------- the GUI


def _preload_then_settle() -> None:
    from app.bootstrap import settle_heap
    from app.fhir.fhir_reading import preload_models

    preload_models()
    settle_heap()


async def after_the_paint(
    first: Any, workbench: Workbench, factory: SiteFactory
) -> tuple[Any, str | None]:
    """Once the sign-in window (the UI's SignInWindow) has painted: the embedded sandbox, when
    it runs, starts in its own thread (a sign-in pressed meanwhile waits for it; if it cannot
    start, the window says so); the rest of the window (its parts returned), then the first
    site's store: words when it cannot be used, else None and the sign-in page lists the notes
    it holds unsent."""
    from app.ui.signin_window import complete_in_steps

    if workbench.sandbox is not None:
        workbench.sandbox.begin()
        first.tasks.start("sandbox-start", workbench.sandbox.ready())
    parts = await complete_in_steps(first, workbench)
    loop = asyncio.get_running_loop()
    problem = await loop.run_in_executor(None, factory.open_first_store, workbench.sites[0])
    if problem is None:
        first.controller.show_waiting()
    return parts, problem


def sandbox_unavailable(words: str, asked_to_quit: QuitRequests | None = None) -> int:
    """The embedded sandbox, the only EHR there is, cannot run: the app cannot start. The words
    go to standard error first (a console sees them, and they stand where no window can be
    shown), then into a window until it is closed."""
    from app.bootstrap import EXIT_SANDBOX_UNAVAILABLE
    from app.ui.application import run_cannot_start_window

    log.error("the app cannot start: the embedded sandbox EHR cannot run on this computer")
    sys.stderr.write(f"FHIR Write-back cannot start: {words}\n")
    sys.stderr.flush()
    run_cannot_start_window(words, asked_to_quit)
    return EXIT_SANDBOX_UNAVAILABLE


def run_gui(
    sites_file: Path | None = None,
    force_sandbox: bool = False,
    data_dir: Path | None = None,
    log_level: LogLevel | None = None,
    asked_to_quit: QuitRequests | None = None,
) -> int:
    from app.bootstrap import EXIT_STORE_UNUSABLE, SiteFactory, start_workbench
    from app.embedded_sandbox import SandboxUnavailable
    from app.logging_setup import LogLevelChoice, configure_logging
    from app.paths import AppPaths
    from app.ui.application import run_event_loop, tell_fatal_error
    from app.ui.signin_window import SignInWindow, build_signin_window

    paths = AppPaths.default(data_dir).ensure()
    log_levels = LogLevelChoice(option=log_level)
    configure_logging(paths.log_dir, log_levels.for_site())
    log.info("fhir-writeback %s starting", __version__)
    factory = SiteFactory(paths, log_levels)
    try:
        workbench = start_workbench(sites_file, force_sandbox, paths, log_levels, factory)
    except SandboxUnavailable as exc:  # the only EHR there is cannot run here
        return sandbox_unavailable(exc.user_message, asked_to_quit)
    first: list[SignInWindow] = []
    built: list[Any] = []  # the MainWindowParts (Qt is the UI's business)

    def build():  # type: ignore[no-untyped-def]  # the sign-in window: what paints first
        first.append(build_signin_window(workbench))
        return first[0].window

    async def once_shown(window: Any) -> int | None:  # the window: Qt is the UI's business
        """The rest of the window and the first store (refused in words when damaged); then
        the FHIR models, ~1 s to import, while the clinician signs in."""
        parts, problem = await after_the_paint(first[0], workbench, factory)
        built.append(parts)
        if problem is not None:
            await tell_fatal_error(window, problem)
            return EXIT_STORE_UNUSABLE
        threading.Thread(
            target=_preload_then_settle, name="preload-fhir-models", daemon=True
        ).start()
        return None

    async def shutdown() -> None:
        for parts in built:  # save what was typed before the stores close
            await parts.aclose()
        await workbench.aclose()

    return run_event_loop(build, shutdown, once_shown, asked_to_quit)


if __name__ == "__main__":
    sys.exit(main())
