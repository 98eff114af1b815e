"""SQLite persistence of the authorization server, in the sandbox's database file.

The tables are prefixed ``auth_`` and live next to the FHIR store's tables in the same file
(own connection, own lock), so a sandbox restarted with the same ``--db`` keeps its signing key,
every session that has not expired, and the consents users gave. Each operation is one short
transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.sandbox.auth.records import (
    CodeRecord,
    LoginUser,
    TokenKind,
    TokenRecord,
    UserKind,
    token_hash,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_signing_keys (
    kid TEXT PRIMARY KEY,
    private_jwk TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_codes (
    key TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    user_json TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    nonce TEXT,
    auth_time INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL,
    family_id TEXT
);
CREATE INDEX IF NOT EXISTS auth_codes_nonce ON auth_codes (client_id, nonce);
CREATE TABLE IF NOT EXISTS auth_tokens (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    family_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    user_json TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked_at REAL,
    rotated_at REAL
);
CREATE INDEX IF NOT EXISTS auth_tokens_family ON auth_tokens (family_id);
CREATE TABLE IF NOT EXISTS auth_consents (
    fhir_user TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    granted_at REAL NOT NULL,
    PRIMARY KEY (fhir_user, client_id)
);
"""

# Rows this long past expiry are deleted at start; a revoked token stays until then, so a
# reused code or refresh token is still recognised (and answered invalid_grant) meanwhile.
PRUNE_AFTER_SECONDS = 24 * 3600


def _user_to_json(user: LoginUser) -> str:
    return json.dumps(
        {
            "kind": user.kind.value,
            "id": user.id,
            "display": user.display,
            "patient": user.patient,
            "encounter": user.encounter,
        }
    )


def _user_from_json(text: str) -> LoginUser:
    d = json.loads(text)
    return LoginUser(UserKind(d["kind"]), d["id"], d["display"], d["patient"], d["encounter"])


