"""Errors of the sandbox authorization server that are not OAuth protocol errors.

    SandboxAuthError              base of everything below
    ├── ClientRegistryError       clients.json is missing or invalid (names the file and the key)
    └── UnknownLoginError         --auto-login (or a login form) names nobody in the directory

OAuth protocol errors are Authlib's ``OAuth2Error`` subclasses (``invalid_grant``,
``invalid_request``, ...). They are answered to the client as RFC 6749 JSON from the token,
revocation and introspection endpoints, as a redirect with ``error=`` from the authorization
endpoint once the redirect URI is trusted, and as an HTML page before that.
"""

from __future__ import annotations


class SandboxAuthError(Exception):
    """Base class: a problem with the sandbox's own authorization set-up."""


class ClientRegistryError(SandboxAuthError):
    """The registered-clients file cannot be used; the message says which file and what to fix."""


class UnknownLoginError(SandboxAuthError):
    """A login names a user who is neither a Practitioner nor a Patient of the sandbox."""
