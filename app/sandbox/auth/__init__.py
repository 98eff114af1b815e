"""The sandbox's SMART App Launch 2.x authorization server (standalone launch).

service.py       AuthService: assembles everything; TokenVerifier for the FHIR side
views.py         the Flask blueprint (/auth/..., /fhir/.well-known/smart-configuration)
oauth_server.py  Authlib AuthorizationServer wired to the store; opaque token generator
grants.py        code grant (PKCE S256 required, aud, single-use codes), refresh rotation
oidc.py          id_token (RS256, fhirUser)      endpoints.py  revoke, introspect, iss
login.py         who can sign in, launch context pages.py     login/consent/error HTML
clients.py       registered clients, redirect URI matching (loopback: any port)
scopes.py        SMART v1/v2 scope policy        storage.py   SQLite tables auth_*
keys.py          the persisted signing key       records.py   what is stored
errors.py        set-up errors (the OAuth errors are Authlib's)
"""

from app.sandbox.auth.service import AuthService
from app.sandbox.auth.views import create_auth_blueprint

__all__ = ["AuthService", "create_auth_blueprint"]
