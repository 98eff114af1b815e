"""The one shared ``httpx.AsyncClient`` per site, and network failures in plain words.

TLS verification cannot be turned off: there is deliberately no parameter for it. A site may
add its clinic CA bundle, which is trusted *in addition to* the public CAs (certifi).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx

from app import __version__
from app._user_files import UserFileError
from app.domain.errors import TextEncodingError
from app.domain.site import Site
from app.smart.errors import CertificateError, NetworkError, SiteConfigError
from app.smart.http_log import HttpTrail, log_failure
from app.smart.sites import ca_bundle_problem, read_ca_bundle

# What httpx accepts as cookies (its own alias lives in the private ``httpx._types``).
CookieTypes = httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = f"fhir-writeback/{__version__}"

EventHook = Callable[..., Any]

# Explicitly no auth: token, discovery and JWKS calls must never carry SmartAuth, even if a
# caller configured it as the client default.
NO_AUTH = httpx.Auth()


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """Public CAs (certifi) plus, when given, the clinic's own CA bundle (PEM)."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle is not None:  # read capped, and only a regular file (never /dev/zero)
        try:
            context.load_verify_locations(cadata=read_ca_bundle(Path(ca_bundle)))
        except (UserFileError, TextEncodingError, ssl.SSLError, ValueError):
            problem = ca_bundle_problem(Path(ca_bundle)) or "cannot be used"
            raise SiteConfigError(ca_bundle, "ca_bundle", problem) from None
    # create_default_context already sets these; asserted so a refactor cannot weaken them.
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    return context


def create_http_client(
    site: Site,
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    event_hooks: Mapping[str, list[EventHook]] | None = None,
) -> httpx.AsyncClient:
    """The site's shared client. Owned by the composition root, closed with ``aclose()``.

    It carries no default auth: FHIR calls pass ``auth=session.auth``; token calls go without.
    Every request is logged at DEBUG without ids or query values (``app.smart.http_log``).
    """
    ca = str(site.ca_bundle) if site.ca_bundle is not None else None
    hooks = HttpTrail(site.fhir_base).hooks
    for name, extra in (event_hooks or {}).items():
        hooks.setdefault(name, []).extend(extra)
    return SiteHttpClient(
        site_proxy=site.proxy,
        verify=tls_context(ca),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        event_hooks=hooks,
        follow_redirects=False,
    )


class SiteHttpClient(httpx.AsyncClient):
    """The site's shared client. It remembers the proxy the site configured, so a failure to
    connect can say that it was the proxy that could not be reached (httpx does not say).

    Its cookie jar works as httpx's (an EHR's load balancer may pin a session by cookie), but
    reads only the responses that set a cookie: :class:`SetCookiesOnly`."""

    def __init__(self, *, site_proxy: str | None, **kwargs: Any) -> None:
        super().__init__(proxy=site_proxy, **kwargs)
        self.site_proxy = site_proxy
        self._jar = SetCookiesOnly(super().cookies)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._jar

    @cookies.setter
    def cookies(self, cookies: CookieTypes) -> None:
        self._jar = SetCookiesOnly(cookies)


class SetCookiesOnly(httpx.Cookies):
    """httpx hands every response to urllib's cookie jar, which first builds a urllib request
    and an e-mail message from it: ≈ 5 % of the CPU of a FHIR request (issue 15). A response
    without a ``Set-Cookie`` header has nothing for the jar (``Set-Cookie2`` is the obsolete
    RFC 2965 header the jar's default policy ignores), so it is not handed over."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


def configured_proxy(http: httpx.AsyncClient) -> str | None:
    """The proxy ``http`` sends everything through, when the site configured one."""
    return http.site_proxy if isinstance(http, SiteHttpClient) else None


def _proxy_name(proxy: str) -> str:
    """host:port of a proxy URL, never its user name or password."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "the configured address"
    return f"{host}:{port}" if port is not None else host


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def network_error(
    exc: httpx.TransportError, url: str | httpx.URL, *, proxy: str | None = None
) -> NetworkError:
    """Translate a transport failure into an error a clinician (and IT) can act on.

    ``proxy``: the proxy the request went through (``configured_proxy(http)``). Through a proxy
    the app connects only to the proxy, so a failed connection is the proxy's, not the EHR's.
    """
    log_failure(exc)
    host = urlsplit(str(url)).netloc or str(url)
    text = " ".join(str(e) for e in _chain(exc))
    cert = next((e for e in _chain(exc) if isinstance(e, ssl.SSLCertVerificationError)), None)
    if cert is not None or "CERTIFICATE_VERIFY_FAILED" in text:
        reason = getattr(cert, "verify_message", None) or "certificate verify failed"
        return CertificateError(
            f"The security certificate of {host} could not be verified ({reason}), so the app "
            "did not connect. If this is the clinic's own EHR, ask clinic IT to set ca_bundle "
            "in the site configuration; otherwise the connection may be intercepted.",
            detail=text,
        )
    if any(isinstance(e, ssl.SSLError) for e in _chain(exc)):
        return NetworkError(
            f"A secure connection to {host} could not be set up. Ask clinic IT to check the "
            "server's TLS settings and any proxy in between.",
            detail=text,
        )
    if proxy is not None and isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return NetworkError(
            f"The proxy {_proxy_name(proxy)} cannot be reached, so the EHR ({host}) could not "
            "be contacted. Check the network connection; if it persists, ask clinic IT to "
            "check the proxy and this site's proxy setting.",
            detail=text,
        )
    if isinstance(exc, httpx.TimeoutException):
        return NetworkError(
            f"{host} did not answer in time. Check the network connection, then try again.",
            detail=text,
        )
    if isinstance(exc, httpx.ProxyError):
        return NetworkError(
            f"The proxy{' ' + _proxy_name(proxy) if proxy else ''} refused the connection to "
            f"{host}. Ask clinic IT to check the proxy setting of this site.",
            detail=text,
        )
    return NetworkError(
        f"{host} cannot be reached. Check the network connection (and that the EHR address "
        "is right), then try again.",
        detail=text,
    )
