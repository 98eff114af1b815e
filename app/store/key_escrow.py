"""Optional key escrow: the store's data key, wrapped for clinic IT, kept in the store itself.

When the site gives a *recovery public key* (RSA, 2048 bits or more, PEM), the data key is
encrypted to it with RSA-OAEP (SHA-256) and kept in ``store_meta`` (``key_escrow``: the wrapped
key, and the SHA-256 of the public key so a changed recovery key is noticed). Only the holder
of the matching private key — kept offline by IT — can unwrap it; a thief with the laptop
cannot. If the keyring entry is lost, IT restores it with
``app.store.key_loss.restore_key_from_escrow`` and nothing is lost.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import Connection, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.store.audit_tables import store_meta
from app.store.crypto import DataKey
from app.store.database import Database
from app.store.errors import StoreError

ESCROW = "key_escrow"
MIN_BITS = 2048
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class RecoveryKeyInvalid(StoreError):
    """The configured recovery key, or the one IT offers, cannot be used."""


def _public(pem: bytes) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise RecoveryKeyInvalid(
            "The store recovery key in the site configuration is not a PEM public key. "
            "Ask clinic IT to check it."
        ) from exc
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_BITS:
        raise RecoveryKeyInvalid(
            f"The store recovery key must be an RSA key of at least {MIN_BITS} bits. "
            "Ask clinic IT to check it."
        )
    return key


def fingerprint(public_pem: bytes) -> str:
    der = _public(public_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def ensure_escrow(db: Database, key: DataKey, public_pem: bytes) -> bool:
    """Keep ``key`` wrapped for the recovery key (rewrapped when the recovery key changed).
    Returns True when it wrote something."""
    wanted = fingerprint(public_pem)
    with db.read() as c:
        current = c.execute(select(store_meta.c.text).where(store_meta.c.key == ESCROW)).scalar()
    if current == f"{wanted}:{key.kid}":
        return False
    wrapped = _public(public_pem).encrypt(key.to_entry().encode("ascii"), _OAEP)
    with db.write() as c:
        _put(c, f"{wanted}:{key.kid}", wrapped)
    return True


def unwrap(db: Database, private_pem: bytes, password: bytes | None = None) -> DataKey:
    """The data key from the store's escrow, with IT's private key."""
    with db.read() as c:
        blob = c.execute(select(store_meta.c.blob).where(store_meta.c.key == ESCROW)).scalar()
    if blob is None:
        raise RecoveryKeyInvalid(
            f"The local store {db.path} holds no key for IT recovery (no recovery key was "
            "configured when it was created)."
        )
    try:
        private = serialization.load_pem_private_key(private_pem, password=password)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("not an RSA key")
        return DataKey.from_entry(private.decrypt(bytes(blob), _OAEP).decode("ascii"))
    except (ValueError, TypeError) as exc:
        raise RecoveryKeyInvalid(
            f"This recovery key does not open the local store {db.path} (wrong key or password)."
        ) from exc


def _put(c: Connection, text: str, blob: bytes) -> None:
    stmt = sqlite_insert(store_meta).values(key=ESCROW, text=text, blob=blob)
    c.execute(
        stmt.on_conflict_do_update(
            index_elements=[store_meta.c.key], set_={"text": text, "blob": blob}
        )
    )