class AuthStore:
    """Codes, tokens and the signing key. Thread-safe (waitress serves from several threads)."""

    def __init__(self, db_path: Path, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout = 5000")
        with self._lock:
            self._db.executescript(SCHEMA)  # each CREATE ... IF NOT EXISTS is idempotent

    def now(self) -> float:
        return self._clock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:  # one SELECT in autocommit mode is already consistent
            yield self._db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def prune(self) -> None:
        cutoff = self.now() - PRUNE_AFTER_SECONDS
        with self._tx() as db:
            db.execute("DELETE FROM auth_codes WHERE expires_at < ?", (cutoff,))
            db.execute("DELETE FROM auth_tokens WHERE expires_at < ?", (cutoff,))

    # -- signing key
    def load_signing_key(self) -> dict[str, Any] | None:
        with self._read() as db:
            row = db.execute(
                "SELECT private_jwk FROM auth_signing_keys ORDER BY created_at DESC LIMIT 1"
            ).fetchone()
        return json.loads(row["private_jwk"]) if row else None

    def save_signing_key(self, kid: str, private_jwk: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO auth_signing_keys (kid, private_jwk, created_at) VALUES (?, ?, ?)",
                (kid, json.dumps(private_jwk), self.now()),
            )

    # -- authorization codes
    def save_code(self, record: CodeRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO auth_codes (key, client_id, redirect_uri, scope, user_json,"
                " code_challenge, code_challenge_method, nonce, auth_time, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.key,
                    record.client_id,
                    record.redirect_uri,
                    record.scope,
                    _user_to_json(record.user),
                    record.code_challenge,
                    record.code_challenge_method,
                    record.nonce,
                    record.auth_time,
                    record.expires_at,
                ),
            )

    def find_code(self, code: str) -> CodeRecord | None:
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM auth_codes WHERE key = ?", (token_hash(code),)
            ).fetchone()
        if row is None:
            return None
        return CodeRecord(
            key=row["key"],
            client_id=row["client_id"],
            redirect_uri=row["redirect_uri"],
            scope=row["scope"],
            user=_user_from_json(row["user_json"]),
            code_challenge=row["code_challenge"],
            code_challenge_method=row["code_challenge_method"],
            nonce=row["nonce"],
            auth_time=row["auth_time"],
            expires_at=row["expires_at"],
            used_at=row["used_at"],
            family_id=row["family_id"],
        )

    def claim_code(self, record: CodeRecord, family_id: str) -> bool:
        """Mark the code used, atomically: True for exactly one caller, ever."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE auth_codes SET used_at = ?, family_id = ? WHERE key = ? AND used_at IS NULL",
                (self.now(), family_id, record.key),
            )
        return cur.rowcount == 1

    def nonce_seen(self, client_id: str, nonce: str) -> bool:
        with self._read() as db:
            row = db.execute(
                "SELECT 1 FROM auth_codes WHERE client_id = ? AND nonce = ? LIMIT 1",
                (client_id, nonce),
            ).fetchone()
        return row is not None

    # -- tokens
    def save_token(
        self,
        value: str,
        *,
        kind: TokenKind,
        family_id: str,
        client_id: str,
        scope: str,
        user: LoginUser,
        lifetime: float,
    ) -> None:
        now = self.now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO auth_tokens (key, kind, family_id, client_id, scope, user_json,"
                " issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token_hash(value),
                    kind.value,
                    family_id,
                    client_id,
                    scope,
                    _user_to_json(user),
                    now,
                    now + lifetime,
                ),
            )

    def find_token(self, value: str, kind: TokenKind | None = None) -> TokenRecord | None:
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM auth_tokens WHERE key = ?", (token_hash(value),)
            ).fetchone()
        if row is None or (kind is not None and row["kind"] != kind.value):
            return None
        return TokenRecord(
            key=row["key"],
            kind=TokenKind(row["kind"]),
            family_id=row["family_id"],
            client_id=row["client_id"],
            scope=row["scope"],
            user=_user_from_json(row["user_json"]),
            issued_at=row["issued_at"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
            rotated_at=row["rotated_at"],
            now=self.now(),
        )

    def claim_refresh_token(self, record: TokenRecord) -> bool:
        """Mark a live refresh token rotated, atomically: True for exactly one caller."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE auth_tokens SET rotated_at = ? WHERE key = ? AND kind = 'refresh'"
                " AND rotated_at IS NULL AND revoked_at IS NULL",
                (self.now(), record.key),
            )
        return cur.rowcount == 1

    def revoke_token(self, record: TokenRecord) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE auth_tokens SET revoked_at = ? WHERE key = ? AND revoked_at IS NULL",
                (self.now(), record.key),
            )

    def revoke_family(self, family_id: str) -> int:
        """Revoke every token of one sign-in; returns how many were still unrevoked."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE auth_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
                (self.now(), family_id),
            )
        return cur.rowcount

    # -- consent (per user and client: the scopes the user allowed, ever)
    def consented_scopes(self, fhir_user: str, client_id: str) -> frozenset[str]:
        with self._read() as db:
            row = db.execute(
                "SELECT scope FROM auth_consents WHERE fhir_user = ? AND client_id = ?",
                (fhir_user, client_id),
            ).fetchone()
        return frozenset(row["scope"].split()) if row else frozenset()

    def remember_consent(self, fhir_user: str, client_id: str, scopes: list[str]) -> None:
        """Add ``scopes`` to what this user allowed this client (a later, wider request asks
        again; a narrower or equal one does not)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT scope FROM auth_consents WHERE fhir_user = ? AND client_id = ?",
                (fhir_user, client_id),
            ).fetchone()
            known = set(row["scope"].split()) if row else set()
            db.execute(
                "INSERT INTO auth_consents (fhir_user, client_id, scope, granted_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (fhir_user, client_id)"
                " DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
                (fhir_user, client_id, " ".join(sorted(known | set(scopes))), self.now()),
            )
