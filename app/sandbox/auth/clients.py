"""Registered OAuth clients of the sandbox (``resources/sandbox/clients.json``).

Redirect URIs match exactly (scheme, host, port, path and query), with one exception from
RFC 8252 section 7.3: a registered ``http`` loopback URI (``127.0.0.1``, ``[::1]`` or
``localhost``) matches the same URI on ANY port, because a native app listens on an ephemeral
port it only learns at sign-in time. The path still has to match exactly, so
``/callback/other`` does not match a registered ``/callback``.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin

from app.sandbox.auth.errors import ClientRegistryError
from app.sandbox.auth.scopes import grantable_scope

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")


def _is_loopback_http(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """Exact match, except that loopback ``http`` URIs match on any port (RFC 8252 7.3)."""
    if registered == requested:
        return True
    if not (_is_loopback_http(registered) and _is_loopback_http(requested)):
        return False
    reg, req = urlsplit(registered), urlsplit(requested)
    try:
        req.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    return (
        reg.hostname == req.hostname
        and reg.path == req.path
        and reg.query == req.query
        and not req.fragment
        and not req.username
        and not req.password
    )


@dataclass(frozen=True)
class SandboxClient(ClientMixin):  # type: ignore[misc]
    """One registered client, in the shape Authlib's grants ask questions of."""

    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str = "none"
    client_secret: str | None = None
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    response_types: tuple[str, ...] = ("code",)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    # -- Authlib ClientMixin
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # SMART requires redirect_uri on every authorization request; never guess one.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        granted = grantable_scope(scope)
        return granted or None  # None: Authlib answers invalid_scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_uri_matches(r, redirect_uri) for r in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret is None:
            return False
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class ClientRegistry:
    """The clients of one sandbox, loaded once at start."""

    def __init__(self, clients: list[SandboxClient]) -> None:
        self._clients = {c.client_id: c for c in clients}

    def get(self, client_id: str | None) -> SandboxClient | None:
        return self._clients.get(client_id or "")

    def all(self) -> list[SandboxClient]:
        return list(self._clients.values())

    @property
    def auth_methods(self) -> list[str]:
        used = {c.token_endpoint_auth_method for c in self._clients.values()}
        return [m for m in AUTH_METHODS if m in used]

    @classmethod
    def load(cls, path: Path) -> ClientRegistry:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ClientRegistryError(f"{path}: the registered-clients file is missing") from exc
        except (OSError, ValueError) as exc:
            raise ClientRegistryError(f"{path}: cannot read it as JSON ({exc})") from exc
        entries = data.get("clients") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not entries:
            raise ClientRegistryError(f'{path}: expected {{"clients": [ ... ]}} with entries')
        return cls([_parse_client(path, i, e) for i, e in enumerate(entries)])


def _parse_client(path: Path, index: int, entry: Any) -> SandboxClient:
    where = f"{path}: clients[{index}]"
    if not isinstance(entry, dict):
        raise ClientRegistryError(f"{where} must be an object")
    client_id = entry.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise ClientRegistryError(f"{where}.client_id must be a non-empty string")
    uris = entry.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise ClientRegistryError(f"{where}.redirect_uris must be a non-empty list of URLs")
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise ClientRegistryError(f"{where}.redirect_uris: {uri!r} is not an absolute URL")
    method = entry.get("token_endpoint_auth_method", "none")
    if method not in AUTH_METHODS:
        raise ClientRegistryError(
            f"{where}.token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}"
        )
    secret = entry.get("client_secret")
    if method != "none" and not (isinstance(secret, str) and secret):
        raise ClientRegistryError(f"{where}.client_secret is required for {method}")
    grant_types = entry.get("grant_types", ["authorization_code", "refresh_token"])
    return SandboxClient(
        client_id=client_id,
        client_name=str(entry.get("client_name") or client_id),
        redirect_uris=tuple(uris),
        token_endpoint_auth_method=method,
        client_secret=secret if method != "none" else None,
        grant_types=tuple(grant_types),
        response_types=tuple(entry.get("response_types", ["code"])),
    )
