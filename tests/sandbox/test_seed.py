"""The sandbox seed Bundle (resources/sandbox/seed-bundle.json) and its generator.

What the rest of the project relies on: pat-1 / enc-1 / prac-1, 8+ synthetic patients with
the clinical basics, the hard cases (non-ASCII names, 300+ observations, no encounter, an
amended note), LOINC + UCUM observations, valid FHIR (fhir.resources R4B here, Medplum's
validator in the peer test) and a generator that reproduces the committed file byte for byte.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.support.servers import require_peer, start_peer

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "resources" / "sandbox" / "seed-bundle.json"
GENERATOR = REPO / "resources" / "sandbox" / "make_seed.py"

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MRN = "http://sandbox.fhir-writeback.example/sid/mrn"
NOTE_ID = "http://sandbox.fhir-writeback.example/sid/note"
CLINICAL_NOTE = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"

# LOINC code -> UCUM code the issue asks for
VITALS = {
    "8867-4": "/min",
    "9279-1": "/min",
    "8310-5": "Cel",
    "29463-7": "kg",
    "8302-2": "cm",
    "39156-5": "kg/m2",
    "59408-5": "%",
}
BP_COMPONENTS = {"8480-6": "mm[Hg]", "8462-4": "mm[Hg]"}
LABS = {
    "4548-4": "%",
    "2339-0": "mg/dL",
    "2160-0": "mg/dL",
    "2823-3": "mmol/L",
    "718-7": "g/dL",
    "18262-6": "mg/dL",
}

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return json.loads(SEED.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def resources(bundle: dict[str, Any]) -> list[Resource]:
    return [e["resource"] for e in bundle["entry"]]


@pytest.fixture(scope="module")
def by_type(resources: list[Resource]) -> dict[str, list[Resource]]:
    out: dict[str, list[Resource]] = defaultdict(list)
    for r in resources:
        out[r["resourceType"]].append(r)
    return out


@pytest.fixture(scope="module")
def index(resources: list[Resource]) -> dict[str, Resource]:
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}


def of_patient(items: list[Resource], pid: str) -> list[Resource]:
    key = "patient" if items and items[0]["resourceType"] == "AllergyIntolerance" else "subject"
    return [r for r in items if r[key]["reference"] == f"Patient/{pid}"]


def codes(concept: dict[str, Any], system: str) -> set[str]:
    return {c["code"] for c in concept.get("coding", []) if c.get("system") == system}


def note_text(doc: Resource) -> str:
    return base64.b64decode(doc["content"][0]["attachment"]["data"]).decode("utf-8")


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [x for v in node.values() for x in references(v)]
    if isinstance(node, list):
        return [x for v in node for x in references(v)]
    return []


# ----------------------------------------------------------------------------- bundle shape


def test_bundle_is_a_transaction_of_puts_to_stable_ids(bundle: dict[str, Any]) -> None:
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction"
    for entry in bundle["entry"]:
        r = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}


def test_no_two_resources_share_type_and_id(resources: list[Resource]) -> None:
    keys = Counter((r["resourceType"], r["id"]) for r in resources)
    assert [k for k, n in keys.items() if n > 1] == []


def test_every_resource_validates_with_fhir_resources_r4b(resources: list[Resource]) -> None:
    failures = []
    for r in resources:
        try:
            get_fhir_model_class(r["resourceType"]).model_validate(r)
        except Exception as exc:  # collect them all for one readable failure
            failures.append(f"{r['resourceType']}/{r['id']}: {exc}")
    assert failures == []


def test_every_resource_is_tagged_as_synthetic_test_data(
    bundle: dict[str, Any], resources: list[Resource]
) -> None:
    for r in [bundle, *resources]:
        tags = {(t["system"], t["code"]) for t in r["meta"]["tag"]}
        assert ("http://terminology.hl7.org/CodeSystem/v3-ActReason", "HTEST") in tags, r["id"]


def test_every_reference_points_into_the_bundle(
    resources: list[Resource], index: dict[str, Resource]
) -> None:
    dangling = {
        (f"{r['resourceType']}/{r['id']}", target)
        for r in resources
        for target in references(r)
        if target not in index
    }
    assert dangling == set()


def test_bundle_stays_small(bundle: dict[str, Any]) -> None:
    assert SEED.stat().st_size < 3 * 1024 * 1024
    assert len(bundle["entry"]) < 1500


# ----------------------------------------------------------------------------- people


def test_at_least_eight_patients_with_mrn_name_gender_and_birth_date(
    by_type: dict[str, list[Resource]],
) -> None:
    patients = by_type["Patient"]
    assert len(patients) >= 8
    mrns = []
    for p in patients:
        mrns += [i["value"] for i in p["identifier"] if i["system"] == MRN]
        assert p["name"][0]["family"] and p["name"][0]["given"]
        assert p["gender"] in {"female", "male", "other", "unknown"}
        assert len(p["birthDate"]) == 10
    assert len(mrns) == len(set(mrns)) == len(patients)


def test_practitioners_organization_and_locations(
    by_type: dict[str, list[Resource]], index: dict[str, Resource]
) -> None:
    assert len(by_type["Practitioner"]) >= 3
    alice = index["Practitioner/prac-1"]
    assert alice["name"][0]["family"] == "Smith"
    assert alice["name"][0]["given"] == ["Alice"]
    assert alice["name"][0]["prefix"] == ["Dr."]
    npi = [
        i["value"] for i in alice["identifier"] if i["system"] == "http://hl7.org/fhir/sid/us-npi"
    ]
    assert npi == ["1234567893"]
    assert "Organization/org-1" in index
    assert by_type["Location"]
    assert by_type["PractitionerRole"]


def test_names_include_non_ascii_cjk_and_arabic_scripts(
    by_type: dict[str, list[Resource]],
) -> None:
    texts = [
        " ".join([n.get("text", ""), n.get("family", ""), *n.get("given", [])])
        for p in by_type["Patient"]
        for n in p["name"]
    ]
    joined = " ".join(texts)
    assert "Zoë Łukasiewicz-Núñez" in joined
    assert "Søren Ødegård" in joined
    scripts = {
        unicodedata.name(ch).split()[0] for ch in joined if not ch.isascii() and ch.isalpha()
    }
    assert "CJK" in scripts
    assert "ARABIC" in scripts


# ----------------------------------------------------------------------------- encounters


def test_pat1_is_a_typical_adult_and_enc1_is_their_latest_encounter(
    by_type: dict[str, list[Resource]], index: dict[str, Resource]
) -> None:
    enc1 = index["Encounter/enc-1"]
    assert enc1["subject"]["reference"] == "Patient/pat-1"
    pat1_encounters = of_patient(by_type["Encounter"], "pat-1")
    latest = max(pat1_encounters, key=lambda e: e["period"]["start"])
    assert latest["id"] == "enc-1"
    assert enc1["participant"][0]["individual"]["reference"] == "Practitioner/prac-1"
    for kind in ["Condition", "MedicationRequest", "AllergyIntolerance", "DocumentReference"]:
        assert of_patient(by_type[kind], "pat-1"), kind
    docref1 = index["DocumentReference/docref-1"]
    assert docref1["context"]["encounter"] == [{"reference": "Encounter/enc-1"}]


def test_dates_are_fixed_and_the_latest_encounter_is_in_october_or_november_2026(
    by_type: dict[str, list[Resource]],
) -> None:
    starts = [e["period"]["start"] for e in by_type["Encounter"]]
    assert max(starts)[:7] in {"2026-10", "2026-11"}
    dated = [o["effectiveDateTime"] for o in by_type["Observation"]] + [
        d["date"] for d in by_type["DocumentReference"]
    ]
    assert max(dated) < "2026-12"


def test_encounters_have_class_period_type_location_participant_and_provider(
    by_type: dict[str, list[Resource]],
) -> None:
    classes = set()
    for e in by_type["Encounter"]:
        classes.add(e["class"]["code"])
        assert e["period"]["start"]
        assert e["type"][0]["coding"][0]["system"] == SNOMED
        assert e["location"][0]["location"]["display"]
        assert e["participant"][0]["individual"]["reference"].startswith("Practitioner/")
        assert e["serviceProvider"]["reference"] == "Organization/org-1"
        assert ("end" in e["period"]) == (e["status"] == "finished")
    assert classes == {"AMB", "IMP", "EMER"}


def test_exactly_the_patients_without_encounters_lack_notes_and_observations(
    by_type: dict[str, list[Resource]],
) -> None:
    with_encounter = {e["subject"]["reference"] for e in by_type["Encounter"]}
    without = [p for p in by_type["Patient"] if f"Patient/{p['id']}" not in with_encounter]
    assert len(without) == 1
    pid = without[0]["id"]
    assert of_patient(by_type["Condition"], pid)  # a chart without visits is not empty
    assert of_patient(by_type["Observation"], pid) == []
    assert of_patient(by_type["DocumentReference"], pid) == []


def test_every_patient_with_an_encounter_has_the_clinical_basics(
    by_type: dict[str, list[Resource]],
) -> None:
    for p in by_type["Patient"]:
        pid = p["id"]
        if not of_patient(by_type["Encounter"], pid):
            continue
        conditions = of_patient(by_type["Condition"], pid)
        assert any(c["clinicalStatus"]["coding"][0]["code"] == "active" for c in conditions), pid
        assert any(
            m["status"] == "active" for m in of_patient(by_type["MedicationRequest"], pid)
        ), pid
        observations = of_patient(by_type["Observation"], pid)
        categories = {o["category"][0]["coding"][0]["code"] for o in observations}
        assert categories == {"vital-signs", "laboratory"}, pid
        notes = of_patient(by_type["DocumentReference"], pid)
        assert any(codes(d["type"], LOINC) == {"11506-3"} for d in notes), pid


def test_allergies_include_a_no_known_allergy_record_and_patients_with_none(
    by_type: dict[str, list[Resource]],
) -> None:
    allergies = by_type["AllergyIntolerance"]
    assert any("716186003" in codes(a["code"], SNOMED) for a in allergies)
    recorded = {a["patient"]["reference"] for a in allergies}
    assert any(f"Patient/{p['id']}" not in recorded for p in by_type["Patient"])
    assert any(a.get("reaction") for a in allergies)


# ----------------------------------------------------------------------------- problems and meds


def test_conditions_are_snomed_and_icd10_coded_problem_list_items(
    by_type: dict[str, list[Resource]],
) -> None:
    with_encounter = {e["subject"]["reference"] for e in by_type["Encounter"]}
    for c in by_type["Condition"]:
        assert codes(c["code"], SNOMED) and codes(c["code"], ICD10), c["id"]
        assert c["clinicalStatus"]["coding"][0]["code"] in {"active", "resolved"}
        assert c["verificationStatus"]["coding"][0]["code"] == "confirmed"
        assert c["category"][0]["coding"][0]["code"] == "problem-list-item"
        if c["subject"]["reference"] in with_encounter:
            assert c["encounter"]["reference"].startswith("Encounter/"), c["id"]


def test_medication_requests_are_rxnorm_with_sig_requester_and_date(
    by_type: dict[str, list[Resource]],
) -> None:
    for m in by_type["MedicationRequest"]:
        assert codes(m["medicationCodeableConcept"], RXNORM), m["id"]
        assert m["dosageInstruction"][0]["text"]
        assert m["requester"]["reference"].startswith("Practitioner/")
        assert m["authoredOn"]
        assert m["intent"] == "order"


# ----------------------------------------------------------------------------- observations


def test_every_observation_is_loinc_coded_with_ucum_units(
    by_type: dict[str, list[Resource]],
) -> None:
    for o in by_type["Observation"]:
        assert codes(o["code"], LOINC), o["id"]
        quantities = [o["valueQuantity"]] if "valueQuantity" in o else []
        quantities += [c["valueQuantity"] for c in o.get("component", [])]
        assert quantities, o["id"]
        for q in quantities:
            assert q["system"] == UCUM and q["code"] and isinstance(q["value"], int | float)
        assert o["category"][0]["coding"][0]["code"] in {"vital-signs", "laboratory"}
        assert o["subject"]["reference"].startswith("Patient/")
        assert o["encounter"]["reference"].startswith("Encounter/")
        assert o["effectiveDateTime"].endswith("Z")


def test_the_requested_vitals_and_labs_use_the_requested_codes_and_units(
    by_type: dict[str, list[Resource]],
) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for o in by_type["Observation"]:
        for code in codes(o["code"], LOINC):
            if "valueQuantity" in o:
                seen[code].add(o["valueQuantity"]["code"])
            for c in o.get("component", []):
                for component_code in codes(c["code"], LOINC):
                    seen[component_code].add(c["valueQuantity"]["code"])
    for code, unit in {**VITALS, **BP_COMPONENTS, **LABS}.items():
        assert seen[code] == {unit}, code
    assert "85354-9" in seen or any(
        "85354-9" in codes(o["code"], LOINC) for o in by_type["Observation"]
    )
    categories = {
        code: o["category"][0]["coding"][0]["code"]
        for o in by_type["Observation"]
        for code in codes(o["code"], LOINC)
    }
    assert all(categories[c] == "vital-signs" for c in [*VITALS, "85354-9"])
    assert all(categories[c] == "laboratory" for c in LABS)


def test_one_patient_has_more_than_300_observations_spread_over_years(
    by_type: dict[str, list[Resource]],
) -> None:
    per_patient = Counter(o["subject"]["reference"] for o in by_type["Observation"])
    busiest, count = per_patient.most_common(1)[0]
    assert count > 300
    years = {
        o["effectiveDateTime"][:4]
        for o in by_type["Observation"]
        if o["subject"]["reference"] == busiest
    }
    assert len(years) >= 5


# ----------------------------------------------------------------------------- notes


def test_progress_notes_are_us_core_style_document_references(
    by_type: dict[str, list[Resource]], index: dict[str, Resource]
) -> None:
    for d in by_type["DocumentReference"]:
        assert d["status"] in {"current", "superseded"}
        assert d["docStatus"] in {"final", "amended"}
        assert codes(d["type"], LOINC)
        assert codes(d["category"][0], CLINICAL_NOTE) == {"clinical-note"}
        assert d["author"][0]["reference"].startswith("Practitioner/")
        assert d["identifier"][0]["system"] == NOTE_ID
        encounter = index[d["context"]["encounter"][0]["reference"]]
        assert encounter["subject"] == {"reference": d["subject"]["reference"]}
        assert d["context"]["period"]["start"] == encounter["period"]["start"]
        attachment = d["content"][0]["attachment"]
        assert attachment["contentType"].startswith("text/plain")
        text = note_text(d)
        for heading in ["SUBJECTIVE:", "OBJECTIVE:", "ASSESSMENT:", "PLAN:"]:
            assert heading in text, d["id"]
        assert attachment["size"] == len(text.encode("utf-8"))
    identifiers = [d["identifier"][0]["value"] for d in by_type["DocumentReference"]]
    assert len(identifiers) == len(set(identifiers))


def test_an_amended_note_replaces_a_superseded_original(
    by_type: dict[str, list[Resource]], index: dict[str, Resource]
) -> None:
    amendments = [d for d in by_type["DocumentReference"] if d.get("relatesTo")]
    assert amendments
    for new in amendments:
        assert new["status"] == "current"
        (relation,) = new["relatesTo"]
        assert relation["code"] == "replaces"
        old = index[relation["target"]["reference"]]
        assert old["resourceType"] == "DocumentReference"
        assert old["status"] == "superseded"
        assert old["subject"] == new["subject"]
        assert old["context"]["encounter"] == new["context"]["encounter"]
        assert old["date"] < new["date"]
        assert note_text(old) != note_text(new)
    superseded = {d["id"] for d in by_type["DocumentReference"] if d["status"] == "superseded"}
    replaced = {d["relatesTo"][0]["target"]["reference"].split("/")[1] for d in amendments}
    assert superseded == replaced


def test_pat1_has_a_prior_composition(by_type: dict[str, list[Resource]]) -> None:
    (composition,) = of_patient(by_type["Composition"], "pat-1")
    assert composition["status"] == "final"
    assert [s["title"] for s in composition["section"]] == [
        "Subjective",
        "Objective",
        "Assessment",
        "Plan",
    ]


# ----------------------------------------------------------------------------- generator


@pytest.mark.parametrize("hash_seed", ["1", "2"])
def test_generator_is_deterministic_and_the_committed_file_is_current(
    tmp_path: Path, hash_seed: str
) -> None:
    out = tmp_path / "seed.json"
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == SEED.read_bytes(), (
        "seed-bundle.json differs from the generator's output: run "
        "python resources/sandbox/make_seed.py and commit both"
    )


def test_generator_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "seed.json"
    stale.write_text("{}", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(stale), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "out of date" in done.stderr
    assert stale.read_text(encoding="utf-8") == "{}"


# ----------------------------------------------------------------------------- the peer


@pytest.mark.peer
@pytest.mark.slow
def test_every_resource_passes_the_peer_ehrs_medplum_validator(
    tmp_path: Path, bundle: dict[str, Any]
) -> None:
    """Medplum validates every write; the peer exits at start if a seed entry fails.

    The peer gets the same entries as a *batch*: Medplum refuses transactions with more than
    50 updates ("Transaction contains more update operations than allowed"), which says
    nothing about the resources themselves.
    """
    require_peer()
    batch = tmp_path / "seed-batch.json"
    batch.write_text(json.dumps({**bundle, "type": "batch"}, ensure_ascii=False), encoding="utf-8")
    server = start_peer(tmp_path / "peer", SEED_FILE=str(batch))
    try:
        assert f"seeded {len(bundle['entry'])} resources" in server.log_text()
    finally:
        server.stop()
