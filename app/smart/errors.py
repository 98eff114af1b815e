"""Errors of the SMART sign-in layer. Every one carries a ``message`` a clinician can act on.

    SmartError                      base: ``.message`` (what happened + what to do), ``.detail``
    ├── SiteConfigError             sites.toml is wrong: names the file, the key and the problem
    ├── NetworkError                the EHR cannot be reached (refused, DNS, timeout, proxy)
    │   ├── CertificateError        TLS certificate could not be verified
    │   └── SignInServiceUnavailable  renewing the session failed for now (token endpoint
    │                               5xx/429, or a page that is not a token): still signed in
    ├── DiscoveryError              no usable SMART configuration at the FHIR base
    ├── BrowserError                the system browser could not be opened
    ├── AuthorizationError          the authorization step (browser round trip) failed
    │   ├── AccessDenied            the clinician (or the EHR) declined access
    │   ├── InvalidClient           the EHR does not know this app / its redirect address
    │   ├── StateMismatch           the browser answer does not belong to this sign-in
    │   ├── IssuerMismatch          the answer came from a different authorization server
    │   ├── SignInCancelled         Cancel was pressed
    │   └── SignInTimedOut          nobody finished the sign-in in the browser in time
    ├── TokenError                  the token endpoint refused (bad code, PKCE, grant)
    ├── SignInRequired              the session cannot be refreshed: sign in again
    ├── IdentityError               the id_token failed verification
    └── KeyringError                the OS password store is unavailable

``SignInRequired`` is not a failure of queued work: the sync layer waits for
``SmartSession.wait_until_signed_in()`` and retries.
"""

from __future__ import annotations


class SmartError(Exception):
    """Base of the tree. ``message`` is for people; ``detail`` is for support staff and logs."""

    default_message = "Signing in to the EHR failed."

    def __init__(self, message: str | None = None, *, detail: str | None = None) -> None:
        self.message = message or self.default_message
        self.detail = detail
        super().__init__(self.message if detail is None else f"{self.message} ({detail})")

    @property
    def user_message(self) -> str:
        """``message`` under the name every layer's errors use (app.domain.errors.words_for)."""
        return self.message


class SiteConfigError(SmartError):
    def __init__(self, file: str, key: str | None, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        where = f"{file}, key '{key}'" if key else file
        super().__init__(
            f"The site configuration is wrong: {where}: {problem}. "
            "Ask clinic IT to correct the file (see docs/sign-in.md)."
        )


class NetworkError(SmartError):
    default_message = (
        "The EHR cannot be reached. Check the network connection (and proxy), then try again."
    )


class CertificateError(NetworkError):
    default_message = (
        "The EHR's security certificate could not be verified, so the app did not connect. "
        "Ask clinic IT to check the server certificate or to configure the clinic's CA bundle "
        "(ca_bundle in sites.toml)."
    )


class SignInServiceUnavailable(NetworkError):
    """Transient: the session and its refresh token are intact; the caller tries again
    (after ``retry_after`` seconds when the EHR said so)."""

    default_message = (
        "The EHR's sign-in service could not renew your session just now. You are still signed "
        "in; the app will try again."
    )

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, detail=detail)


class DiscoveryError(SmartError):
    default_message = (
        "The EHR did not describe how to sign in (no SMART configuration found). "
        "Ask clinic IT to check the FHIR base URL in the site configuration."
    )


class BrowserError(SmartError):
    default_message = (
        "The web browser could not be opened for sign-in. "
        "Copy the sign-in link into a browser, or ask clinic IT to set a default browser."
    )


class AuthorizationError(SmartError):
    default_message = "The EHR did not complete the sign-in. Try again."


class AccessDenied(AuthorizationError):
    default_message = (
        "Access was declined in the EHR sign-in page, so you are not signed in. "
        "Sign in again and allow access, or ask clinic IT whether your account may use this app."
    )


class InvalidClient(AuthorizationError):
    default_message = (
        "The EHR does not accept this app's registration (client id or redirect address). "
        "Ask clinic IT to check client_id and redirect_path in the site configuration."
    )


class StateMismatch(AuthorizationError):
    default_message = (
        "The browser returned an answer that does not belong to this sign-in, so it was "
        "ignored for your safety. Close old sign-in tabs and sign in again."
    )


class IssuerMismatch(AuthorizationError):
    default_message = (
        "The sign-in answer came from a different authorization server than the EHR "
        "declared, so it was refused. Sign in again; if it repeats, tell clinic IT."
    )


class SignInCancelled(AuthorizationError):
    default_message = "Sign-in was cancelled."


class SignInTimedOut(AuthorizationError):
    default_message = (
        "Sign-in was not finished in the browser in time. Sign in again; if the browser shows "
        "an error page, tell clinic IT what it says."
    )


class TokenError(SmartError):
    default_message = (
        "The EHR refused to complete the sign-in. Sign in again; if it repeats, tell clinic IT."
    )

    def __init__(
        self, message: str | None = None, *, detail: str | None = None, error: str | None = None
    ) -> None:
        self.error = error  # the OAuth error code, for example "invalid_grant"
        super().__init__(message, detail=detail)


class SignInRequired(SmartError):
    default_message = (
        "Your EHR session has ended. Sign in again; nothing waiting to be sent is lost."
    )


class IdentityError(SmartError):
    default_message = (
        "The EHR's statement of who you are could not be verified, so you were not signed in. "
        "Try again; if it repeats, tell clinic IT."
    )


class KeyringError(SmartError):
    default_message = (
        "The system password store (keyring) is not available, so you will have to sign in "
        "each time the app starts. Ask clinic IT to enable it."
    )
