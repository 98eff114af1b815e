"""Start and stop real servers on 127.0.0.1 for tests: the sandbox EHR and ../shared/peer-ehr.

Each server runs as a child process in its own process group and is stopped by PID
(SIGTERM, then SIGKILL). Output goes to a log file that is printed when start-up fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PEER_DIR = (REPO.parent / "shared" / "peer-ehr").resolve()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    name: str
    fhir_base: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    client_id: str
    redirect_path: str = "/callback"
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        stop_process(self.proc)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_for_line(
    proc: subprocess.Popen[bytes], log_path: Path, pattern: str, timeout: float
) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern, re.M)
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        m = rx.search(text)
        if m:
            return m
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{text[-4000:]}")
        time.sleep(0.05)
    stop_process(proc)
    raise TimeoutError(
        f"server not ready after {timeout}s:\n{log_path.read_text(errors='replace')[-4000:]}"
    )


def start_sandbox(
    workdir: Path,
    *,
    port: int = 0,
    db: Path | None = None,
    token_ttl: int | None = None,
    auto_login: str | None = None,
    timeout: float = 60,
    hl7_to: str | None = None,
    quirks: tuple[str, ...] = (),
) -> RunningServer:
    """``quirks``: per-site behaviour switches (``--quirk``, app/sandbox/quirks.py)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"sandbox-{time.monotonic_ns()}.log"
    args = [sys.executable, "-m", "app.sandbox", "--port", str(port)]
    if db is not None:
        args += ["--db", str(db)]
    if token_ttl is not None:
        args += ["--token-ttl", str(token_ttl)]
    if auto_login is not None:
        args += ["--auto-login", auto_login]
    if hl7_to is not None:
        args += ["--hl7-to", hl7_to]
    for quirk in quirks:
        args += ["--quirk", quirk]
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            args,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    m = _wait_for_line(proc, log_path, r"^FHIR base URL: (\S+)$", timeout)
    return RunningServer("sandbox", m.group(1), proc, log_path, client_id="fhir-writeback")


def peer_available() -> str | None:
    """None when the peer EHR can be started here, else the reason it cannot."""
    if not (PEER_DIR / "start.sh").exists():
        return f"peer EHR not found at {PEER_DIR}"
    if shutil.which("npm") is None:
        return "npm is not installed (needed by ../shared/peer-ehr)"
    return None


def require_peer() -> None:
    """Skip the test where the peer EHR cannot be started; in CI that is a failure."""
    reason = peer_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"peer EHR unavailable in CI: {reason}")
        pytest.skip(reason)


def start_peer(
    workdir: Path,
    *,
    token_ttl: int | None = None,
    auto_login: str | None = None,
    timeout: float = 240,
    **env_overrides: str,
) -> RunningServer:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"peer-{time.monotonic_ns()}.log"
    fhir_port, auth_port = free_port(), free_port()
    env = dict(os.environ, FHIR_PORT=str(fhir_port), AUTH_PORT=str(auth_port))
    if token_ttl is not None:
        env["ACCESS_TOKEN_TTL"] = str(token_ttl)
    if auto_login is not None:
        env["AUTO_LOGIN"] = auto_login
    env.update(env_overrides)
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            ["bash", str(PEER_DIR / "start.sh")],
            cwd=PEER_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _wait_for_line(proc, log_path, r"^ready$", timeout)
    m = re.search(r"^FHIR base URL: (\S+)$", log_path.read_text(), re.M)
    assert m, log_path.read_text()
    return RunningServer(
        "peer",
        m.group(1),
        proc,
        log_path,
        client_id=env.get("CLIENT_ID", "smart-note-app"),
        extra={"issuer": f"http://127.0.0.1:{auth_port}"},
    )


@contextlib.contextmanager
def running(server: RunningServer) -> Iterator[RunningServer]:
    try:
        yield server
    finally:
        server.stop()
