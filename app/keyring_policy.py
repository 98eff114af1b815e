"""Which keyring the app may keep refresh tokens and store keys in: an allow-list.

Only the OS keyrings the ``keyring`` package ships are accepted, matched by the class itself
(never by a module or class name, which any third-party module can copy):

    Windows Credential Manager   keyring.backends.Windows.WinVaultKeyring
    macOS Keychain               keyring.backends.macOS.Keyring
    Secret Service (GNOME ...)   keyring.backends.SecretService.Keyring,
                                 keyring.backends.libsecret.Keyring (the same store via libsecret)
    KWallet                      keyring.backends.kwallet.DBusKeyring, .DBusKeyringKWallet4

Everything else is refused: the ``keyrings.alt`` file and "encrypted" file backends, the null
and fail backends, any third-party backend or subclass. ``keyring``'s chainer is accepted only
when every backend it chains is on the list; when only some are, the app uses the best OS one
of them alone (a chainer falls through to the next backend, which could be a plain file).

When no OS keyring is left, the app installs a keyring that stores nothing: a real site then
keeps no session and opens no store (one plain sentence tells the clinician why). The embedded
sandbox, which holds synthetic patients only, keeps its store key in ``DemoFileKeyring``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import SecretService, Windows, chainer, fail, kwallet, libsecret, macOS

log = logging.getLogger(__name__)

OS_KEYRINGS: frozenset[type[KeyringBackend]] = frozenset(
    {
        Windows.WinVaultKeyring,
        macOS.Keyring,
        SecretService.Keyring,
        libsecret.Keyring,
        kwallet.DBusKeyring,
        kwallet.DBusKeyringKWallet4,
    }
)

NO_OS_KEYRING = (
    "This computer has no secure password store (keyring) such as Windows Credential Manager "
    "or macOS Keychain, so you will sign in each time the app starts, and notes for a real EHR "
    "cannot be kept here until clinic IT sets one up."
)


def is_os_keyring(backend: KeyringBackend) -> bool:
    """Exactly one of the OS keyring classes of the ``keyring`` package (no subclass)."""
    return type(backend) in OS_KEYRINGS


def _chained(backend: KeyringBackend) -> list[KeyringBackend] | None:
    """The backends a ``keyring`` chainer would use, best first; None for anything else."""
    if type(backend) is not chainer.ChainerBackend:
        return None
    return list(chainer.ChainerBackend.backends)


def is_secure(backend: KeyringBackend) -> bool:
    """An OS keyring, or a chainer of OS keyrings only."""
    chained = _chained(backend)
    if chained is None:
        return is_os_keyring(backend)
    return bool(chained) and all(is_os_keyring(b) for b in chained)


def os_keyring_in(backend: KeyringBackend) -> KeyringBackend | None:
    """The keyring to use instead of ``backend``: itself when secure, else the best OS keyring
    it chains, else None."""
    if is_secure(backend):
        return backend
    chained = _chained(backend) or []
    return next((b for b in chained if is_os_keyring(b)), None)


def _describe(backend: KeyringBackend) -> str:
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}"


def enforce_os_keyring() -> str | None:
    """Make the process keyring an OS keyring, or one that stores nothing. Returns the one
    sentence for the clinician when there is no OS keyring, else None."""
    current = keyring.get_keyring()
    chosen = os_keyring_in(current)
    if chosen is current:
        return None
    if chosen is not None:
        log.info(
            "keyring: using %s alone (%s also chains non-OS keyrings)",
            _describe(chosen),
            _describe(current),
        )
        keyring.set_keyring(chosen)
        return None
    log.warning("no OS keyring (%s refused); nothing is kept outside memory", _describe(current))
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    return NO_OS_KEYRING


class DemoFileKeyring(KeyringBackend):
    """A keyring in a plain JSON file, for the embedded sandbox's SYNTHETIC data only.

    On a computer without an OS keyring the sandbox demo must still work; its store holds no
    real patient data, so its key may live in a file next to it. Never used for a real site:
    there, a missing OS keyring stops the app from opening the store (see docs/security.md).
    ``is_secure`` refuses it like any other file keyring.
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
