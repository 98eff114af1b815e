"""AuthService: the sandbox's SMART authorization server as one object the server assembles."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.sandbox.auth.clients import ClientRegistry
from app.sandbox.auth.discovery import openid_configuration, smart_configuration
from app.sandbox.auth.errors import UnknownLoginError
from app.sandbox.auth.keys import SigningKey
from app.sandbox.auth.login import LoginDirectory
from app.sandbox.auth.oauth_server import SmartAuthorizationServer
from app.sandbox.auth.records import TokenKind
from app.sandbox.auth.storage import AuthStore
from app.sandbox.contracts import Directory, SandboxUrls, TokenClaims
from app.sandbox.options import SandboxOptions
from app.sandbox.quirks import Quirk


class AuthService:
    """Issues and checks the sandbox's tokens; implements ``contracts.TokenVerifier``.

    State (signing key, codes, tokens, revocations) is kept in ``db_path`` in ``auth_*``
    tables, so a restart with the same database keeps live sessions valid.
    """

    def __init__(
        self,
        db_path: Path,
        urls: SandboxUrls,
        options: SandboxOptions,
        directory: Directory,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.urls = urls
        self.options = options
        self.logins = LoginDirectory(directory)
        self.auto_login = options.auto_login
        if self.auto_login is not None:
            try:
                self.logins.check(self.auto_login)
            except UnknownLoginError as exc:
                raise UnknownLoginError(f"--auto-login {self.auto_login}: {exc}") from exc
        self.clients = ClientRegistry.load(options.clients_path)
        self.store = AuthStore(db_path, clock)
        self.store.prune()
        self.key = SigningKey(self.store)
        self.server = SmartAuthorizationServer(
            store=self.store,
            clients=self.clients,
            key=self.key,
            urls=urls,
            token_ttl=options.token_ttl,
            issue_refresh_tokens=Quirk.NO_REFRESH_TOKEN not in options.quirks,
        )

    def verify_access_token(self, token: str) -> TokenClaims | None:
        if not token:
            return None
        record = self.store.find_token(token, TokenKind.ACCESS)
        if record is None or not record.is_live:
            return None
        return TokenClaims(
            client_id=record.client_id,
            scope=record.scope,
            subject=record.user.id,
            fhir_user=record.user.fhir_user,
            patient=record.user.patient,
            encounter=record.user.encounter,
            expires_at=record.expires_at,
        )

    def smart_configuration(self) -> dict[str, Any]:
        return smart_configuration(self.urls, self.clients)

    def openid_configuration(self) -> dict[str, Any]:
        return openid_configuration(self.urls, self.clients)

    def jwks(self) -> dict[str, Any]:
        return self.key.jwks()

    def close(self) -> None:
        self.store.close()
