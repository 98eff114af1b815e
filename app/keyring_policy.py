"""Which keyring the app may keep refresh tokens in.

Only an OS keyring (Windows Credential Manager, macOS Keychain, Secret Service / KWallet) is
acceptable. The ``keyring`` package happily falls back to plain-text or weakly protected files
(``keyrings.alt``) when no OS keyring is running; the app refuses those and keeps the session in
memory only, telling the clinician they will have to sign in again after a restart.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import fail

log = logging.getLogger(__name__)

NOT_SECURE_MODULES = ("keyrings.alt", "keyring.backends.fail", "keyring.backends.null")


def _members(backend: KeyringBackend) -> list[KeyringBackend]:
    inner = getattr(backend, "backends", None)  # ChainerBackend
    return list(inner) if isinstance(inner, list | tuple) and inner else [backend]


def is_secure(backend: KeyringBackend) -> bool:
    members = _members(backend)
    return bool(members) and all(
        not type(m).__module__.startswith(NOT_SECURE_MODULES) for m in members
    )


def enforce_os_keyring() -> str | None:
    """Replace an insecure default keyring by one that stores nothing. Returns a warning for
    the clinician when that happened, else None."""
    current = keyring.get_keyring()
    if is_secure(current):
        return None
    log.warning(
        "no secure OS keyring (%s); sessions are kept in memory only", type(current).__name__
    )
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    return (
        "No secure system keyring is available on this computer, so you will be asked to "
        "sign in again each time the app starts. Ask IT to enable the system keyring."
    )


class DemoFileKeyring(KeyringBackend):
    """A keyring in a plain JSON file, for the embedded sandbox's SYNTHETIC data only.

    On a computer without an OS keyring the sandbox demo must still work; its store holds no
    real patient data, so its key may live in a file next to it. Never used for a real site:
    there, a missing OS keyring stops the app from opening the store (see docs/security.md).
    """

    priority = 0  # never chosen automatically

    def __init__(self, path: Path) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.path = path

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._read().get(f"{service}\x1f{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._read()
        data[f"{service}\x1f{username}"] = password
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(self.path)

    def delete_password(self, service: str, username: str) -> None:
        data = self._read()
        data.pop(f"{service}\x1f{username}", None)
        self.path.write_text(json.dumps(data), encoding="utf-8")
