"""The DEBUG trail of HTTP traffic, without patient data.

One request/response hook pair on each site's shared ``httpx.AsyncClient`` logs every request
(FHIR, token, discovery, JWKS alike), at DEBUG only, as

    [commit 5f0c…] POST [base] (transaction: POST Composition, POST Observation x2) -> 200 in 84 ms
    [context load] GET Observation?subject=*&category=*&_count=* -> 200 in 12 ms

- the method; the URL reduced to its shape: resource types, ``_history``/``$operation`` words
  and query parameter *names* stay, ids, versions and query values become ``*`` (a search by
  name must not put the name in the log); outside the FHIR base only known sign-in words stay
  (``…/token``, ``.well-known/smart-configuration``); a Bundle's entries by method and type;
- the status and the time to the response headers; a transport failure (``log_failure``,
  called from ``app.smart.http.network_error``) with its class and time;
- the tag of the work it belongs to: ``log_tag``/``tagged`` put a label (a commit id — a
  random UUID, not PHI —, "sign-in", "context load", "token refresh") in a context variable
  that asyncio tasks inherit, so support can pick one commit's requests out of the file.

Bodies, headers and tokens are never logged.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_TAG: ContextVar[tuple[str, ...]] = ContextVar("fhir_writeback_log_tag", default=())
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_SIGN_IN_WORDS = frozenset(
    {
        ".well-known", "smart-configuration", "openid-configuration", "metadata", "auth",
        "oauth", "oauth2", "authorize", "token", "revoke", "revocation", "introspect",
        "userinfo", "jwks", "jwks.json", "certs", "keys", "register", "protocol",
        "openid-connect", "connect",
    }
)  # fmt: skip
_MAX_BODY_PEEK = 4 * 1024 * 1024


# ---------------------------------------------------------------- tags


def current_tag() -> str:
    return " / ".join(_TAG.get())


@contextmanager
def log_tag(label: str) -> Iterator[None]:
    """Tag the HTTP lines (and ``tagged`` lines) logged inside this block with ``label``."""
    token = _TAG.set((*_TAG.get(), label))
    try:
        yield
    finally:
        _TAG.reset(token)


def tagged(
    label: str | Callable[..., str],
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorate an ``async def`` so its requests carry ``label`` (or ``label(*args)``)."""

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(func)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            text = label if isinstance(label, str) else label(*args, **kwargs)
            with log_tag(text):
                return await func(*args, **kwargs)

        return run

    return decorate


def prefix() -> str:
    """``"[tag] "`` for a log line, or nothing outside tagged work."""
    tag = current_tag()
    return f"[{tag}] " if tag else ""


# ---------------------------------------------------------------- shapes


def url_shape(url: httpx.URL | str, fhir_base: str | None) -> str:
    """The URL without ids or query values (see the module docstring)."""
    parts = urlsplit(str(url))
    base = urlsplit(fhir_base) if fhir_base else None
    base_path = base.path.rstrip("/") if base is not None else ""
    on_base = (
        base is not None
        and (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
        and (parts.path.rstrip("/") == base_path or parts.path.startswith(base_path + "/"))
    )
    if on_base:
        rest = parts.path[len(base_path) :].strip("/")
        if rest.startswith(".well-known/"):  # discovery documents, not FHIR resources
            segments = [s if s in _SIGN_IN_WORDS else "*" for s in rest.split("/")]
        else:
            segments = [_fhir_segment(i, s) for i, s in enumerate(rest.split("/"))] if rest else []
        shape = "/".join(segments) or "[base]"
    else:
        words = [s if s in _SIGN_IN_WORDS else "*" for s in parts.path.strip("/").split("/") if s]
        collapsed = [w for i, w in enumerate(words) if w != "*" or i == 0 or words[i - 1] != "*"]
        shape = f"{parts.netloc}/{'/'.join(collapsed)}"
    names = [p.split("=", 1)[0] for p in parts.query.split("&") if p]
    if names:
        shape += "?" + "&".join(f"{n}=*" for n in names)
    return shape


def _fhir_segment(position: int, segment: str) -> str:
    """[base]/Type/id/_history/vid, [base]/Type/id/Type (compartment), $op, _search ..."""
    if segment.startswith(("_", "$")):  # never an id: FHIR ids are [A-Za-z0-9.-]
        return segment
    if position == 0 and segment == "metadata":
        return segment
    if position % 2 == 0 and _RESOURCE_TYPE.match(segment):
        return segment
    return "*"


def bundle_shape(request: httpx.Request) -> str | None:
    """``transaction: POST Composition, POST Observation x2`` for a Bundle being sent."""
    if request.method not in ("POST", "PUT") or "json" not in request.headers.get(
        "content-type", ""
    ):
        return None
    try:
        content = request.content
    except httpx.RequestNotRead:
        return None
    if len(content) > _MAX_BODY_PEEK or b'"Bundle"' not in content[:200_000]:
        return None
    try:
        body = json.loads(content)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        return None
    counts: Counter[str] = Counter()
    for entry in body.get("entry") or []:
        req = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(req, dict):
            continue
        target = str(req.get("url", "")).split("?", 1)[0].strip("/").split("/", 1)[0]
        rtype = target if _RESOURCE_TYPE.match(target) else "*"
        counts[f"{req.get('method', '?')} {rtype}"] += 1
    listed = ", ".join(k if n == 1 else f"{k} x{n}" for k, n in counts.items())
    return f"{body.get('type', 'bundle')}: {listed or 'empty'}"


# ---------------------------------------------------------------- the hooks

# request -> (when it was sent, its description): until its response or failure is logged
_PENDING: weakref.WeakKeyDictionary[httpx.Request, tuple[float, str]] = weakref.WeakKeyDictionary()


class HttpTrail:
    """The event hooks of one site's client (``create_http_client`` installs them)."""

    def __init__(self, fhir_base: str | None) -> None:
        self._base = fhir_base

    def describe(self, request: httpx.Request) -> str:
        shape = url_shape(request.url, self._base)
        bundle = bundle_shape(request)
        return f"{request.method} {shape}" + (f" ({bundle})" if bundle else "")

    async def on_request(self, request: httpx.Request) -> None:
        if log.isEnabledFor(logging.DEBUG):
            _PENDING[request] = (time.perf_counter(), self.describe(request))

    async def on_response(self, response: httpx.Response) -> None:
        pending = _PENDING.pop(response.request, None)
        if pending is None or not log.isEnabledFor(logging.DEBUG):
            return
        took = (time.perf_counter() - pending[0]) * 1000
        log.debug("%s%s -> %d in %.0f ms", prefix(), pending[1], response.status_code, took)

    @property
    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return {"request": [self.on_request], "response": [self.on_response]}


def log_failure(exc: httpx.TransportError) -> None:
    """A request that got no response (called where transport errors are translated)."""
    try:
        request = exc.request
    except RuntimeError:  # an error raised without its request
        return
    pending = _PENDING.pop(request, None)
    if pending is None or not log.isEnabledFor(logging.DEBUG):
        return
    took = (time.perf_counter() - pending[0]) * 1000
    log.debug("%s%s failed after %.0f ms: %s", prefix(), pending[1], took, type(exc).__name__)
