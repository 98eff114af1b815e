"""The async FHIR REST client: one shared ``httpx.AsyncClient``, JSON in and out, every failure
turned into an error from ``app.fhir.errors`` (the auth flow's ``SignInRequired`` excepted).

Responses are read as a stream and refused once they pass ``max_response_bytes`` (20 MB by
default), before anything is parsed. JSON numbers with a fraction become ``Decimal`` (no float
drift in clinical values; app.fhir.json_text). ``next`` links are only followed on the FHIR
base's own origin, so a hostile server cannot make the app send its bearer token elsewhere.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import sniffio

from app.domain.capabilities import ServerCapabilities, parse_capabilities
from app.domain.clock import utc_now
from app.domain.retry import parse_retry_after
from app.fhir.errors import (
    FhirError,
    FhirNetworkError,
    FhirParseError,
    FhirResponseTooLarge,
    FhirSignInServiceError,
    FhirTimeout,
    FhirTlsError,
    FhirUnexpectedResponse,
    http_error,
)
from app.fhir.json_text import parse_answer
from app.smart.errors import CertificateError, SignInRequired, SmartError
from app.smart.http import configured_proxy, network_error

JsonObject = dict[str, Any]
Params = Mapping[str, str] | Sequence[tuple[str, str]]

FHIR_JSON = "application/fhir+json"
DEFAULT_MAX_RESPONSE_BYTES = 20 * 1024 * 1024
# pages of searches the app already holds (FhirClient.hold), in records (3–4 KB each in
# memory): a large chart's older vital signs and results, and some of the chart before
MAX_HELD_RECORDS = 12_000
MAX_PAGES = 200
_GATEWAY_DOWN = frozenset({502, 503, 504})  # a proxy answering for an EHR that is not there


@dataclass(frozen=True)
class FhirResponse:
    status: int
    body: JsonObject | None
    etag: str | None = None
    location: str | None = None
    last_modified: str | None = None

    @property
    def version_id(self) -> str | None:
        """The version from ``ETag: W/"n"`` (else from ``meta.versionId`` of the body)."""
        if self.etag:
            tag = self.etag.removeprefix("W/").strip('"')
            if tag:
                return tag
        meta = (self.body or {}).get("meta")
        version = meta.get("versionId") if isinstance(meta, dict) else None
        return version if isinstance(version, str) else None


@dataclass(frozen=True)
class SearchResult:
    resources: tuple[JsonObject, ...]  # matches (search.mode "match" or unspecified)
    included: tuple[JsonObject, ...] = ()  # _include/_revinclude results
    outcomes: tuple[JsonObject, ...] = ()  # OperationOutcome entries (warnings from the server)
    total: int | None = None
    truncated: bool = False  # stopped at the limit while more results existed
    pages: int = 1
    # where the results continue (the ``next`` link after the last page read); None when
    # complete, or when the last page held more than the limit (its rest has no link)
    next_url: str | None = None


class FhirClient:
    """FHIR REST calls against one base URL through the shared client.

    ``auth`` is applied to every request (the SMART layer's ``SmartAuth``); the shared client
    itself carries no auth. Concurrency is bounded (``max_concurrency``) so a burst of
    searches cannot flood the EHR.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        fhir_base: str,
        auth: httpx.Auth | None = None,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_concurrency: int = 6,
    ) -> None:
        self._http = client
        self._base = fhir_base.rstrip("/")
        self._auth = auth
        self._max_bytes = max_response_bytes
        self._limit = asyncio.Semaphore(max_concurrency)
        self._capability: JsonObject | None = None
        self._capabilities: ServerCapabilities | None = None
        self._held: OrderedDict[str, SearchResult] = OrderedDict()
        origin = urlsplit(self._base)
        self._origin = (origin.scheme, origin.netloc)
        # the target of every transaction and batch, parsed once (httpx would parse the text
        # twice per request: issue 15)
        self._base_url = httpx.URL(self._base)

    @property
    def fhir_base(self) -> str:
        return self._base

    def url(self, path: str) -> str:
        return f"{self._base}/{path.lstrip('/')}"

    # ---- capability
    async def capability(self, *, refresh: bool = False) -> JsonObject:
        """The server's CapabilityStatement (``/metadata``), fetched once and cached."""
        if self._capability is None or refresh:
            response = await self.request("GET", "metadata", what="the server's capabilities")
            body = _expect(response.body, "CapabilityStatement", "the server's capabilities")
            self._capability = body
            self._capabilities = parse_capabilities(body)
        return self._capability

    def adopt_capability(self, statement: JsonObject) -> None:
        """The CapabilityStatement kept from an earlier read (offline: app.services.offline),
        used until the EHR is read again; nothing when one was already read this run."""
        if self._capability is None:
            statement = _expect(statement, "CapabilityStatement", "the kept capabilities")
            self._capability = statement
            self._capabilities = parse_capabilities(statement)

    async def probe(self, timeout: float) -> bool:
        """Does the EHR answer? One ``HEAD`` of ``/metadata``: no sign-in needed (so no token
        refresh), no patient data, headers only (the sandbox's CapabilityStatement is 44 kB;
        this answer is a few hundred bytes). Any HTTP answer counts, even 405 from a server
        without HEAD, except a gateway's 502/503/504, which says the EHR behind it is not
        there. Never raises for the network: False is "no answer within ``timeout``"."""
        try:
            response = await self._http.request(
                "HEAD", self.url("metadata"), headers={"Accept": FHIR_JSON}, timeout=timeout
            )
        except httpx.HTTPError:
            return False
        return response.status_code not in _GATEWAY_DOWN

    async def capabilities(self, *, refresh: bool = False) -> ServerCapabilities:
        await self.capability(refresh=refresh)
        assert self._capabilities is not None
        return self._capabilities

    # ---- reading
    async def read(self, resource_type: str, resource_id: str) -> JsonObject:
        what = f"reading {resource_type}/{resource_id}"
        response = await self.request("GET", f"{resource_type}/{resource_id}", what=what)
        return _expect(response.body, resource_type, what)

    async def read_response(self, resource_type: str, resource_id: str) -> FhirResponse:
        """``read`` with the version headers (ETag, Last-Modified) kept."""
        what = f"reading {resource_type}/{resource_id}"
        response = await self.request("GET", f"{resource_type}/{resource_id}", what=what)
        _expect(response.body, resource_type, what)
        return response

    async def vread(self, resource_type: str, resource_id: str, version_id: str) -> JsonObject:
        what = f"reading version {version_id} of {resource_type}/{resource_id}"
        path = f"{resource_type}/{resource_id}/_history/{version_id}"
        return _expect((await self.request("GET", path, what=what)).body, resource_type, what)

    async def search(
        self, resource_type: str, params: Params = (), *, limit: int = 1000
    ) -> SearchResult:
        """All matches of a type search, following ``next`` links until ``limit`` matches."""
        what = f"searching {resource_type}"
        response = await self.request("GET", resource_type, params=params, what=what)
        bundle = _expect(response.body, "Bundle", what)
        return await self.collect(bundle, limit=limit, what=what)

    async def collect(
        self, bundle: JsonObject, *, limit: int, what: str = "the next page"
    ) -> SearchResult:
        """The matches of a searchset ``bundle`` and of its following pages, up to ``limit``."""
        resources: list[JsonObject] = []
        included: list[JsonObject] = []
        outcomes: list[JsonObject] = []
        total = bundle.get("total") if isinstance(bundle.get("total"), int) else None
        seen: set[str] = set()
        pages = 0
        current: JsonObject | None = bundle
        truncated = False
        link: str | None = None
        while current is not None:
            pages += 1
            _split_entries(current, resources, included, outcomes)
            link = next_link(current)
            if len(resources) >= limit:
                more = total is not None and total > limit  # a server that leaves links out
                truncated = link is not None or len(resources) > limit or more
                break
            if link is None or link in seen or pages >= MAX_PAGES:
                truncated = link is not None
                break
            seen.add(link)
            self._check_same_origin(link)
            response = await self.request("GET", link, what=f"{what} (page {pages + 1})")
            current = _expect(response.body, "Bundle", what)
        return SearchResult(
            resources=tuple(resources[:limit]),
            included=tuple(included),
            outcomes=tuple(outcomes),
            total=total,
            truncated=truncated,
            pages=pages,
            next_url=link if truncated and len(resources) <= limit else None,
        )

    async def page(self, url: str, *, what: str) -> SearchResult:
        """One page of a search, by the ``next`` link of the page before (same origin only);
        its ``next_url`` says where it continues. A page the app holds (``hold``) is given
        once, without a request."""
        self._check_same_origin(url)
        held = self._held.pop(url, None)
        if held is not None:
            return held
        response = await self.request("GET", url, what=what)
        bundle = _expect(response.body, "Bundle", what)
        resources: list[JsonObject] = []
        included: list[JsonObject] = []
        outcomes: list[JsonObject] = []
        _split_entries(bundle, resources, included, outcomes)
        link = next_link(bundle)
        total = bundle.get("total") if isinstance(bundle.get("total"), int) else None
        return SearchResult(
            resources=tuple(resources),
            included=tuple(included),
            outcomes=tuple(outcomes),
            total=total,
            truncated=link is not None,
            next_url=link,
        )

    def hold(self, pages: Sequence[tuple[str, SearchResult]]) -> None:
        """Pages the app has read already, each as the server would answer its URL (the
        results of a search the app ordered itself: app.fhir.context_order). ``page`` gives
        each once; the oldest held go first past MAX_HELD_RECORDS, and a page no longer held
        is asked of the server (the same answer, only slower)."""
        for url, held in pages:
            self._held[url] = held
            self._held.move_to_end(url)
        records = sum(len(p.resources) for p in self._held.values())
        while records > MAX_HELD_RECORDS:
            _, dropped = self._held.popitem(last=False)
            records -= len(dropped.resources)

    # ---- bundles and writes
    async def batch(
        self, entries: Sequence[JsonObject], *, sent: asyncio.Event | None = None
    ) -> JsonObject:
        """POST a batch Bundle of ``entries`` (each with ``request``); the batch-response.
        ``sent`` is set once the request is on the wire (or has failed)."""
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": list(entries)}
        what = "a batch of requests"
        response = await self.request("POST", "", json_body=bundle, what=what, sent=sent)
        result = _expect(response.body, "Bundle", "a batch of requests")
        if len(_entries(result)) != len(entries):
            raise FhirUnexpectedResponse(
                "The EHR answered a batch with the wrong number of results. Tell clinic IT.",
                detail=f"sent {len(entries)}, got {len(_entries(result))}",
            )
        return result

    async def transaction(self, bundle: JsonObject) -> FhirResponse:
        response = await self.request("POST", "", json_body=bundle, what="a transaction")
        _expect(response.body, "Bundle", "a transaction")
        return response

    async def create(
        self,
        resource: JsonObject,
        *,
        if_none_exist: str | None = None,
        prefer: str = "return=representation",
    ) -> FhirResponse:
        rtype = _type_of(resource)
        headers = {"Prefer": prefer}
        if if_none_exist is not None:
            headers["If-None-Exist"] = if_none_exist
        return await self.request(
            "POST", rtype, json_body=resource, headers=headers, what=f"creating a {rtype}"
        )

    async def update(self, resource: JsonObject, *, if_match: str | None = None) -> FhirResponse:
        rtype = _type_of(resource)
        rid = resource.get("id")
        if not isinstance(rid, str) or not rid:
            raise ValueError("update needs a resource with an id")
        headers = {"Prefer": "return=representation"}
        if if_match is not None:
            headers["If-Match"] = (
                if_match if if_match.startswith(("W/", '"')) else f'W/"{if_match}"'
            )
        return await self.request(
            "PUT",
            f"{rtype}/{rid}",
            json_body=resource,
            headers=headers,
            what=f"updating {rtype}/{rid}",
        )

    # ---- the one place that talks HTTP
    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Params | None = None,
        json_body: JsonObject | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        what: str = "a request",
        sent: asyncio.Event | None = None,
    ) -> FhirResponse:
        _name_the_async_library()
        url: str | httpx.URL
        if path_or_url == "":
            url = self._base_url
        elif path_or_url.startswith(("http://", "https://")):
            url = path_or_url
        else:
            url = self.url(path_or_url)
        all_headers = {"Accept": FHIR_JSON, **(headers or {})}
        if json_body is not None:
            content = json.dumps(json_body, default=_json_default, ensure_ascii=False).encode(
                "utf-8"
            )
        if content is not None:  # ``content``: JSON text the caller made (sent as it is)
            all_headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
        auth: Any = self._auth if self._auth is not None else httpx.USE_CLIENT_DEFAULT
        extensions = {"trace": _set_when_sent(sent)} if sent is not None else None
        async with self._limit:
            try:
                async with self._http.stream(
                    method,
                    url,
                    params=_query(params),
                    content=content,
                    headers=all_headers,
                    auth=auth,
                    extensions=extensions,
                ) as response:
                    raw = await self._read_capped(response, what)
            except SignInRequired:
                raise  # "wait for a sign-in", not a failed request
            except (httpx.TransportError, httpx.DecodingError, SmartError) as exc:
                raise self._failed(exc, url, what) from exc
            finally:
                if sent is not None:
                    sent.set()
        return _answer(response, raw, what)

    def _failed(self, exc: Exception, url: str | httpx.URL, what: str) -> FhirError:
        """The FhirError for a request that got no usable answer, saying whether the server
        may have acted on it (``maybe_delivered``: the sync engine checks before resending)."""
        if isinstance(exc, httpx.TimeoutException):
            delivered = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            smart = network_error(exc, url, proxy=configured_proxy(self._http))
            return FhirTimeout(smart.message, detail=type(exc).__name__, maybe_delivered=delivered)
        if isinstance(exc, httpx.TransportError):
            smart = network_error(exc, url, proxy=configured_proxy(self._http))
            cls = FhirTlsError if isinstance(smart, CertificateError) else FhirNetworkError
            delivered = not isinstance(
                exc, httpx.ConnectError | httpx.ProxyError | httpx.UnsupportedProtocol
            )
            return cls(smart.message, detail=type(exc).__name__, maybe_delivered=delivered)
        if isinstance(exc, httpx.DecodingError):  # a Content-Encoding that does not decode
            return FhirParseError(
                f"The EHR's answer to {what} could not be decoded. Tell clinic IT.",
                detail=type(exc).__name__,
            )
        assert isinstance(exc, SmartError)  # renewing the token failed: nothing was sent
        return FhirSignInServiceError(
            exc.message, detail=type(exc).__name__, retry_after=getattr(exc, "retry_after", None)
        )

    async def _read_capped(self, response: httpx.Response, what: str) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            raise self._too_large(what, int(declared))
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise self._too_large(what, size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, what: str, size: int) -> FhirResponseTooLarge:
        limit_mb = self._max_bytes / 1_048_576
        return FhirResponseTooLarge(
            f"The EHR's answer to {what} is larger than {limit_mb:.0f} MB and was refused. "
            "Tell clinic IT; narrowing the request may help.",
            detail=f"more than {size} bytes",
        )

    def _check_same_origin(self, url: str) -> None:
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin:
            raise FhirUnexpectedResponse(
                "The EHR pointed the next page of results to another server; the app did not "
                "follow it. Tell clinic IT.",
                detail=f"next link on {parts.netloc}",
            )


