"""Assembles the sandbox EHR (FHIR + SMART authorization) into one WSGI app on one port."""

from __future__ import annotations

import logging
import socket
import tempfile
from dataclasses import replace
from pathlib import Path

from flask import Flask

from app.sandbox.auth import AuthService, create_auth_blueprint
from app.sandbox.clinic_day import ClinicDays
from app.sandbox.contracts import SandboxUrls
from app.sandbox.fhir import FhirStore, create_fhir_blueprint
from app.sandbox.hl7_sender import Hl7Sender
from app.sandbox.large_chart import ensure_large_chart
from app.sandbox.options import SandboxOptions
from app.sandbox.waitress_thread import WaitressThread

log = logging.getLogger(__name__)


class SandboxServer:
    """A running sandbox: ``start()`` binds and serves in a background thread."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self._server: WaitressThread | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self.urls: SandboxUrls | None = None
        self.store: FhirStore | None = None
        self.auth: AuthService | None = None
        self._db_path: Path | None = None
        self.hl7: Hl7Sender | None = None
        self.clinic_days: ClinicDays | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def restart(self) -> str:
        """Start again on the same port and database (after ``stop``): what a restarted EHR
        looks like to the app. Sessions and data persist when ``--db`` was given."""
        if self.running:
            return self.fhir_base
        if self.urls is not None:
            port = int(self.urls.base.rsplit(":", 1)[1])
            self.options = replace(self.options, port=port)
        if self._db_path is not None:
            self.options = replace(self.options, db_path=self._db_path)
        return self.start()

    @property
    def fhir_base(self) -> str:
        if self.urls is None:
            raise RuntimeError("sandbox not started")
        return self.urls.fhir_base

    def start(self, listening: socket.socket | None = None) -> str:
        """Bind, seed (first run) and serve in a daemon thread. Returns the FHIR base URL.
        ``listening``: a socket already bound (and maybe listening) to serve on instead of
        binding ``options.host``/``port``: a caller that had to know the address earlier keeps
        the port from being taken in between. The server owns it from here (``stop`` closes
        it; ``restart`` binds the same port again)."""
        opts = self.options
        # bound first, and here, not by waitress: a port that is taken leaves nothing behind
        # (waitress starts its 8 worker threads and a wake-up pipe before it binds, and leaves
        # them running when the bind fails)
        listening = listening or _bound(opts.host, opts.port)
        db_path = opts.db_path
        if db_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="fhir-sandbox-")
            db_path = Path(self._tmpdir.name) / "sandbox.db"
        self._db_path = db_path
        db_path.parent.mkdir(parents=True, exist_ok=True)

        flask_app = Flask("app.sandbox")
        flask_app.config["MAX_CONTENT_LENGTH"] = opts.max_body_bytes
        self._server = WaitressThread(
            flask_app,
            name="sandbox-http",
            sockets=[listening],
            threads=8,
            ident="fhir-writeback-sandbox",
            # Not asyncore_loop_timeout: waitress casts it to int, so anything below 1 s
            # becomes 0 and the server busy-polls a whole core while idle.
        )
        self.urls = SandboxUrls(base=f"http://{opts.host}:{self._server.port}")

        self.store = FhirStore(db_path)
        self.store.ensure_seeded(opts.seed_path)
        if opts.writes_clinic_day:
            self.clinic_days = ClinicDays(self.store.db)
            self.clinic_days.ensure_today()
            flask_app.before_request(self.clinic_days.ensure_today)
        if opts.writes_large_chart:
            ensure_large_chart(self.store.db)
        if opts.hl7_to is not None:
            self.hl7 = Hl7Sender(self.store.db, *opts.hl7_to)
            self.hl7.start()
        self.auth = AuthService(db_path, self.urls, opts, directory=self.store)
        flask_app.register_blueprint(create_auth_blueprint(self.auth))
        flask_app.register_blueprint(create_fhir_blueprint(self.store, self.urls, self.auth, opts))

        self._server.start()
        log.info("sandbox listening on %s", self.urls.base)
        return self.urls.fhir_base

    def stop(self) -> None:
        if self.hl7 is not None:
            self.hl7.close()
            self.hl7 = None
        server, self._server = self._server, None
        if server is not None:  # the listener and every connection it accepted
            server.stop()
        if self.store is not None:
            self.store.close()
        if self.auth is not None:
            self.auth.close()
        self.store = None
        self.auth = None

    def close(self) -> None:
        """Stop and remove the temporary database, if one was made."""
        self.stop()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None


def _bound(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` as waitress binds one (address reuse on, the
    first address ``host`` resolves to); OSError, with nothing left open, when it cannot be."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock
