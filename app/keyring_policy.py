"""Which keyring the app may keep refresh tokens in.

Only an OS keyring (Windows Credential Manager, macOS Keychain, Secret Service / KWallet) is
acceptable. The ``keyring`` package happily falls back to plain-text or weakly protected files
(``keyrings.alt``) when no OS keyring is running; the app refuses those and keeps the session in
memory only, telling the clinician they will have to sign in again after a restart.
"""

from __future__ import annotations

import logging

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