# ---------------------------------------------------------------- helpers


def _name_the_async_library() -> None:
    """httpcore and anyio ask ``sniffio`` which async library runs, about 19 times per
    request. It answers from the context when the answer is there; else it looks for a current
    asyncio task each time: ≈ 4 % of the event loop's CPU in the outbox drain (issue 15). Every
    request runs on asyncio, so the answer goes into the context of the task it runs in (a
    task's context is its own copy: nothing outside the task sees the change)."""
    if sniffio.current_async_library_cvar.get() is None:
        sniffio.current_async_library_cvar.set("asyncio")


def next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if (
            isinstance(link, Mapping)
            and link.get("relation") == "next"
            and isinstance(link.get("url"), str)
        ):
            return str(link["url"])
    return None


def _entries(bundle: Mapping[str, Any]) -> list[Any]:
    entries = bundle.get("entry")
    return entries if isinstance(entries, list) else []


def _split_entries(
    bundle: Mapping[str, Any],
    resources: list[JsonObject],
    included: list[JsonObject],
    outcomes: list[JsonObject],
) -> None:
    for entry in _entries(bundle):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("resource"), dict):
            continue
        resource: JsonObject = entry["resource"]
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, Mapping) else None
        if mode == "outcome" or (
            mode is None and resource.get("resourceType") == "OperationOutcome"
        ):
            outcomes.append(resource)
        elif mode == "include":
            included.append(resource)
        else:
            resources.append(resource)


