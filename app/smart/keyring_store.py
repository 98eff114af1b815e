"""The refresh token's only persistent home: the OS keyring (``keyring`` package).

One entry per site and user: service ``fhir-writeback:<site-id>``, username = the signed-in
user's key (the id_token ``sub``, else ``fhirUser``). The entry's secret is a small JSON
object holding the refresh token and the (non-secret) verified identity needed to restore the
session at start-up. A second entry, username ``(last user)``, remembers whose entry to
restore. Nothing here is ever written to a file by this app.

The ``keyring`` calls are blocking (D-Bus, Windows Credential Manager); the session calls
them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from app.smart.errors import KeyringError

SERVICE_PREFIX = "fhir-writeback:"
LAST_USER = "(last user)"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class StoredSession:
    user_key: str
    refresh_token: str = field(repr=False)
    fhir_user: str | None = None
    subject: str | None = None
    display_name: str | None = None


class RefreshTokenStore:
    """Keyring entries of one site. ``backend`` defaults to the OS keyring."""

    def __init__(self, site_id: str, *, backend: KeyringBackend | None = None) -> None:
        self.service = f"{SERVICE_PREFIX}{site_id}"
        self._backend = backend

    def _kr(self) -> KeyringBackend:
        return self._backend if self._backend is not None else keyring.get_keyring()

    def save(self, stored: StoredSession) -> None:
        payload = json.dumps(
            {
                "v": FORMAT_VERSION,
                "refresh_token": stored.refresh_token,
                "fhir_user": stored.fhir_user,
                "subject": stored.subject,
                "display_name": stored.display_name,
            }
        )
        try:
            # the token entry first: a crash in between leaves the old pointer, never a
            # pointer to nothing
            self._kr().set_password(self.service, stored.user_key, payload)
            self._kr().set_password(self.service, LAST_USER, stored.user_key)
        except keyring.errors.KeyringError as exc:
            raise KeyringError(detail=f"{type(exc).__name__}: {exc}") from exc

    def load(self, user_key: str | None = None) -> StoredSession | None:
        """The given user's entry, or the last signed-in user's; None when there is none."""
        try:
            key = user_key or self._kr().get_password(self.service, LAST_USER)
            if not key:
                return None
            raw = self._kr().get_password(self.service, key)
        except keyring.errors.KeyringError as exc:
            raise KeyringError(detail=f"{type(exc).__name__}: {exc}") from exc
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            return None
        token = data.get("refresh_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            return None
        return StoredSession(
            user_key=key,
            refresh_token=token,
            fhir_user=_opt(data.get("fhir_user")),
            subject=_opt(data.get("subject")),
            display_name=_opt(data.get("display_name")),
        )

    def delete(self, user_key: str) -> None:
        kr = self._kr()
        try:
            for username in (user_key, LAST_USER):
                if username == LAST_USER and kr.get_password(self.service, LAST_USER) != user_key:
                    continue
                with contextlib.suppress(keyring.errors.PasswordDeleteError):  # already gone
                    kr.delete_password(self.service, username)
        except keyring.errors.KeyringError as exc:
            raise KeyringError(detail=f"{type(exc).__name__}: {exc}") from exc


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
