"""The offline unlock's keyring entry: who may start this site offline, and their app PIN's
verifier (scrypt, salted), never the PIN. Rules in app.domain.offline_unlock.

One entry per site: service ``fhir-writeback:<site-id>``, username ``(offline unlock)``, beside
the kept session (app.smart.keyring_store). It belongs to the clinician whose session is kept:
an online sign-in by someone else removes it. Blocking calls (the keyring): the session calls
them through ``asyncio.to_thread``.

    enrol(identity, pin)      set (or change) the PIN while signed in online
    touch(user_key, now)      an online sign-in or renewal: the window starts again, wrong
                              tries are forgotten; another clinician: the entry is removed
    unlock(pin, now, window)  the identity, or OfflineUnlockRefused with the words
    forget()                  sign-out
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
from dataclasses import replace
from datetime import datetime, timedelta

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from app.domain.offline_unlock import (
    OfflineIdentity,
    UnlockRefusal,
    pin_problem,
    unlock_refusal,
)
from app.smart.errors import KeyringError, SmartError
from app.smart.keyring_store import SERVICE_PREFIX

ENTRY = "(offline unlock)"
FORMAT_VERSION = 1
SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~50 ms, 16 MB: slow to guess, quick to type


class OfflineUnlockRefused(SmartError):
    """The offline unlock was refused: ``refusal`` says why, ``message`` in words."""

    def __init__(self, refusal: UnlockRefusal) -> None:
        super().__init__(refusal.words, detail=refusal.name)
        self.refusal = refusal


def _verifier(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, dklen=32, **SCRYPT)


class OfflineUnlockStore:
    def __init__(self, site_id: str, *, backend: KeyringBackend | None = None) -> None:
        self.service = f"{SERVICE_PREFIX}{site_id}"
        self._backend = backend

    def _kr(self) -> KeyringBackend:
        return self._backend if self._backend is not None else keyring.get_keyring()

    # ------------------------------------------------------------------ the entry
    def _read(self) -> tuple[OfflineIdentity, bytes, bytes] | None:
        try:
            raw = self._kr().get_password(self.service, ENTRY)
        except keyring.errors.KeyringError as exc:
            raise KeyringError(detail=f"{type(exc).__name__}: {exc}") from exc
        if not raw:
            return None
        try:
            data = json.loads(raw)
            identity = OfflineIdentity(
                user_key=str(data["user_key"]),
                fhir_user=data.get("fhir_user"),
                display_name=data.get("display_name"),
                signed_in_at=datetime.fromisoformat(data["signed_in_at"]),
                wrong_pins=int(data.get("wrong_pins", 0)),
            )
            return identity, base64.b64decode(data["salt"]), base64.b64decode(data["verifier"])
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: as if not set up (an online sign-in sets it again)

    def _write(self, identity: OfflineIdentity, salt: bytes, verifier: bytes) -> None:
        payload = json.dumps(
            {
                "v": FORMAT_VERSION,
                "user_key": identity.user_key,
                "fhir_user": identity.fhir_user,
                "display_name": identity.display_name,
                "signed_in_at": identity.signed_in_at.isoformat(),
                "wrong_pins": identity.wrong_pins,
                "salt": base64.b64encode(salt).decode(),
                "verifier": base64.b64encode(verifier).decode(),
            }
        )
        try:
            self._kr().set_password(self.service, ENTRY, payload)
        except keyring.errors.KeyringError as exc:
            raise KeyringError(detail=f"{type(exc).__name__}: {exc}") from exc

    def load(self) -> OfflineIdentity | None:
        entry = self._read()
        return entry[0] if entry is not None else None

    # ------------------------------------------------------------------ actions
    def enrol(self, identity: OfflineIdentity, pin: str) -> None:
        problem = pin_problem(pin)
        if problem is not None:
            raise SmartError(problem)
        salt = os.urandom(16)
        self._write(replace(identity, wrong_pins=0), salt, _verifier(pin, salt))

    def touch(self, user_key: str, now: datetime) -> None:
        entry = self._read()
        if entry is None:
            return
        identity, salt, verifier = entry
        if identity.user_key != user_key:
            self.forget()  # another clinician signed in here: their PIN is theirs to set
            return
        self._write(replace(identity, signed_in_at=now, wrong_pins=0), salt, verifier)

    def unlock(self, pin: str, now: datetime, window: timedelta) -> OfflineIdentity:
        entry = self._read()
        identity = entry[0] if entry is not None else None
        pin_ok = entry is not None and hmac.compare_digest(_verifier(pin, entry[1]), entry[2])
        refusal = unlock_refusal(identity, pin_ok, now, window)
        if refusal is UnlockRefusal.WRONG_PIN and entry is not None:
            wrong, salt, verifier = entry
            self._write(replace(wrong, wrong_pins=wrong.wrong_pins + 1), salt, verifier)
        if refusal is not None:
            raise OfflineUnlockRefused(refusal)
        assert identity is not None
        return identity

    def forget(self) -> None:
        try:
            with contextlib.suppress(keyring.errors.PasswordDeleteError):
                self._kr().delete_password(self.service, ENTRY)
        except keyring.errors.KeyringError as exc:
            raise KeyringError(detail=f"{type(exc).__name__}: {exc}") from exc