def _answer(response: httpx.Response, raw: bytes, what: str) -> FhirResponse:
    """The FhirResponse of a 2xx; a FhirHttpError (with the EHR's words quoted) for 4xx/5xx; a
    redirect is refused (a write is never re-sent elsewhere)."""
    status = response.status_code
    body = parse_answer(raw, response.headers.get("content-type", ""), what, strict=status < 400)
    if status >= 400:
        raise http_error(
            status,
            what,
            outcome_text(body),
            _retry_after_seconds(response.headers.get("retry-after")),
        )
    if status >= 300:
        raise FhirUnexpectedResponse(
            f"The EHR redirected {what} (HTTP {status}); the app does not follow redirects. "
            "Check the FHIR address in the site configuration.",
            detail=f"HTTP {status}",
        )
    return FhirResponse(
        status=status,
        body=body,
        etag=response.headers.get("etag"),
        location=response.headers.get("location") or response.headers.get("content-location"),
        last_modified=response.headers.get("last-modified"),
    )


def outcome_text(body: object, limit: int = 500) -> str | None:
    """The human text of an OperationOutcome (diagnostics or details.text of its issues)."""
    if not isinstance(body, Mapping) or body.get("resourceType") != "OperationOutcome":
        return None
    texts: list[str] = []
    for issue in body.get("issue") or []:
        if not isinstance(issue, Mapping):
            continue
        text = issue.get("diagnostics")
        details = issue.get("details")
        if not isinstance(text, str) and isinstance(details, Mapping):
            text = details.get("text")
        if isinstance(text, str) and text.strip() and text.strip() not in texts:
            texts.append(text.strip())
    joined = "; ".join(texts)
    return (joined[: limit - 1] + "…" if len(joined) > limit else joined) or None


