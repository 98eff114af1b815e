"""Fuzzing what a hostile or broken EHR can send: no exception escapes except the documented
FHIR errors (app.fhir.errors), and the app never crashes on the answer.

- ``test_mappers_*``: arbitrary resources (plausible FHIR skeletons whose fields are randomly
  replaced by any JSON: wrong types, deep nesting, huge numbers, odd text) through every
  FHIR -> domain mapper, the way the loader calls them (``guarded``): only FhirMappingError.
- ``test_client_decode_*``: arbitrary bytes as an HTTP body (invalid UTF-8, nesting beyond the
  parser's depth, numbers beyond any limit, valid JSON of the wrong shape): FhirError or a dict.
- ``test_context_loader_*``: whole generated servers (CapabilityStatement, patient, encounter,
  six searches, paging links, error answers) through ``load_encounter_context``: an
  EncounterContext or a FhirError.
- ``test_*_50_mb_*``: a 50 MB answer is refused before it is read whole (the client's cap is
  20 MB by default: ``DEFAULT_MAX_RESPONSE_BYTES``), with or without Content-Length.

Examples per test: ``FUZZ_EXAMPLES`` (default 2,000 for the mapper and decode targets, a twentieth
of it for the loader, whose examples carry ~10 responses each: > 4,000 responses in all; a nightly-style run sets e.g.
``FUZZ_EXAMPLES=50000``). The HTTP layer is httpx.MockTransport here (a unit test of the FHIR
layer); the 50 MB tests use a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.clinical import MeasurementKind, PatientSummary
from app.domain.context import EncounterContext
from app.domain.hidden_text import is_hidden
from app.fhir import mapping_in as m
from app.fhir.client import DEFAULT_MAX_RESPONSE_BYTES, FhirClient
from app.fhir.context_loader import ContextLoadOptions, LoadStrategy, load_encounter_context
from app.fhir.errors import FhirError, FhirMappingError, FhirResponseTooLarge
from app.fhir.fhir_reading import References, conformance_problem, guarded
from app.fhir.subject_check import subject_problem
from tests.fhir.fake_server import fake_server

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
LOADER_EXAMPLES = max(50, EXAMPLES // 20)
BASE = "https://ehr.example/fhir"
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

# ---------------------------------------------------------------- strategies

ABSENT = object()
FHIR_KEYS = [
    "resourceType", "id", "meta", "versionId", "text", "div", "status", "code", "coding",
    "system", "display", "subject", "patient", "reference", "encounter", "context", "period",
    "start", "end", "name", "given", "family", "birthDate", "gender", "identifier", "value",
    "valueQuantity", "unit", "effectiveDateTime", "issued", "component", "content",
    "attachment", "data", "contentType", "section", "entry", "author", "date", "type",
    "category", "clinicalStatus", "verificationStatus", "medicationCodeableConcept",
    "medicationReference", "criticality", "participant", "individual", "class", "location",
    "serviceProvider", "relatesTo", "target", "title", "docStatus", "valueString", "interpretation",
]  # fmt: skip
ODD_TEXT = [
    "", " ", "Patient/p1", "Patient/", "/", "Patient/p1/_history/2", "http://x/fhir/Patient/p1",
    "2025-03-10", "2025-03-10T10:00:00Z", "2025-02-30", "0000-00-00", "2025-03-10T25:61:00+14:00",
    "9" * 60, "http://loinc.org", "http://unitsofmeasure.org", "8867-4", "85354-9", "mm[Hg]",
    "<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script></div>",
    "<img src=x onerror=alert(1)>", "javascript:alert(1)", "\x00\x01", "\u202e", "ＡＢＣ", "💊",
    "active", "final", "entered-in-error", "in-progress", "current", "high", "text/plain",
    "application/xhtml+xml", "!!not-base64!!", "aGVsbG8=",
    # bidirectional and zero-width characters in names and MRNs (shown neutralised, flagged)
    "Maria \u202eaicraG", "MRN-\u200b1001", "\u2066Garcia\u2069", "\ufeffMaria", "\u061c",
    "\u200f\u200e", "Ma\u00adria", "\U000e0041", "\u3164", "MRN\u20601002",
]  # fmt: skip
TEXT = st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=12))
NUMBER = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 2**63, 10**300, -(10**300)]),
    # decimals as the client makes them (parse_float=Decimal); cheaper than st.decimals()
    st.builds(
        lambda i, e: Decimal(i).scaleb(e), st.integers(-(10**12), 10**12), st.integers(-40, 40)
    ),
    st.sampled_from([Decimal("1E+999999"), Decimal("-1E-999999"), Decimal("0.0000000001")]),
)
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(FHIR_KEYS), inner, max_size=3),
    ),
    max_leaves=6,
)


def ref(*types: str) -> st.SearchStrategy[Any]:
    return st.builds(
        lambda t, i, d: {"reference": f"{t}/{i}", **({} if d is None else {"display": d})},
        st.sampled_from(types or ("Patient",)),
        st.sampled_from(["p1", "p2", "e1", "x"]),
        st.none() | TEXT,
    )


CODING = st.fixed_dictionaries({}, optional={"system": TEXT, "code": TEXT, "display": TEXT})
CONCEPT = st.fixed_dictionaries({}, optional={"text": TEXT, "coding": st.lists(CODING, max_size=3)})
QUANTITY = st.fixed_dictionaries(
    {}, optional={"value": NUMBER, "unit": TEXT, "system": TEXT, "code": TEXT}
)
PERIOD = st.fixed_dictionaries({}, optional={"start": TEXT, "end": TEXT})
ATTACHMENT = st.fixed_dictionaries(
    {}, optional={"contentType": TEXT, "data": TEXT, "url": TEXT, "title": TEXT}
)

FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "Patient": {
        "name": st.lists(
            st.fixed_dictionaries(
                {}, optional={"text": TEXT, "family": TEXT, "given": st.lists(TEXT, max_size=3)}
            ),
            max_size=3,
        ),
        "birthDate": TEXT,
        "gender": TEXT,
        "identifier": st.lists(
            st.fixed_dictionaries(
                {}, optional={"system": TEXT, "value": TEXT, "type": CONCEPT}
            ),
            max_size=3,
        ),
    },
    "Encounter": {
        "status": TEXT,
        "class": st.one_of(CODING, st.lists(CONCEPT, max_size=2)),
        "subject": ref("Patient", "Group"),
        "period": PERIOD,
        "type": st.lists(CONCEPT, max_size=2),
        "participant": st.lists(
            st.fixed_dictionaries({}, optional={"individual": ref("Practitioner"), "type": st.lists(CONCEPT)}),
            max_size=2,
        ),
        "location": st.lists(st.fixed_dictionaries({}, optional={"location": ref("Location")}), max_size=2),
        "serviceProvider": ref("Organization"),
    },
    "Condition": {
        "code": CONCEPT,
        "clinicalStatus": CONCEPT,
        "verificationStatus": CONCEPT,
        "subject": ref("Patient"),
        "onsetDateTime": TEXT,
        "recordedDate": TEXT,
    },
    "MedicationRequest": {
        "status": TEXT,
        "intent": TEXT,
        "subject": ref("Patient"),
        "medicationCodeableConcept": CONCEPT,
        "medicationReference": ref("Medication"),
        "dosageInstruction": st.lists(st.fixed_dictionaries({}, optional={"text": TEXT}), max_size=2),
        "authoredOn": TEXT,
    },
    "AllergyIntolerance": {
        "code": CONCEPT,
        "patient": ref("Patient"),
        "criticality": TEXT,
        "clinicalStatus": CONCEPT,
        "verificationStatus": CONCEPT,
        "reaction": st.lists(
            st.fixed_dictionaries({}, optional={"manifestation": st.lists(CONCEPT, max_size=2)}),
            max_size=2,
        ),
    },
    "Observation": {
        "status": TEXT,
        "code": CONCEPT,
        "subject": ref("Patient"),
        "category": st.lists(CONCEPT, max_size=2),
        "valueQuantity": QUANTITY,
        "valueString": TEXT,
        "effectiveDateTime": TEXT,
        "component": st.lists(
            st.fixed_dictionaries({}, optional={"code": CONCEPT, "valueQuantity": QUANTITY}),
            max_size=3,
        ),
        "interpretation": st.lists(CONCEPT, max_size=2),
    },
    "DocumentReference": {
        "status": TEXT,
        "docStatus": TEXT,
        "type": CONCEPT,
        "subject": ref("Patient"),
        "date": TEXT,
        "author": st.lists(ref("Practitioner"), max_size=2),
        "content": st.lists(st.fixed_dictionaries({}, optional={"attachment": ATTACHMENT}), max_size=3),
        "context": st.fixed_dictionaries(
            {}, optional={"encounter": st.lists(ref("Encounter"), max_size=2), "period": PERIOD}
        ),
        "relatesTo": st.lists(
            st.fixed_dictionaries({}, optional={"code": TEXT, "target": ref("DocumentReference")}),
            max_size=2,
        ),
    },
    "Composition": {
        "status": TEXT,
        "type": CONCEPT,
        "subject": ref("Patient"),
        "encounter": ref("Encounter"),
        "date": TEXT,
        "title": TEXT,
        "author": st.lists(ref("Practitioner"), max_size=2),
        "section": st.recursive(
            st.lists(
                st.fixed_dictionaries(
                    {}, optional={"title": TEXT, "text": st.fixed_dictionaries({}, optional={"div": TEXT})}
                ),
                max_size=3,
            ),
            lambda inner: st.lists(
                st.fixed_dictionaries({}, optional={"title": TEXT, "section": inner}), max_size=3
            ),
            max_leaves=10,
        ),
    },
}  # fmt: skip
TYPES = sorted(FIELDS)


@st.composite
def resources(draw: st.DrawFn, rtype: str | None = None) -> dict[str, Any]:
    """A plausible resource of ``rtype`` whose fields are randomly missing, right, or any JSON."""
    rtype = rtype or draw(st.sampled_from(TYPES))
    fields = FIELDS[rtype]
    out: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=len(fields), unique=True)):
        out[key] = draw(JSON) if draw(st.integers(0, 4)) == 0 else draw(fields[key])
    if draw(st.integers(0, 3)) == 0:
        out[draw(st.sampled_from(FHIR_KEYS))] = draw(JSON)
    roll = draw(st.integers(0, 9))
    out["resourceType"] = draw(JSON) if roll == 0 else rtype
    out["id"] = draw(JSON) if roll == 1 else draw(st.sampled_from(["p1", "e1", "r1", "x" * 80, ""]))
    if roll == 2:
        out["meta"] = draw(st.one_of(st.fixed_dictionaries({"versionId": TEXT}), JSON))
    return out


MAPPERS: dict[str, Callable[[Any], Any]] = {
    "Patient": lambda raw: m.map_patient(raw, mrn_system="urn:mrn"),
    "Encounter": lambda raw: m.map_encounter(raw, References([raw])),
    "Condition": lambda raw: m.map_condition(raw),
    "MedicationRequest": lambda raw: m.map_medication_request(raw, References([raw])),
    "AllergyIntolerance": lambda raw: m.map_allergy(raw),
    "Observation": lambda raw: m.map_observation(raw, MeasurementKind.VITAL_SIGN),
    "Observation-lab": lambda raw: m.map_observation(raw, MeasurementKind.LABORATORY),
    "DocumentReference": lambda raw: m.map_document_reference(raw),
    "Composition": lambda raw: m.map_composition(raw),
}


def map_everything(raw: Any) -> None:
    """Every mapper over ``raw``, as the loader calls them; only FhirMappingError may escape."""
    if not isinstance(raw, dict):
        return
    problem = conformance_problem(raw)
    assert problem is None or isinstance(problem, str)
    for name, mapper in MAPPERS.items():
        try:
            value = guarded(name.split("-")[0], raw, lambda mapper=mapper: mapper(raw))  # type: ignore[misc]
        except FhirMappingError as exc:
            assert exc.reason and exc.user_message
            continue
        if isinstance(value, PatientSummary):
            shown_identity_is_safe(value)


def shown_identity_is_safe(patient: PatientSummary) -> None:
    """What identifies the patient on screen holds no hidden character, and says so if the
    record did."""
    assert not any(is_hidden(c) for c in patient.shown_name + (patient.shown_mrn or ""))
    hidden = any(is_hidden(c) for c in patient.name + (patient.mrn or ""))
    assert (patient.identity_warning is not None) == hidden


# ---------------------------------------------------------------- mappers


@FUZZ
@given(resources())
def test_mappers_accept_any_resource_or_say_why_not(raw: dict[str, Any]) -> None:
    map_everything(raw)


@settings(FUZZ, max_examples=max(100, EXAMPLES // 4))
@given(JSON)
def test_mappers_accept_any_json_value(raw: Any) -> None:
    map_everything(raw if isinstance(raw, dict) else {"resourceType": "Observation", "x": raw})


def test_mappers_survive_nesting_deeper_than_the_stack() -> None:
    deep: Any = "leaf"
    for _ in range(50_000):
        deep = {"section": [deep]}
    composition = {
        "resourceType": "Composition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
    }
    composition["section"] = [deep]
    map_everything(composition)


# ---------------------------------------------------------------- the client's decode path


def body_bytes() -> st.SearchStrategy[bytes]:
    def deep(n: int) -> bytes:
        return b"[" * n + b"]" * n

    def with_bad_utf8(value: Any, pos: int) -> bytes:
        raw = json.dumps(
            {"resourceType": "Observation", "id": "o1", "note": value}, default=str
        ).encode()
        cut = pos % max(1, len(raw))
        return raw[:cut] + b"\xff\xfe\xc3" + raw[cut:]

    return st.one_of(
        st.binary(max_size=200),
        st.builds(deep, st.integers(min_value=1, max_value=200_000)),
        st.builds(lambda n: b'{"resourceType":"Observation","id":"o1","v":' + b"9" * n + b"}", st.integers(1, 20_000)),
        st.sampled_from([b'{"v": 1e999999}', b'{"v": -1e-999999}', b'{"v": NaN}', b'{"v": Infinity}']),
        st.builds(with_bad_utf8, JSON, st.integers(min_value=0)),
        resources().map(lambda r: json.dumps(r, default=str).encode()),
        JSON.map(lambda v: json.dumps(v, default=str).encode()),
        st.builds(lambda r: json.dumps(r, default=str).encode("utf-16"), resources()),
    )  # fmt: skip


class SharedClient:
    """One event loop and one httpx.AsyncClient for all examples of a test (making a client per
    example costs more than the example); ``handler`` is swapped per example."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.handler: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(500)
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: self.handler(r)))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.http.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def shared() -> Iterator[SharedClient]:
    client = SharedClient()
    yield client
    client.close()


