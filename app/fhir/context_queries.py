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


@dataclass(frozen=True)
class Query:
    key: str  # SectionKind value, or "compositions"
    resource_type: str
    params: tuple[tuple[str, str], ...]
    limit: int

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
        if sort is not None and sort in tc.search_params:
            params.append(("_sort", f"-{sort}"))
        params.append(("_count", str(min(page, limit))))
        queries.append(Query(key, rtype, tuple(params), limit))
    return queries, refused


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