def _expect(body: JsonObject | None, resource_type: str, what: str) -> JsonObject:
    if body is None or body.get("resourceType") != resource_type:
        got = None if body is None else body.get("resourceType")
        raise FhirUnexpectedResponse(
            f"The EHR answered {what} with {'nothing' if got is None else 'a ' + str(got)} "
            f"instead of a {resource_type}. Tell clinic IT.",
            detail=f"expected {resource_type}, got {got}",
        )
    return body


def _type_of(resource: Mapping[str, Any]) -> str:
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise ValueError("resource without resourceType")
    return rtype


def _query(params: Params | None) -> httpx.QueryParams | None:
    if params is None:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    pairs: list[tuple[str, str | int | float | bool | None]] = [(str(k), str(v)) for k, v in items]
    return httpx.QueryParams(pairs) if pairs else None


def _retry_after_seconds(value: str | None) -> float | None:
    wait = parse_retry_after(value, utc_now())
    return None if wait is None else wait.total_seconds()


def _set_when_sent(sent: asyncio.Event) -> Any:
    """An httpcore trace callback that sets ``sent`` when the request's body is written."""

    async def trace(event: str, info: Mapping[str, Any]) -> None:
        if event.endswith("send_request_body.complete"):
            sent.set()

    return trace


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        # JSON has one number type; integral decimals stay integers ("78", not "78.0").
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


__all__ = [
    "FhirClient",
    "FhirError",
    "FhirResponse",
    "JsonObject",
    "SearchResult",
    "next_link",
    "outcome_text",
]
