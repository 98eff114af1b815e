"""Documented behaviour differences between the servers under test, named and explained.

A check that meets a difference asks ``quirk(ehr, NAME)`` and asserts the documented behaviour
for that server and the standard behaviour for every other one; nothing is loosened silently.
Every entry cites where the server documents it. The sandbox documents no quirks: it is held to
the FHIR R4 / SMART App Launch 2 behaviour the checks assert.
"""

from __future__ import annotations

from tests.support.servers import RunningServer

PEER_README = "../shared/peer-ehr/README.md, 'Real-server quirks a client must cope with'"

UNKNOWN_SEARCH_PARAM_ZERO_RESULTS = "unknown-search-param-zero-results"
BARE_ID_SINGLE_TARGET_ONLY = "bare-id-single-target-reference-only"
PREFER_MINIMAL_IGNORED = "prefer-return-minimal-ignored"
UNQUOTED_IF_MATCH_IGNORED = "unquoted-if-match-ignored"
UPDATE_AS_CREATE_200 = "update-as-create-answers-200"
VERSION_ID_UUID = "version-id-is-uuid"
PATIENT_SCOPE_TYPE_ONLY = "patient-scope-checked-by-type-only"

QUIRKS: dict[str, dict[str, str]] = {
    "peer": {
        UNKNOWN_SEARCH_PARAM_ZERO_RESULTS: (
            f"{PEER_README}: an unknown search parameter yields zero results instead of being "
            "ignored (the standard lenient behaviour is: ignore it and say so)."
        ),
        BARE_ID_SINGLE_TARGET_ONLY: (
            f"{PEER_README}: a bare id only works for single-target reference parameters; "
            "DocumentReference?encounter=enc-1 finds nothing, encounter=Encounter/enc-1 works."
        ),
        PREFER_MINIMAL_IGNORED: (
            f"{PEER_README}: 'Prefer: return=minimal' is ignored (the body is returned anyway)."
        ),
        UNQUOTED_IF_MATCH_IGNORED: (
            f"{PEER_README}: an unquoted If-Match value is ignored, so the update goes through "
            'unconditionally. Clients must always send the quoted weak form W/"<versionId>".'
        ),
        UPDATE_AS_CREATE_200: f"{PEER_README}: update-as-create answers 200 instead of 201.",
        PATIENT_SCOPE_TYPE_ONLY: (
            f"{PEER_README.split(',')[0]}: 'A patient-scoped token is checked by resource type "
            "only' (no patient-compartment filtering: other patients are readable)."
        ),
        VERSION_ID_UUID: (
            f'{PEER_README}: meta.versionId is a UUID, not 1, 2, 3 (the ETag is W/"<uuid>").'
        ),
    },
    "sandbox": {},
}

KNOWN = {name for table in QUIRKS.values() for name in table}


def quirk(ehr: RunningServer, name: str) -> bool:
    """True when ``ehr`` documents the quirk ``name`` (an unknown name is a test bug)."""
    if name not in KNOWN:
        raise KeyError(f"undocumented quirk {name!r}; add it to QUIRKS with its source")
    return name in QUIRKS.get(ehr.name, {})
