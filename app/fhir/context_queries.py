"""Which searches load an encounter's chart: one per section, with only the parameters,
includes and sort the server declares for the type (an unknown parameter makes some servers
return nothing), references in ``Patient/<id>`` form (bare ids find nothing in multi-target
reference parameters on some servers)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlencode

from app.domain.capabilities import ServerCapabilities, TypeCapabilities
from app.domain.context import SectionKind


class ResultOrder(Enum):
    """Who puts a chart's Observations in date order for the first view."""

    AUTO = "auto"  # the app where the server's software sorts without an index (context_order)
    SERVER = "server"  # ``_sort=-date``: the server sends the newest first
    APP = "app"  # every match read unsorted, the newest picked by the app


class LoadStrategy(Enum):
    AUTO = "auto"  # batch when the server declares it, else concurrent searches
    BATCH = "batch"
    CONCURRENT = "concurrent"
    SEQUENTIAL = "sequential"  # one request at a time: the naive baseline of the benchmark


@dataclass(frozen=True)
class ContextLoadOptions:
    # one page holds a section's first view (its limit): more pages only from servers that
    # answer with smaller ones (each is a round trip more)
    page_size: int = 500
    vitals_limit: int = 200
    labs_limit: int = 200
    notes_limit: int = 50
    list_limit: int = 500  # problems, medications, allergies
    mrn_system: str | None = None  # the site's MRN identifier system, when known
    strategy: LoadStrategy = LoadStrategy.AUTO
    observation_order: ResultOrder = ResultOrder.AUTO
    # ResultOrder.APP reads at most this many matches of a section (in pages of
    # ``app_order_page``: each answer a few MB); with more, the server sorts
    app_order_cap: int = 20_000
    app_order_page: int = 5_000


Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class InAppOrder:
    """A section whose matches the app reads unsorted and orders itself: the search the server
    would sort (its pages past the first view are the older items), and their page size."""

    sorted_params: Params
    page_size: int
    read_cap: int  # at most this many matches read (``params`` reads them in pages)


@dataclass(frozen=True)
class Query:
    key: str  # SectionKind value, or "compositions"
    resource_type: str
    params: Params
    limit: int
    in_app: InAppOrder | None = None  # ordered by the app (then ``limit`` is the first view)

    @property
    def relative_url(self) -> str:
        return f"{self.resource_type}?{urlencode(self.params)}"


def plan_queries(
    caps: ServerCapabilities, patient_id: str, options: ContextLoadOptions
) -> tuple[list[Query], dict[str, str]]:
    """The searches to run, and a message per section the server does not allow searching."""
    page = max(1, options.page_size)
    specs: list[tuple[str, str, list[tuple[str, str]], int, list[str], str | None]] = [
        # key, type, extra params, limit, includes, sort parameter
        (
            SectionKind.PROBLEMS.value,
            "Condition",
            [("clinical-status", "active,recurrence,relapse")],
            options.list_limit,
            [],
            None,
        ),
        (
            SectionKind.MEDICATIONS.value,
            "MedicationRequest",
            [("status", "active")],
            options.list_limit,
            ["MedicationRequest:medication"],
            None,
        ),
        (SectionKind.ALLERGIES.value, "AllergyIntolerance", [], options.list_limit, [], None),
        (
            SectionKind.VITALS.value,
            "Observation",
            [("category", "vital-signs")],
            options.vitals_limit,
            [],
            "date",
        ),
        (
            SectionKind.LABS.value,
            "Observation",
            [("category", "laboratory")],
            options.labs_limit,
            [],
            "date",
        ),
        (
            SectionKind.NOTES.value,
            "DocumentReference",
            [],
            options.notes_limit,
            ["DocumentReference:author"],
            "date",
        ),
    ]
    if caps.can_search("Composition"):
        specs.append(
            ("compositions", "Composition", [], options.notes_limit, ["Composition:author"], "date")
        )
    queries: list[Query] = []
    refused: dict[str, str] = {}
    in_app = app_orders(caps, options)
    for key, rtype, extra, limit, includes, sort in specs:
        tc = caps.type(rtype)
        if tc is None or not tc.supports("search-type"):
            refused[key] = f"The EHR does not offer searching {rtype} resources."
            continue
        by = patient_param(tc)
        if by is None:
            refused[key] = f"The EHR does not allow searching {rtype} resources by patient."
            continue
        params = [(by, f"Patient/{patient_id}")]
        params += [(name, value) for name, value in extra if tc.has_param(name)]
        params += [("_include", inc) for inc in includes if tc.can_include(inc)]
        sorted_by_server = sort is not None and sort in tc.search_params
        if sorted_by_server:
            params.append(("_sort", f"-{sort}"))
        sorted_params = (*params, ("_count", str(min(page, limit))))
        if sorted_by_server and in_app and rtype in ORDERED_IN_APP:
            queries.append(_ordered_in_app(key, rtype, sorted_params, limit, options))
        else:
            queries.append(Query(key, rtype, sorted_params, limit))
    return queries, refused


