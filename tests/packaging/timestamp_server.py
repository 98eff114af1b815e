"""A throwaway RFC 3161 timestamp authority on 127.0.0.1, for the signing tests.

Real HTTP: osslsigncode posts its timestamp query here; ``openssl ts -reply`` answers it,
signed with a TSA certificate made for the test. Never use it for anything real.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.support.http_thread import ClosingHTTPServer, serving

CONFIG = """[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {folder}
serial = $dir/serial
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass(frozen=True)
class TimestampAuthority:
    url: str
    certificate: Path  # to verify the timestamps (osslsigncode verify -TSA-CAfile)
    requests: list[bytes]  # the queries it answered


def _make_tsa(folder: Path) -> Path:
    key, certificate = str(folder / "tsa.key"), str(folder / "tsa.crt")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", key, "-out", certificate),
            *("-subj", "/CN=FHIR Write-back TEST timestamps (not trusted)"),
            *("-addext", "extendedKeyUsage=critical,timeStamping"),
            *("-addext", "keyUsage=critical,digitalSignature"),
        ],
        check=True,
        capture_output=True,
    )
    (folder / "serial").write_text("01\n", encoding="ascii")
    config = folder / "tsa.cnf"
    config.write_text(CONFIG.format(folder=folder), encoding="ascii")
    return config


@contextmanager
def timestamp_authority(folder: Path) -> Iterator[TimestampAuthority]:
    config = _make_tsa(folder)
    requests: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers["Content-Length"]))
            requests.append(query)
            with tempfile.TemporaryDirectory() as work:
                (Path(work) / "q.tsq").write_bytes(query)
                subprocess.run(
                    [
                        *("openssl", "ts", "-reply", "-config", str(config)),
                        *("-queryfile", f"{work}/q.tsq", "-out", f"{work}/r.tsr"),
                    ],
                    check=True,
                    capture_output=True,
                )
                reply = (Path(work) / "r.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(ClosingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        yield TimestampAuthority(f"http://127.0.0.1:{server.port}", folder / "tsa.crt", requests)
