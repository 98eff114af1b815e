"""What the authorization server declares: SMART configuration and OpenID metadata."""

from __future__ import annotations

from typing import Any

from app.sandbox.auth.clients import ClientRegistry
from app.sandbox.auth.keys import ALGORITHM
from app.sandbox.auth.scopes import ADVERTISED_SCOPES
from app.sandbox.contracts import SandboxUrls

CAPABILITIES = (
    "launch-standalone",
    "client-public",
    "context-standalone-patient",
    "context-standalone-encounter",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "sso-openid-connect",
    "context-banner",
)


def smart_configuration(urls: SandboxUrls, clients: ClientRegistry) -> dict[str, Any]:
    """``<fhir base>/.well-known/smart-configuration`` (SMART App Launch 2.x)."""
    auth_methods = clients.auth_methods
    capabilities = list(CAPABILITIES)
    if any(m != "none" for m in auth_methods):
        capabilities.insert(2, "client-confidential-symmetric")
    return {
        "issuer": urls.issuer,
        "jwks_uri": urls.jwks,
        "authorization_endpoint": urls.authorize,
        "token_endpoint": urls.token,
        "revocation_endpoint": urls.revoke,
        "introspection_endpoint": urls.introspect,
        "userinfo_endpoint": urls.userinfo,
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(ADVERTISED_SCOPES),
        "capabilities": capabilities,
        "authorization_response_iss_parameter_supported": True,
        "id_token_signing_alg_values_supported": [ALGORITHM],
    }


def openid_configuration(urls: SandboxUrls, clients: ClientRegistry) -> dict[str, Any]:
    """``<issuer>/.well-known/openid-configuration`` for clients that verify id_tokens."""
    smart = smart_configuration(urls, clients)
    keep = (
        "issuer",
        "jwks_uri",
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "userinfo_endpoint",
        "grant_types_supported",
        "response_types_supported",
        "token_endpoint_auth_methods_supported",
        "code_challenge_methods_supported",
        "scopes_supported",
        "authorization_response_iss_parameter_supported",
        "id_token_signing_alg_values_supported",
    )
    return {
        **{k: smart[k] for k in keep},
        "subject_types_supported": ["public"],
        "claims_supported": ["sub", "fhirUser", "name", "iss", "aud", "exp", "iat", "nonce"],
    }
