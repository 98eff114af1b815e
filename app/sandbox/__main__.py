"""python -m app.sandbox: run the sandbox EHR until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from app.sandbox.auth.errors import SandboxAuthError
from app.sandbox.hl7_sender import parse_target
from app.sandbox.options import SandboxOptions
from app.sandbox.quirks import Quirk, parse_quirks
from app.sandbox.server import SandboxServer


def parse_args(argv: list[str] | None = None) -> SandboxOptions:
    p = argparse.ArgumentParser(
        prog="python -m app.sandbox",
        description="Embedded sandbox EHR: SMART App Launch authorization server + FHIR R4 server "
        "with synthetic patients. Prints 'FHIR base URL: <url>' when ready.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default 0)")
    p.add_argument("--db", type=Path, default=None, help="SQLite file; persistent across restarts")
    p.add_argument("--token-ttl", type=int, default=3600, help="access token lifetime in seconds")
    p.add_argument(
        "--auto-login",
        metavar="PRACTITIONER_ID",
        default=None,
        help="skip the login page and sign in as this user",
    )
    p.add_argument(
        "--hl7-to",
        metavar="HOST:PORT",
        default=None,
        help="send HL7 v2 events (ADT when encounters change, ORU for new lab results) over "
        "MLLP to this listener",
    )
    p.add_argument(
        "--quirk",
        action="append",
        default=[],
        metavar="NAME",
        help="behave like a particular kind of vendor site (repeatable): "
        + ", ".join(q.value for q in Quirk),
    )
    a = p.parse_args(argv)
    if a.token_ttl < 1:
        p.error("--token-ttl must be at least 1 second")
    try:
        hl7_to = parse_target(a.hl7_to) if a.hl7_to else None
    except ValueError as exc:
        p.error(str(exc))
    try:
        quirks = parse_quirks(a.quirk)
    except ValueError as exc:
        p.error(str(exc))
    return SandboxOptions(
        host=a.host,
        port=a.port,
        db_path=a.db,
        token_ttl=a.token_ttl,
        auto_login=a.auto_login,
        hl7_to=hl7_to,
        quirks=quirks,
    )


def cannot_listen(options: SandboxOptions, exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    return (
        f"sandbox: cannot listen on {options.host}:{options.port} ({reason}). Stop the program "
        "that uses this port, or choose another --port (0 picks a free one)."
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    server = SandboxServer(options)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        base = server.start()
    except SandboxAuthError as exc:  # bad --auto-login id, broken clients.json
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken, or the system refuses it: words, no traceback
        with contextlib.suppress(Exception):
            server.close()
        print(cannot_listen(options, exc), file=sys.stderr)
        return 1
    print(f"FHIR base URL: {base}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
