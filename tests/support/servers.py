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
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Ports free a moment ago, all different (each held until all are picked). Another
    process may still take one before it is used: ``start_peer`` then starts again."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


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


PEER_START_ATTEMPTS = 3


def start_peer(
    workdir: Path,
    *,
    token_ttl: int | None = None,
    auto_login: str | None = None,
    timeout: float = 240,
    **env_overrides: str,
) -> RunningServer:
    """The peer EHR on two ports free a moment ago. It prints "ready" before it knows it has
    them; when one was taken in between (by any process of this busy machine) it dies just
    after, so it is only returned once both ports answer with it still running, and is started
    again on other ports when it lost one (once a test's "cannot be reached" under load)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for _attempt in range(PEER_START_ATTEMPTS - 1):
        with contextlib.suppress(PortTaken):
            return _start_peer_once(workdir, token_ttl, auto_login, timeout, env_overrides)
    return _start_peer_once(workdir, token_ttl, auto_login, timeout, env_overrides)


class PortTaken(RuntimeError):
    pass


def _start_peer_once(
    workdir: Path,
    token_ttl: int | None,
    auto_login: str | None,
    timeout: float,
    env_overrides: dict[str, str],
) -> RunningServer:
    log_path = workdir / f"peer-{time.monotonic_ns()}.log"
    fhir_port, auth_port = free_ports(2)
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
    _wait_until_it_listens(proc, log_path, (fhir_port, auth_port))
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


def _wait_until_it_listens(
    proc: subprocess.Popen[bytes], log_path: Path, ports: tuple[int, ...], timeout: float = 30
) -> None:
    """Until the process itself listens on every port (not merely: something accepts there,
    which a port another process took does too). PortTaken when it lost a port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if set(ports) <= listening_ports(proc.pid):
            return
        time.sleep(0.05)
    stop_process(proc)
    text = log_path.read_text(errors="replace")
    if "EADDRINUSE" in text:
        raise PortTaken(f"a port was taken before the peer EHR could listen:\n{text[-2000:]}")
    raise RuntimeError(f"the peer EHR said ready but does not listen:\n{text[-4000:]}")


def listening_ports(pid: int) -> set[int]:
    """The IPv4 TCP ports the process ``pid`` listens on (Linux: its sockets in /proc)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and inode in inodes:  # 0A: LISTEN
            ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


@contextlib.contextmanager
def running(server: RunningServer) -> Iterator[RunningServer]:
    try:
        yield server
    finally:
        server.stop()