class Replay:
    """A MockTransport handler answering every request with the same status and body."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        self.status, self.body, self.content_type = status, body, content_type

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            self.status, content=self.body, headers={"content-type": self.content_type}
        )


async def read_with(http: httpx.AsyncClient) -> None:
    try:
        raw = await FhirClient(http, BASE).read("Observation", "o1")
    except FhirError as exc:
        assert exc.user_message
        return
    assert isinstance(raw, dict) and raw.get("resourceType") == "Observation"
    map_everything(raw)


@FUZZ
@given(
    body_bytes(),
    st.sampled_from([200, 200, 200, 201, 400, 404, 409, 422, 500, 503]),
    st.sampled_from(
        ["application/fhir+json", "text/html", "application/json; charset=latin-1", ""]
    ),
)
def test_client_decode_refuses_garbage_with_a_fhir_error(
    shared: SharedClient, body: bytes, status: int, content_type: str
) -> None:
    shared.handler = Replay(status, body, content_type)
    shared.run(read_with(shared.http))


# ---------------------------------------------------------------- the context loader


def capability(batch: bool, declared: bool) -> dict[str, Any]:
    params = ["patient", "subject", "category", "date", "status", "clinical-status", "_id"]
    includes = ["MedicationRequest:medication", "Encounter:participant", "DocumentReference:author"]

    def res(t: str) -> dict[str, Any]:
        return {
            "type": t,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": p} for p in params] if declared else [],
            "searchInclude": includes if declared else [],
        }

    return {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "rest": [
            {
                "mode": "server",
                "interaction": [{"code": "batch"}] if batch else [],
                "resource": [res(t) for t in [*TYPES, "Medication"]],
            }
        ],
    }


@st.composite
def answers(draw: st.DrawFn) -> tuple[int, Any]:
    """One HTTP answer: usually a searchset of generated resources, sometimes anything else."""
    kind = draw(st.sampled_from(["bundle", "bundle", "bundle", "error", "json", "paged"]))
    if kind == "error":
        issue = draw(st.fixed_dictionaries({}, optional={"diagnostics": TEXT, "severity": TEXT}))
        return draw(st.sampled_from([400, 403, 404, 410, 500])), {
            "resourceType": "OperationOutcome",
            "issue": [issue],
        }
    if kind == "json":
        return 200, draw(JSON)
    entries: list[Any] = []
    for res in draw(st.lists(resources(), max_size=4)):
        mode = draw(st.sampled_from(["match", "include", "outcome", None]))
        entries.append({"resource": res, **({"search": {"mode": mode}} if mode else {})})
    entries += draw(st.lists(JSON, max_size=1))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if draw(st.booleans()):
        bundle["total"] = draw(st.one_of(st.integers(-5, 50), JSON))
    if kind == "paged":
        bundle["link"] = [
            {"relation": "next", "url": draw(st.sampled_from([f"{BASE}/page2", "https://evil.example/fhir/page2", "not a url"]))}
        ]  # fmt: skip
    return 200, bundle


class GeneratedServer:
    """Answers every request from a fixed set of generated answers (batch as well)."""

    def __init__(
        self, caps: dict[str, Any], patient: Any, encounter: Any, pool: list[tuple[int, Any]]
    ) -> None:
        self.caps, self.patient, self.encounter, self.pool = caps, patient, encounter, pool
        self.count = 0

    def answer(self, path: str) -> tuple[int, Any]:
        self.count += 1
        if path == "metadata":
            return 200, self.caps
        if path == "Patient/p1":
            return 200, self.patient
        if path == "Encounter/e1":
            return 200, self.encounter
        return self.pool[self.count % len(self.pool)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/fhir").strip("/")
        if request.method == "POST" and path == "":
            sent = json.loads(request.content)
            entries = []
            for e in sent.get("entry", []):
                status, body = self.answer(e["request"]["url"].partition("?")[0])
                entries.append({"resource": body, "response": {"status": f"{status} X"}})
            bundle = {"resourceType": "Bundle", "type": "batch-response", "entry": entries}
            return httpx.Response(200, content=json.dumps(bundle, default=str).encode())
        status, body = self.answer(path)
        return httpx.Response(status, content=json.dumps(body, default=str).encode())


def patients() -> st.SearchStrategy[Any]:
    return st.one_of(
        resources("Patient").map(lambda r: {**r, "resourceType": "Patient", "id": "p1"}),
        resources("Patient"),
    )


SUBJECTS = st.sampled_from(
    [
        {"reference": "Patient/p1"},
        {"reference": f"{BASE}/Patient/p1"},
        {"reference": "https://elsewhere.example/fhir/Patient/p1"},  # same id, another server
        {"reference": "#p1"},
        {"display": "p1"},
        {},
    ]
)


def encounters() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(
            lambda r, subject: {**r, "resourceType": "Encounter", "id": "e1", "subject": subject},
            resources("Encounter"),
            SUBJECTS,
        ),
        resources("Encounter").map(lambda r: {**r, "resourceType": "Encounter", "id": "e1"}),
        resources("Encounter"),
    )


@settings(FUZZ, max_examples=LOADER_EXAMPLES)
@given(
    st.booleans(),
    st.booleans(),
    patients(),
    encounters(),
    st.lists(answers(), min_size=1, max_size=8),
    st.sampled_from(list(LoadStrategy)),
)
def test_context_loader_gives_a_context_or_a_fhir_error(
    shared: SharedClient,
    batch: bool,
    declared: bool,
    patient: Any,
    encounter: Any,
    pool: list[tuple[int, Any]],
    strategy: LoadStrategy,
) -> None:
    server = GeneratedServer(capability(batch, declared), patient, encounter, pool)

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
            options = ContextLoadOptions(strategy=strategy, page_size=5, notes_limit=5)
            try:
                ctx = await load_encounter_context(
                    FhirClient(http, BASE), "p1", "e1", options=options
                )
            except FhirError as exc:
                assert exc.user_message
                return
            assert isinstance(ctx, EncounterContext)
            assert ctx.patient.id == "p1" and ctx.encounter.id == "e1"
            # never a wrong-patient risk: the encounter is Patient/p1's, on this server
            assert subject_problem(encounter, "p1", BASE) is None
            shown_identity_is_safe(ctx.patient)

    asyncio.run(run())


# ---------------------------------------------------------------- 50 MB answers

FIFTY_MB = 50 * 1024 * 1024


def test_the_cap_is_below_50_mb() -> None:
    assert DEFAULT_MAX_RESPONSE_BYTES < FIFTY_MB


def _chunks() -> Iterator[bytes]:
    chunk = b" " * 65536
    yield b'{"resourceType":"Bundle","type":"searchset","entry":['
    for _ in range(FIFTY_MB // len(chunk)):
        yield chunk


async def test_a_50_mb_answer_declared_by_content_length_is_refused_unread() -> None:
    read = {"bytes": 0}

    async def body() -> AsyncIterator[bytes]:
        for c in _chunks():
            read["bytes"] += len(c)
            yield c

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-type": "application/fhir+json", "content-length": str(FIFTY_MB)},
            content=body(),
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(FhirResponseTooLarge) as exc:
            await FhirClient(http, BASE).search("Observation", {"patient": "Patient/p1"})
    assert "larger than 20 MB and was refused" in exc.value.user_message
    assert read["bytes"] == 0


async def test_a_50_mb_chunked_answer_is_refused_at_the_cap() -> None:
    """Real HTTP, no Content-Length: the client stops reading at the cap."""
    sent = {"bytes": 0}

    def body() -> Iterator[bytes]:
        for c in _chunks():
            sent["bytes"] += len(c)
            yield c

    route = (200, {"Content-Type": "application/fhir+json"}, body)
    with fake_server({"/Observation": route}) as base:
        async with httpx.AsyncClient(timeout=30) as http:
            with pytest.raises(FhirResponseTooLarge) as exc:
                await FhirClient(http, base).search("Observation", {"patient": "Patient/p1"})
    message = exc.value.user_message
    assert "larger than 20 MB and was refused" in message and "Tell clinic IT" in message
    assert sent["bytes"] < FIFTY_MB  # the server was not read to the end


# ---------------------------------------------------------------- Retry-After (issue 10)

# Values of a busy server's Retry-After: digits of every script ("²", "٣", "１": digits to
# str.isdigit(), not to HTTP; "²" raised ValueError out of the client and the loader), dates
# with such digits, values past int()'s digit limit, and any text.
ODD_RETRY_AFTER = ["²", "³", "¹²", "٣", "１２", "7", " 7 ", "-1", "1e3", "9" * 5000,
                   "Thu, 01 Jan 1970 00:00:00 GMT", "Sun, ٠١ Mar 2026 12:01:30 GMT"]  # fmt: skip
RETRY_AFTER = st.one_of(
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=4),
    st.sampled_from(ODD_RETRY_AFTER),
    st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=30),
)


class BusyServer(GeneratedServer):
    """The generated server, but every search is answered 429 or 503 with ``retry_after``."""

    def __init__(self, base: GeneratedServer, status: int, retry_after: str) -> None:
        super().__init__(base.caps, base.patient, base.encounter, base.pool)
        self.status, self.retry_after = status, retry_after

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/fhir").strip("/")
        if path in ("metadata", "Patient/p1", "Encounter/e1"):
            return super().__call__(request)
        return httpx.Response(
            self.status, headers=[(b"Retry-After", self.retry_after.encode("utf-8"))]
        )


PATIENT = {"resourceType": "Patient", "id": "p1"}
ENCOUNTER = {"resourceType": "Encounter", "id": "e1", "subject": {"reference": "Patient/p1"}}


@settings(FUZZ, max_examples=LOADER_EXAMPLES)
@given(st.booleans(), st.sampled_from([429, 503]), RETRY_AFTER, st.sampled_from(list(LoadStrategy)))
def test_context_loader_survives_any_retry_after(
    shared: SharedClient, batch: bool, status: int, retry_after: str, strategy: LoadStrategy
) -> None:
    """A valid patient and encounter, so that the loader reaches the busy searches."""
    base = GeneratedServer(capability(batch, True), PATIENT, ENCOUNTER, [(200, {})])
    server = BusyServer(base, status, retry_after)

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
            options = ContextLoadOptions(strategy=strategy, page_size=5, notes_limit=5)
            try:
                await load_encounter_context(FhirClient(http, BASE), "p1", "e1", options=options)
            except FhirError as exc:
                assert exc.user_message

    shared.run(run())