def _ordered_in_app(
    key: str, rtype: str, sorted_params: Params, limit: int, options: ContextLoadOptions
) -> Query:
    """The section's search without ``_sort``, in pages of ``app_order_page``; the sorted one
    kept for its older pages (and for when the app cannot read every match)."""
    unsorted = [(name, value) for name, value in sorted_params if name not in ("_sort", "_count")]
    read_page = max(1, min(options.app_order_page, options.app_order_cap))
    order = InAppOrder(sorted_params, max(1, options.page_size), options.app_order_cap)
    return Query(key, rtype, (*unsorted, ("_count", str(read_page))), limit, order)


# the types whose sections the app may order itself (app.fhir.context_order reads their date)
ORDERED_IN_APP = frozenset({"Observation"})
# software whose search sorts every match by evaluating FHIRPath per comparison, with no index
# (and whose date filter costs as much): Medplum's in-memory repository, the peer EHR. Matched
# in the CapabilityStatement's software.name, case-insensitive. Figures: docs/performance.md,
# "Issue 15, fourth pass".
UNINDEXED_SORT_SOFTWARE = ("memoryrepository",)


def app_orders(caps: ServerCapabilities, options: ContextLoadOptions) -> bool:
    """Whether the app orders the chart's Observations itself (ResultOrder.AUTO: where the
    server declares software that sorts without an index)."""
    if options.observation_order is not ResultOrder.AUTO:
        return options.observation_order is ResultOrder.APP
    software = (caps.software or "").lower()
    return any(word in software for word in UNINDEXED_SORT_SOFTWARE)


def patient_param(tc: TypeCapabilities) -> str | None:
    """``subject`` where the server declares it (with ``Patient/<id>`` it finds what
    ``patient`` finds: ``patient`` is ``subject`` restricted to patients), else ``patient``.
    Some servers evaluate ``patient`` by resolving every stored resource's subject: on the peer
    EHR (Medplum's in-memory repository) a search by ``patient`` over 1,000 Observations takes
    about 1.5 s, by ``subject`` 30 ms; the chart of 20,000 is ready in 19 s instead of 81 s
    (docs/performance.md, issue 15)."""
    if not tc.search_params:
        return "patient"
    return next((p for p in ("subject", "patient") if p in tc.search_params), None)


def encounter_query(caps: ServerCapabilities, encounter_id: str) -> Query | None:
    """``Encounter?_id=..&_include=..`` when includes are declared (names for the banner);
    None means a plain read."""
    tc = caps.type("Encounter")
    if tc is None or not tc.supports("search-type"):
        return None
    includes = [
        inc
        for inc in ("Encounter:location", "Encounter:participant", "Encounter:service-provider")
        if tc.can_include(inc)
    ]
    if not includes:
        return None
    params = (("_id", encounter_id), *(("_include", inc) for inc in includes))
    return Query("encounter", "Encounter", params, 1)
