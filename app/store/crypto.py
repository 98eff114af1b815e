"""Field-level encryption of the store's content: AES-256-GCM, key kept in the OS keyring.

Every column that can hold PHI (draft bodies, outbox payloads, review decisions, conflict
copies, audit details) is a blob sealed by :class:`AesGcmProtector` before SQLite ever sees it,
so the database file, its WAL, its shared-memory file and SQLite's temp files only hold
ciphertext for those columns. Why field-level AES-GCM and not SQLCipher: docs/security.md.

Sealed value (``format_id`` 2 in the row's ``*_format`` column)::

    0x01 (layout) | key id (4 bytes) | nonce (12 random bytes) | ciphertext | GCM tag (16 bytes)

The associated data binds the value to where it belongs: ``b"fhir-writeback/store\\0" + layout +
key id + b"\\0" + context`` where ``context`` is the row's identity given by the repository
(draft id, ``<commit>.<position>``, ``<commit>:decision``, ``audit:<seq>``...). A value copied
into another row, or edited by one bit, fails authentication (:class:`SealBroken`).

The data key: 32 random bytes made on first run, one per store, in the OS keyring under
service ``fhir-writeback:store-key`` and username ``store-<store id>`` (the store id is a random
UUID kept in the store file, so moving the profile folder does not lose the key). The entry is
JSON ``{"v": 1, "kid": "<8 hex>", "key": "<base64>"}``. Random 96-bit nonces are safe far beyond
this app's volume (NIST's 2^32 messages per key).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import keyring
import keyring.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from keyring.backend import KeyringBackend

from app.store.crypto_errors import SealBroken, StoreKeyUnavailable

FORMAT_ID = 2  # PlainPayload is 1
LAYOUT = 1
KEY_SERVICE = "fhir-writeback:store-key"
KEY_BYTES = 32
KEY_ID_BYTES = 4
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = 1 + KEY_ID_BYTES + NONCE_BYTES
_AAD_PREFIX = b"fhir-writeback/store\x00"


@dataclass(frozen=True)
class DataKey:
    """One store's data key. ``key_id`` is public (stored in every sealed value)."""

    key_id: bytes
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key_id) != KEY_ID_BYTES or len(self.secret) != KEY_BYTES:
            raise ValueError("a store key is 4 id bytes and 32 secret bytes")

    @classmethod
    def generate(cls) -> DataKey:
        return cls(os.urandom(KEY_ID_BYTES), AESGCM.generate_key(bit_length=256))

    @property
    def kid(self) -> str:
        return self.key_id.hex()

    def to_entry(self) -> str:
        return json.dumps(
            {"v": 1, "kid": self.kid, "key": base64.b64encode(self.secret).decode("ascii")}
        )

    @classmethod
    def from_entry(cls, text: str) -> DataKey:
        """Parse a keyring entry; ValueError when it is not one of ours."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != 1:
                raise ValueError("unknown store key entry version")
            return cls(
                bytes.fromhex(str(data["kid"])),
                base64.b64decode(str(data["key"]), validate=True),
            )
        except (KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
            raise ValueError(f"unreadable store key entry ({type(exc).__name__})") from None

    def derive(self, purpose: str) -> bytes:
        """A separate 32-byte key for ``purpose`` (HKDF-SHA256), e.g. the audit seal."""
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=self.key_id,
            info=b"fhir-writeback " + purpose.encode("ascii"),
        )
        return hkdf.derive(self.secret)


class AesGcmProtector:
    """``PayloadProtector`` (app.store.database) sealing values with AES-256-GCM.

    ``previous`` keys can still open values sealed before a key rotation; new values are always
    sealed with ``key``.
    """

    format_id = FORMAT_ID

    def __init__(self, key: DataKey, *, previous: Sequence[DataKey] = ()) -> None:
        self.key = key
        self._ciphers = {k.key_id: AESGCM(k.secret) for k in (*previous, key)}
        self._current = self._ciphers[key.key_id]

    @property
    def key_id(self) -> str:
        return self.key.kid

    def audit_key(self) -> bytes:
        """The key that seals the audit chain's hashes (app.domain.audit)."""
        return self.key.derive("audit-seal")

    def protect(self, plaintext: bytes, *, context: bytes) -> bytes:
        header = bytes([LAYOUT]) + self.key.key_id + os.urandom(NONCE_BYTES)
        aad = _aad(header, context)
        return header + self._current.encrypt(header[1 + KEY_ID_BYTES :], plaintext, aad)

    def unprotect(self, stored: bytes, *, context: bytes) -> bytes:
        where = context.decode("utf-8", "replace")
        stored = bytes(stored)
        if len(stored) < _HEADER + TAG_BYTES or stored[0] != LAYOUT:
            raise SealBroken(where, "it is not a value this app sealed")
        header = stored[:_HEADER]
        cipher = self._ciphers.get(header[1 : 1 + KEY_ID_BYTES])
        if cipher is None:
            raise SealBroken(where, "it was sealed with another key")
        try:
            return cipher.decrypt(
                header[1 + KEY_ID_BYTES :], stored[_HEADER:], _aad(header, context)
            )
        except InvalidTag:
            raise SealBroken(where, "it was altered or moved from another record") from None


def _aad(header: bytes, context: bytes) -> bytes:
    return _AAD_PREFIX + header[: 1 + KEY_ID_BYTES] + b"\x00" + context


class StoreKeyring:
    """Data keys in the OS keyring. ``backend`` defaults to the process's keyring (the app
    replaces an insecure one by a failing one at start-up: app.keyring_policy)."""

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend

    def _kr(self) -> KeyringBackend:
        return self._backend if self._backend is not None else keyring.get_keyring()

    @staticmethod
    def username(store_id: str) -> str:
        return f"store-{store_id}"

    def load(self, store_id: str) -> DataKey | None:
        """The key of store ``store_id``; None when the keyring has no entry for it.

        Raises StoreKeyUnavailable when the keyring itself cannot be used (locked, absent), and
        for an entry that is present but unreadable (never treated as "no key": that would
        start the key-loss path for a keyring problem).
        """
        try:
            raw = self._kr().get_password(KEY_SERVICE, self.username(store_id))
        except keyring.errors.KeyringError as exc:
            raise StoreKeyUnavailable(f"{type(exc).__name__}") from exc
        if raw is None:
            return None
        try:
            return DataKey.from_entry(raw)
        except ValueError as exc:
            raise StoreKeyUnavailable(f"keyring entry unreadable: {exc}") from None

    def save(self, store_id: str, key: DataKey) -> None:
        try:
            self._kr().set_password(KEY_SERVICE, self.username(store_id), key.to_entry())
        except keyring.errors.KeyringError as exc:
            raise StoreKeyUnavailable(f"{type(exc).__name__}") from exc

    def delete(self, store_id: str) -> None:
        try:
            self._kr().delete_password(KEY_SERVICE, self.username(store_id))
        except keyring.errors.PasswordDeleteError:
            return
        except keyring.errors.KeyringError as exc:
            raise StoreKeyUnavailable(f"{type(exc).__name__}") from exc
