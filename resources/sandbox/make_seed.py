"""Writes resources/sandbox/seed-bundle.json: the sandbox EHR's synthetic seed data.

Run: ``python resources/sandbox/make_seed.py [--out PATH] [--check]``

A FHIR R4 transaction Bundle (``PUT Type/id`` entries, stable ids) of entirely fictional
patients: every resource carries the HTEST ("test health data") security tag. Standard
library only and fully deterministic (fixed dates, a seeded PRNG that only ever calls
``random()``), so regenerating gives a byte-identical file; ``--check`` verifies that.

Ids follow the peer EHR's conventions (org-1, prac-1.., pat-1.., enc-1.., cond-N, medrx-N,
allergy-N, docref-N, obs-<kind>-N) and the first ones match the peer's own seed where they
describe the same thing (pat-1 Maria Garcia, current encounter enc-1, progress note docref-1,
cond-1/2, medrx-1/2, allergy-1, obs-bp-1...; pat-2 James Chen with enc-2/enc-3; pat-3 Aisha
Okafor with enc-4).

Hard cases: non-ASCII names (pat-4, pat-5, pat-6 in CJK, pat-7 in Arabic, prac-5), an
apostrophe and hyphen (pat-8), 300+ observations over eight years (pat-5), no encounter at
all (pat-9), an amended note (pat-4: a superseded DocumentReference and one that replaces it),
no allergy record (pat-8, pat-9), a "no known allergy" record (pat-3), a leap-day birth date
(pat-4), a child (pat-10), resolved conditions and a stopped medication next to active ones.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

Json = dict[str, Any]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NPI = "http://hl7.org/fhir/sid/us-npi"
MRN_SYSTEM = "http://sandbox.fhir-writeback.example/sid/mrn"
NOTE_SYSTEM = "http://sandbox.fhir-writeback.example/sid/note"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
US_CORE_DOC_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
IHE_FORMAT = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"

SYNTHETIC_TAG = {
    "system": f"{TERMINOLOGY}/v3-ActReason",
    "code": "HTEST",
    "display": "test health data",
}
META = {"tag": [SYNTHETIC_TAG]}
ORG = "Sandbox General Hospital"

OUT = Path(__file__).with_name("seed-bundle.json")


# ----------------------------------------------------------------------------- small helpers


def cc(system: str, code: str, display: str, text: str | None = None) -> Json:
    return {
        "coding": [{"system": system, "code": code, "display": display}],
        "text": text or display,
    }


def ref(kind: str, rid: str, display: str | None = None) -> Json:
    return {"reference": f"{kind}/{rid}", **({"display": display} if display else {})}


def qty(value: float, unit: str, code: str) -> Json:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(when: str) -> datetime:
    """A fixed UTC moment from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(when).replace(tzinfo=UTC)


def npi(base9: str) -> str:
    """A ten-digit NPI with its Luhn check digit (over the prefix 80840), as CMS computes it."""
    total = 0
    for i, ch in enumerate(reversed("80840" + base9)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return base9 + str((10 - total % 10) % 10)


def name(family: str, given: list[str], use: str = "official", text: str | None = None) -> Json:
    return {"use": use, **({"text": text} if text else {}), "family": family, "given": given}


def parse_values(spec: str) -> dict[str, Any]:
    """'bp=142/88 hr=78 wt=82.5' -> {'bp': (142.0, 88.0), 'hr': 78.0, 'wt': 82.5}."""
    values: dict[str, Any] = {}
    for item in spec.split():
        key, _, raw = item.partition("=")
        values[key] = tuple(float(x) for x in raw.split("/")) if "/" in raw else float(raw)
    return values


# ----------------------------------------------------------------------------- terminology

CONDITION_ACTIVE = cc(f"{TERMINOLOGY}/condition-clinical", "active", "Active")
CONDITION_RESOLVED = cc(f"{TERMINOLOGY}/condition-clinical", "resolved", "Resolved")
CONFIRMED = cc(f"{TERMINOLOGY}/condition-ver-status", "confirmed", "Confirmed")
PROBLEM_LIST = [cc(f"{TERMINOLOGY}/condition-category", "problem-list-item", "Problem List Item")]
VITAL_SIGNS = [cc(f"{TERMINOLOGY}/observation-category", "vital-signs", "Vital Signs")]
LABORATORY = [cc(f"{TERMINOLOGY}/observation-category", "laboratory", "Laboratory")]
CLINICAL_NOTE = [cc(US_CORE_DOC_CATEGORY, "clinical-note", "Clinical Note")]
INTERPRETATION = f"{TERMINOLOGY}/v3-ObservationInterpretation"
ENCOUNTER_CLASS = {"AMB": "ambulatory", "IMP": "inpatient encounter", "EMER": "emergency"}
ENCOUNTER_TYPE = {
    "checkup": ("185349003", "Encounter for check up (procedure)"),
    "followup": ("390906007", "Follow-up encounter (procedure)"),
    "symptom": ("185345009", "Encounter for symptom (procedure)"),
    "emergency": ("50849002", "Emergency room admission (procedure)"),
    "admission": ("32485007", "Hospital admission (procedure)"),
    "wellchild": ("410620009", "Well child visit (procedure)"),
}
NOTE_TYPES = {
    "progress": ("11506-3", "Progress note"),
    "discharge": ("18842-5", "Discharge summary"),
}

# kind -> LOINC code, display, unit shown, UCUM code, decimals
VITAL_DEFS: dict[str, tuple[str, str, str, str, int]] = {
    "hr": ("8867-4", "Heart rate", "beats/minute", "/min", 0),
    "rr": ("9279-1", "Respiratory rate", "breaths/minute", "/min", 0),
    "temp": ("8310-5", "Body temperature", "C", "Cel", 1),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "%", 0),
    "wt": ("29463-7", "Body weight", "kg", "kg", 1),
    "ht": ("8302-2", "Body height", "cm", "cm", 1),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2", 1),
}
SPO2_EXTRA_CODING = {
    "system": LOINC,
    "code": "2708-6",
    "display": "Oxygen saturation in Arterial blood",
}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")

# kind -> LOINC code, display, unit shown, UCUM code, decimals, reference low, high, note label
LAB_DEFS: dict[str, tuple[str, str, str, str, int, float | None, float | None, str]] = {
    "a1c": ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", "%", 1, 4.0, 5.6, "HbA1c"),
    "glu": ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", "mg/dL", 0, 70, 99, "glucose"),
    "cr": (
        "2160-0",
        "Creatinine [Mass/volume] in Serum or Plasma",
        "mg/dL",
        "mg/dL",
        2,
        0.6,
        1.2,
        "creatinine",
    ),
    "egfr": (
        "98979-8",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or "
        "Blood by Creatinine-based formula (CKD-EPI 2021)",
        "mL/min/1.73m2",
        "mL/min/{1.73_m2}",
        0,
        60,
        None,
        "eGFR",
    ),
    "k": (
        "2823-3",
        "Potassium [Moles/volume] in Serum or Plasma",
        "mmol/L",
        "mmol/L",
        1,
        3.5,
        5.1,
        "K",
    ),
    "na": (
        "2951-2",
        "Sodium [Moles/volume] in Serum or Plasma",
        "mmol/L",
        "mmol/L",
        0,
        136,
        145,
        "Na",
    ),
    "bun": (
        "3094-0",
        "Urea nitrogen [Mass/volume] in Serum or Plasma",
        "mg/dL",
        "mg/dL",
        0,
        7,
        20,
        "BUN",
    ),
    "hgb": ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", "g/dL", 1, 12.0, 17.5, "Hgb"),
    "ldl": (
        "18262-6",
        "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
        "mg/dL",
        "mg/dL",
        0,
        None,
        100,
        "LDL",
    ),
    "bnp": (
        "30934-4",
        "Natriuretic peptide B [Mass/volume] in Serum or Plasma",
        "pg/mL",
        "pg/mL",
        0,
        None,
        100,
        "BNP",
    ),
    "tsh": (
        "3016-3",
        "Thyrotropin [Units/volume] in Serum or Plasma",
        "mIU/L",
        "m[IU]/L",
        2,
        0.4,
        4.5,
        "TSH",
    ),
    "ferritin": (
        "2276-4",
        "Ferritin [Mass/volume] in Serum or Plasma",
        "ng/mL",
        "ng/mL",
        0,
        15,
        150,
        "ferritin",
    ),
    "alt": (
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        "U/L",
        0,
        7,
        35,
        "ALT",
    ),
    "wbc": (
        "6690-2",
        "Leukocytes [#/volume] in Blood by Automated count",
        "10*3/uL",
        "10*3/uL",
        1,
        4.0,
        11.0,
        "WBC",
    ),
}

# Problems: (SNOMED code, display), (ICD-10-CM code, display)
T2DM = (
    ("44054006", "Diabetes mellitus type 2 (disorder)"),
    ("E11.9", "Type 2 diabetes mellitus without complications"),
)
HTN = (
    ("38341003", "Hypertensive disorder, systemic arterial (disorder)"),
    ("I10", "Essential (primary) hypertension"),
)
LIPIDS = (("55822004", "Hyperlipidemia (disorder)"), ("E78.5", "Hyperlipidemia, unspecified"))
BRONCHITIS = (
    ("10509002", "Acute bronchitis (disorder)"),
    ("J20.9", "Acute bronchitis, unspecified"),
)
COPD = (
    ("13645005", "Chronic obstructive lung disease (disorder)"),
    ("J44.9", "Chronic obstructive pulmonary disease, unspecified"),
)
COPD_EXACERBATION = (
    ("195951007", "Acute exacerbation of chronic obstructive airways disease (disorder)"),
    ("J44.1", "Chronic obstructive pulmonary disease with (acute) exacerbation"),
)
ASTHMA = (("195967001", "Asthma (disorder)"), ("J45.909", "Unspecified asthma, uncomplicated"))
RHEUMATOID = (
    ("69896004", "Rheumatoid arthritis (disorder)"),
    ("M06.9", "Rheumatoid arthritis, unspecified"),
)
CKD3 = (
    ("433144002", "Chronic kidney disease stage 3 (disorder)"),
    ("N18.30", "Chronic kidney disease, stage 3 unspecified"),
)
HEART_FAILURE = (("84114007", "Heart failure (disorder)"), ("I50.9", "Heart failure, unspecified"))
AFIB = (
    ("49436004", "Atrial fibrillation (disorder)"),
    ("I48.91", "Unspecified atrial fibrillation"),
)
MIGRAINE = (
    ("37796009", "Migraine (disorder)"),
    ("G43.909", "Migraine, unspecified, not intractable, without status migrainosus"),
)
HYPOTHYROID = (("40930008", "Hypothyroidism (disorder)"), ("E03.9", "Hypothyroidism, unspecified"))
IRON_ANEMIA = (
    ("87522002", "Iron deficiency anemia (disorder)"),
    ("D50.9", "Iron deficiency anemia, unspecified"),
)
ANKLE_SPRAIN = (
    ("44465007", "Sprain of ankle (disorder)"),
    ("S93.401A", "Sprain of unspecified ligament of right ankle, initial encounter"),
)
OSTEOPOROSIS = (
    ("64859006", "Osteoporosis (disorder)"),
    ("M81.0", "Age-related osteoporosis without current pathological fracture"),
)
KNEE_OA = (
    ("239873007", "Osteoarthritis of knee (disorder)"),
    ("M17.9", "Osteoarthritis of knee, unspecified"),
)
HAY_FEVER = (
    ("21719001", "Allergic rhinitis due to pollen (disorder)"),
    ("J30.1", "Allergic rhinitis due to pollen"),
)
OTITIS = (
    ("65363002", "Otitis media (disorder)"),
    ("H66.91", "Otitis media, unspecified, right ear"),
)

# Medications: RxNorm clinical drugs
METFORMIN = ("861007", "metformin hydrochloride 500 MG Oral Tablet")
LISINOPRIL = ("314076", "lisinopril 10 MG Oral Tablet")
ATORVASTATIN = ("259255", "atorvastatin 80 MG Oral Tablet")
AMLODIPINE = ("197361", "amlodipine 5 MG Oral Tablet")
ALBUTEROL = ("745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler")
FLUTICASONE = ("895994", "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler")
FLUTICASONE_SALMETEROL = (
    "896209",
    "60 ACTUAT fluticasone propionate 0.25 MG/ACTUAT / salmeterol 0.05 MG/ACTUAT Dry Powder Inhaler",
)
PREDNISONE = ("312617", "predniSONE 20 MG Oral Tablet")
METHOTREXATE = ("105585", "methotrexate 2.5 MG Oral Tablet")
FOLIC_ACID = ("310410", "folic acid 1 MG Oral Tablet")
APIXABAN = ("1364445", "apixaban 5 MG Oral Tablet")
CARVEDILOL = ("200031", "carvedilol 6.25 MG Oral Tablet")
FUROSEMIDE = ("313988", "furosemide 40 MG Oral Tablet")
EMPAGLIFLOZIN = ("1545658", "empagliflozin 10 MG Oral Tablet")
ACETAMINOPHEN = ("313782", "acetaminophen 325 MG Oral Tablet")
LEVOTHYROXINE = ("966222", "levothyroxine sodium 0.075 MG Oral Tablet")
FERROUS_SULFATE = ("310325", "ferrous sulfate 325 MG Oral Tablet")
NAPROXEN = ("849574", "naproxen sodium 220 MG Oral Tablet")
ALENDRONATE = ("904419", "alendronic acid 70 MG Oral Tablet")
LORATADINE = ("665078", "loratadine 5 MG Chewable Tablet")
AMOXICILLIN = ("308182", "amoxicillin 250 MG Oral Capsule")

# Allergies: substance, reactions
PENICILLIN = cc(RXNORM, "7980", "penicillin G")
SULFAMETHOXAZOLE = cc(RXNORM, "10180", "sulfamethoxazole")
PEANUT = cc(SNOMED, "256349002", "Peanut - dietary (substance)", "Peanut")
SHELLFISH = cc(SNOMED, "300913006", "Shellfish (substance)", "Shellfish")
LATEX = cc(SNOMED, "111088007", "Latex (substance)", "Latex")
EGG = cc(SNOMED, "102263004", "Eggs (edible) (substance)", "Egg")
NO_KNOWN_ALLERGY = cc(SNOMED, "716186003", "No known allergy (situation)", "No known allergies")
RASH = ("271807003", "Eruption of skin (disorder)")
HIVES = ("247472004", "Wheal (finding)")
ANAPHYLAXIS = ("39579001", "Anaphylaxis (disorder)")


# ----------------------------------------------------------------------------- the builder


@dataclass(frozen=True)
class Enc:
    id: str
    patient: str
    cls: str
    start: datetime
    end: datetime | None
    location: str
    practitioner: str
    reason: str

    @property
    def period(self) -> Json:
        return {"start": iso(self.start), **({"end": iso(self.end)} if self.end else {})}


@dataclass
class Seed:
    """Collects resources in order and hands out ids (prefix-N, counting per prefix)."""

    resources: list[Json] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    practitioners: dict[str, str] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(20261116))

    def next_id(self, prefix: str) -> str:
        n = self.counters.get(prefix, 1)
        self.counters[prefix] = n + 1
        return f"{prefix}-{n}"

    def reserve(self, prefix: str, up_to: int) -> None:
        """prefix-1..prefix-up_to are given explicitly; counting continues after them."""
        self.counters[prefix] = max(self.counters.get(prefix, 1), up_to + 1)

    def add(self, resource_type: str, rid: str, body: Json) -> None:
        self.resources.append({"resourceType": resource_type, "id": rid, "meta": META, **body})

    def noise(self, sd: float) -> float:
        """Roughly normal noise. Only Random.random() is used: its sequence is stable across
        Python versions, unlike randint/choice/gauss internals."""
        return (self.rng.random() + self.rng.random() + self.rng.random() - 1.5) * 2 * sd

    def prac(self, pid: str) -> Json:
        return ref("Practitioner", pid, self.practitioners[pid])

    # ------------------------------------------------------------------ clinical resources
    def encounter(
        self,
        patient: str,
        cls_kind: str,
        start: str,
        minutes: int | None,
        reason: str,
        *,
        loc: str = "loc-1",
        prac: str = "prac-1",
        eid: str | None = None,
    ) -> Enc:
        """cls_kind is 'AMB/followup': v3 ActCode class and a key of ENCOUNTER_TYPE.
        minutes=None: still in progress."""
        cls, kind = cls_kind.split("/")
        begin = at(start)
        end = begin + timedelta(minutes=minutes) if minutes is not None else None
        enc = Enc(eid or self.next_id("enc"), patient, cls, begin, end, loc, prac, reason)
        attender = ("ATND", "attender") if cls == "IMP" else ("PPRF", "primary performer")
        self.add(
            "Encounter",
            enc.id,
            {
                "status": "finished" if end else "in-progress",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": cls,
                    "display": ENCOUNTER_CLASS[cls],
                },
                "type": [cc(SNOMED, *ENCOUNTER_TYPE[kind])],
                "subject": ref("Patient", patient),
                "participant": [
                    {
                        "type": [cc(f"{TERMINOLOGY}/v3-ParticipationType", *attender)],
                        "period": enc.period,
                        "individual": self.prac(prac),
                    }
                ],
                "period": enc.period,
                "reasonCode": [{"text": reason}],
                "location": [
                    {
                        "location": ref("Location", loc, self.locations[loc]),
                        "status": "completed" if end else "active",
                    }
                ],
                "serviceProvider": ref("Organization", "org-1", ORG),
            },
        )
        return enc

    def condition(
        self,
        patient: str,
        enc: Enc | None,
        problem: tuple[tuple[str, str], tuple[str, str]],
        onset: str,
        *,
        recorded: str | None = None,
        abated: str | None = None,
        cid: str | None = None,
    ) -> None:
        (snomed, snomed_display), (icd, icd_display) = problem
        body: Json = {
            "clinicalStatus": CONDITION_RESOLVED if abated else CONDITION_ACTIVE,
            "verificationStatus": CONFIRMED,
            "category": PROBLEM_LIST,
            "code": {
                "coding": [
                    {"system": SNOMED, "code": snomed, "display": snomed_display},
                    {"system": ICD10, "code": icd, "display": icd_display},
                ],
                "text": snomed_display.split(" (")[0],
            },
            "subject": ref("Patient", patient),
            **({"encounter": ref("Encounter", enc.id)} if enc else {}),
            "onsetDateTime": onset,
            **({"abatementDateTime": abated} if abated else {}),
            "recordedDate": recorded or (iso(enc.start)[:10] if enc else onset),
            "recorder": self.prac(enc.practitioner if enc else "prac-1"),
        }
        self.add("Condition", cid or self.next_id("cond"), body)

    def medication(
        self,
        patient: str,
        enc: Enc | None,
        drug: tuple[str, str],
        authored: str,
        reason: str,
        sig: str,
        *,
        status: str = "active",
        mid: str | None = None,
    ) -> None:
        body: Json = {
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": cc(RXNORM, *drug),
            "subject": ref("Patient", patient),
            **({"encounter": ref("Encounter", enc.id)} if enc else {}),
            "authoredOn": authored,
            "requester": self.prac(enc.practitioner if enc else "prac-1"),
            "reasonCode": [{"text": reason}],
            "dosageInstruction": [{"text": sig}],
        }
        self.add("MedicationRequest", mid or self.next_id("medrx"), body)

    def allergy(
        self,
        patient: str,
        substance: Json,
        category: str | None,
        recorded: str,
        reaction: tuple[tuple[str, str], str, str] | None = None,
        *,
        aid: str | None = None,
    ) -> None:
        """reaction = (manifestation, severity, criticality); category None: not an allergen."""
        body: Json = {
            "clinicalStatus": cc(f"{TERMINOLOGY}/allergyintolerance-clinical", "active", "Active"),
            "verificationStatus": cc(
                f"{TERMINOLOGY}/allergyintolerance-verification", "confirmed", "Confirmed"
            ),
            **({"type": "allergy", "category": [category]} if category else {}),
            **({"criticality": reaction[2]} if reaction else {}),
            "code": substance,
            "patient": ref("Patient", patient),
            "recordedDate": recorded,
            "recorder": ref("Practitioner", "prac-1"),
        }
        if reaction:
            body["reaction"] = [
                {"manifestation": [cc(SNOMED, *reaction[0])], "severity": reaction[1]}
            ]
        self.add("AllergyIntolerance", aid or self.next_id("allergy"), body)

    def _observation(
        self, kind: str, enc: Enc, when: datetime, code: tuple[str, str], lab: bool
    ) -> Json:
        return {
            "id": self.next_id(f"obs-{kind}"),
            "status": "final",
            "category": LABORATORY if lab else VITAL_SIGNS,
            "code": cc(LOINC, *code),
            "subject": ref("Patient", enc.patient),
            "encounter": ref("Encounter", enc.id),
            "effectiveDateTime": iso(when),
            "issued": iso(when + timedelta(minutes=45 if lab else 2)),
            "performer": [ref("Organization", "org-1", ORG) if lab else self.prac("prac-4")],
        }

    def vitals(self, enc: Enc, when: datetime, spec: str = "", **values: Any) -> dict[str, Any]:
        """Vital signs taken at one moment, from 'bp=142/88 hr=78 ...' and/or keywords.
        BMI is derived when weight and height are both given. Returns the rounded values."""
        values = {**parse_values(spec), **{k: v for k, v in values.items() if v is not None}}
        if "wt" in values and "ht" in values and "bmi" not in values:
            values["bmi"] = values["wt"] / (values["ht"] / 100) ** 2
        shown: dict[str, Any] = {}
        if "bp" in values:
            s, d = (round(v) for v in values["bp"])
            r = self._observation("bp", enc, when, BP_PANEL, lab=False)
            r["component"] = [
                {"code": cc(LOINC, *SYSTOLIC), "valueQuantity": qty(s, "mmHg", "mm[Hg]")},
                {"code": cc(LOINC, *DIASTOLIC), "valueQuantity": qty(d, "mmHg", "mm[Hg]")},
            ]
            self.add("Observation", r.pop("id"), r)
            shown["bp"] = (s, d)
        for kind, (code, display, unit, ucum, decimals) in VITAL_DEFS.items():
            if kind not in values:
                continue
            value = round(values[kind], decimals) if decimals else round(values[kind])
            r = self._observation(kind, enc, when, (code, display), lab=False)
            if kind == "spo2":  # US Core pulse oximetry profile wants both codes
                r["code"]["coding"].append(SPO2_EXTRA_CODING)
            r["valueQuantity"] = qty(value, unit, ucum)
            self.add("Observation", r.pop("id"), r)
            shown[kind] = value
        return shown

    def labs(self, enc: Enc, when: datetime, spec: str = "", **values: float) -> dict[str, float]:
        """Laboratory results from one specimen, with reference range and H/L/N flag."""
        shown: dict[str, float] = {}
        for kind, raw in {**parse_values(spec), **values}.items():
            code, display, unit, ucum, decimals, low, high, _ = LAB_DEFS[kind]
            value = round(raw, decimals) if decimals else round(raw)
            r = self._observation(kind, enc, when, (code, display), lab=True)
            r["valueQuantity"] = qty(value, unit, ucum)
            flag = ("N", "Normal")
            if low is not None and value < low:
                flag = ("L", "Low")
            elif high is not None and value > high:
                flag = ("H", "High")
            r["interpretation"] = [cc(INTERPRETATION, *flag)]
            r["referenceRange"] = [
                {
                    **({"low": qty(low, unit, ucum)} if low is not None else {}),
                    **({"high": qty(high, unit, ucum)} if high is not None else {}),
                }
            ]
            self.add("Observation", r.pop("id"), r)
            shown[kind] = value
        return shown

    def note(
        self,
        enc: Enc,
        text: str,
        written: str | datetime,
        *,
        kind: str = "progress",
        status: str = "current",
        doc_status: str = "final",
        replaces: str | None = None,
        description: str | None = None,
        did: str | None = None,
    ) -> str:
        """A DocumentReference holding a text/plain note for this encounter; returns its id."""
        did = did or self.next_id("docref")
        when = iso(at(written) if isinstance(written, str) else written)
        data = text.encode("utf-8")
        code, display = NOTE_TYPES[kind]
        attachment = {
            "contentType": "text/plain; charset=utf-8",
            "language": "en-US",
            "data": base64.b64encode(data).decode("ascii"),
            "size": len(data),
            "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
            "title": display,
            "creation": when,
        }
        body: Json = {
            "identifier": [{"system": NOTE_SYSTEM, "value": f"SBX-NOTE-{did.split('-')[1]:0>6}"}],
            "status": status,
            "docStatus": doc_status,
            "type": cc(LOINC, code, display),
            "category": CLINICAL_NOTE,
            "subject": ref("Patient", enc.patient),
            "date": when,
            "author": [self.prac(enc.practitioner)],
            "custodian": ref("Organization", "org-1"),
            **(
                {"relatesTo": [{"code": "replaces", "target": ref("DocumentReference", replaces)}]}
                if replaces
                else {}
            ),
            "description": description or f"{display}: {enc.reason}",
            "content": [
                {
                    "attachment": attachment,
                    "format": {
                        "system": IHE_FORMAT,
                        "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient",
                        "display": "mimeType Sufficient",
                    },
                }
            ],
            "context": {"encounter": [ref("Encounter", enc.id)], "period": enc.period},
        }
        self.add("DocumentReference", did, body)
        return did


# ----------------------------------------------------------------------------- note text

SECTIONS = {"S": "SUBJECTIVE", "O": "OBJECTIVE", "A": "ASSESSMENT", "P": "PLAN"}


def soap(
    seed: Seed,
    enc: Enc,
    body: str,
    vit: dict[str, Any] | None = None,
    labs: dict[str, float] | None = None,
    title: str = "Progress note",
) -> str:
    """A plain-text SOAP note. ``body`` has lines 'S: ...', 'O: ...', 'A: ...', 'P: ...'
    (indented lines continue the one above); vitals and labs go first in OBJECTIVE."""
    items: dict[str, list[str]] = {k: [] for k in SECTIONS}
    last = "S"
    for line in textwrap.dedent(body).strip().splitlines():
        if line.startswith(" ") and items[last]:
            items[last][-1] += " " + line.strip()
        else:
            last, _, text = line.partition(": ")
            items[last].append(text)
    objective: list[str] = []
    if vit:
        shown = [f"BP {vit['bp'][0]}/{vit['bp'][1]} mmHg"] if "bp" in vit else []
        for kind, fmt in [
            ("hr", "HR {} /min"),
            ("rr", "RR {} /min"),
            ("temp", "T {} °C"),
            ("spo2", "SpO2 {}% on room air"),
            ("wt", "weight {} kg"),
            ("bmi", "BMI {} kg/m2"),
        ]:
            if kind in vit:
                shown.append(fmt.format(vit[kind]))
        objective.append("Vitals: " + ", ".join(shown) + ".")
    if labs:
        objective.append(
            "Labs: "
            + ", ".join(
                f"{LAB_DEFS[k][7]} {v:.{LAB_DEFS[k][4]}f} {LAB_DEFS[k][2]}" for k, v in labs.items()
            )
            + "."
        )
    items["O"][:0] = objective
    author = seed.practitioners[enc.practitioner]
    lines = [
        title.upper(),
        f"Date of service: {iso(enc.start)[:10]}    Location: {seed.locations[enc.location]}",
        f"Clinician: {author}",
    ]
    for key, heading in SECTIONS.items():
        lines += ["", f"{heading}:"]
        if key == "A":
            lines += [f"{i}. {x}" for i, x in enumerate(items[key], 1)]
        elif key == "P":
            lines += [f"- {x}" for x in items[key]]
        else:
            lines += items[key]
    lines += ["", f"Electronically signed by {author}."]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- directory


LOCATIONS = [
    ("loc-1", "Riverside Family Medicine Clinic", "bu", "Building"),
    ("loc-2", "Sandbox General Hospital, Ward 4B", "wa", "Ward"),
    ("loc-3", "Sandbox General Hospital, Emergency Department", "wi", "Wing"),
    ("loc-4", "Kidney Care Clinic, Suite 210", "ro", "Room"),
]
# id, prefix, given, family, suffix, NPI (9 digits + check digit), role, specialty, location
PRACTITIONERS = [
    (
        "prac-1",
        "Dr.",
        "Alice",
        "Smith",
        "MD",
        "123456789",
        "doctor",
        ("419772000", "Family practice (qualifier value)"),
        "loc-1",
    ),
    (
        "prac-2",
        "Dr.",
        "Robert",
        "Jones",
        "MD",
        "112233445",
        "doctor",
        ("419192003", "Internal medicine (qualifier value)"),
        "loc-2",
    ),
    (
        "prac-3",
        "Dr.",
        "Priya",
        "Raman",
        "MD",
        "123123123",
        "doctor",
        ("773568002", "Emergency medicine (qualifier value)"),
        "loc-3",
    ),
    (
        "prac-4",
        None,
        "Jordan",
        "Lee",
        "RN",
        "135792468",
        "nurse",
        ("419772000", "Family practice (qualifier value)"),
        "loc-1",
    ),
    (
        "prac-5",
        "Dr.",
        "Hannah",
        "Müller-Åberg",
        "MD",
        "246813579",
        "doctor",
        ("394589003", "Nephrology (qualifier value)"),
        "loc-4",
    ),
]
ADDRESS = {"city": "Riverton", "state": "OR", "postalCode": "97000", "country": "US"}


def directory(seed: Seed) -> None:
    seed.add(
        "Organization",
        "org-1",
        {
            "identifier": [{"system": NPI, "value": npi("987654321")}],
            "active": True,
            "type": [cc(f"{TERMINOLOGY}/organization-type", "prov", "Healthcare Provider")],
            "name": ORG,
            "telecom": [{"system": "phone", "value": "+1-555-0100", "use": "work"}],
            "address": [{"line": ["100 Example Avenue"], **ADDRESS}],
        },
    )
    for lid, label, kind, kind_display in LOCATIONS:
        seed.locations[lid] = label
        seed.add(
            "Location",
            lid,
            {
                "status": "active",
                "name": label,
                "mode": "instance",
                "physicalType": cc(f"{TERMINOLOGY}/location-physical-type", kind, kind_display),
                "managingOrganization": ref("Organization", "org-1"),
            },
        )
    for n, (pid, prefix, given, family, suffix, base9, role, specialty, loc) in enumerate(
        PRACTITIONERS, 1
    ):
        display = f"{prefix} {given} {family}" if prefix else f"{given} {family}, {suffix}"
        seed.practitioners[pid] = display
        human: Json = {"use": "official", "text": display, "family": family, "given": [given]}
        if prefix:
            human["prefix"] = [prefix]
        human["suffix"] = [suffix]
        seed.add(
            "Practitioner",
            pid,
            {
                "identifier": [{"system": NPI, "value": npi(base9)}],
                "active": True,
                "name": [human],
                "telecom": [{"system": "phone", "value": f"+1-555-01{10 + n}", "use": "work"}],
            },
        )
        seed.add(
            "PractitionerRole",
            f"role-{n}",
            {
                "active": True,
                "practitioner": seed.prac(pid),
                "organization": ref("Organization", "org-1"),
                "code": [cc(f"{TERMINOLOGY}/practitioner-role", role, role.title())],
                "specialty": [cc(SNOMED, *specialty)],
                "location": [ref("Location", loc)],
            },
        )


def patient(
    seed: Seed,
    pid: str,
    gender: str,
    birth: str,
    names: list[Json],
    language: tuple[str, str] | None = None,
) -> None:
    """MRN, phone and street are derived from the id (pat-7: MRN-1007, +1-555-0207)."""
    n = int(pid.split("-")[1])
    body: Json = {
        "identifier": [
            {
                "use": "usual",
                "type": cc(f"{TERMINOLOGY}/v2-0203", "MR", "Medical record number"),
                "system": MRN_SYSTEM,
                "value": f"MRN-{1000 + n}",
            }
        ],
        "active": True,
        "name": names,
        "telecom": [{"system": "phone", "value": f"+1-555-02{n:02d}", "use": "home"}],
        "gender": gender,
        "birthDate": birth,
        "address": [{"use": "home", "line": [f"{10 + 7 * n} Fictional Lane"], **ADDRESS}],
        **(
            {"communication": [{"language": cc("urn:ietf:bcp:47", *language), "preferred": True}]}
            if language
            else {}
        ),
        "generalPractitioner": [ref("Practitioner", "prac-1")],
        "managingOrganization": ref("Organization", "org-1"),
    }
    seed.add("Patient", pid, body)


# ----------------------------------------------------------------------------- patients


def maria_garcia(seed: Seed) -> None:
    """pat-1: a typical primary-care adult (T2DM, HTN, lipids); enc-1 is today's visit."""
    patient(seed, "pat-1", "female", "1968-04-12", [name("Garcia", ["Maria", "Elena"])])
    reason = "Diabetes and blood pressure follow-up"
    prior = seed.encounter("pat-1", "AMB/followup", "2025-11-18 09:00", 40, reason)
    mid = seed.encounter("pat-1", "AMB/followup", "2026-05-12 09:30", 35, reason)
    today = seed.encounter("pat-1", "AMB/followup", "2026-11-16 09:00", None, reason, eid="enc-1")
    # today's observations come first so that they get the peer's ids (obs-bp-1, obs-a1c-1, ...)
    v1 = seed.vitals(
        today, at("2026-11-16 09:12"), "bp=142/88 hr=78 rr=16 temp=37.1 spo2=98 wt=82.5 ht=165"
    )
    l1 = seed.labs(today, at("2026-11-09 08:05"), "a1c=7.8 glu=146 cr=0.92 k=4.5 ldl=96 hgb=13.0")
    v3 = seed.vitals(
        prior, at("2025-11-18 09:08"), "bp=148/92 hr=82 rr=16 temp=36.9 spo2=98 wt=84.1 ht=165"
    )
    l3 = seed.labs(prior, at("2025-11-11 08:10"), "a1c=8.4 glu=168 cr=0.88 k=4.3 ldl=128 hgb=13.1")
    v2 = seed.vitals(
        mid, at("2026-05-12 09:41"), "bp=144/90 hr=80 rr=15 temp=36.8 spo2=99 wt=83.2 ht=165"
    )
    l2 = seed.labs(mid, at("2026-05-05 08:20"), "a1c=8.1 glu=154 cr=0.90 k=4.4 ldl=112")

    seed.condition("pat-1", prior, T2DM, "2015-06-01", cid="cond-1")
    seed.condition("pat-1", prior, HTN, "2012-02-15", cid="cond-2")
    seed.condition("pat-1", prior, LIPIDS, "2016-09-10")
    seed.condition("pat-1", prior, BRONCHITIS, "2025-11-10", abated="2025-12-05")
    seed.medication(
        "pat-1",
        prior,
        METFORMIN,
        "2025-11-18",
        "Type 2 diabetes",
        "Take 2 tablets (1000 mg) by mouth twice daily with meals",
        mid="medrx-1",
    )
    seed.medication(
        "pat-1",
        None,
        LISINOPRIL,
        "2023-03-02",
        "Hypertension",
        "Take 1 tablet by mouth once daily",
        mid="medrx-2",
    )
    seed.medication(
        "pat-1",
        mid,
        ATORVASTATIN,
        "2026-05-12",
        "Hyperlipidemia",
        "Take 1 tablet by mouth at bedtime",
    )
    seed.medication(
        "pat-1",
        today,
        AMLODIPINE,
        "2026-11-16",
        "Hypertension",
        "Take 1 tablet by mouth once daily",
    )
    seed.allergy(
        "pat-1", PENICILLIN, "medication", "2010-04-20", (RASH, "moderate", "high"), aid="allergy-1"
    )

    body = """
        S: Follow-up of type 2 diabetes and hypertension. Reports a cough for one week after a
           cold, no fever, no shortness of breath. Takes metformin 500 mg twice daily and
           lisinopril 10 mg daily; misses the evening metformin dose about twice a week. Walks
           20 minutes most days.
        O: Lungs: scattered rhonchi that clear with cough, no wheeze. Feet: intact sensation to
           monofilament, no ulcers.
        A: Type 2 diabetes mellitus, above goal (HbA1c 8.4%).
        A: Hypertension, above goal.
        A: Hyperlipidemia, LDL 128 mg/dL, not on a statin.
        A: Acute bronchitis, likely viral.
        P: Increase metformin to 1000 mg twice daily with meals.
        P: Home blood pressure log; continue lisinopril 10 mg daily.
        P: Discussed statin therapy; patient prefers to revisit at the next visit.
        P: Supportive care for bronchitis; return if fever or dyspnea.
        P: Return in 6 months with HbA1c, lipid panel and basic metabolic panel.
    """
    seed.note(prior, soap(seed, prior, body, v3, l3), "2025-11-18 10:05")
    body = """
        S: Diabetes and hypertension follow-up. Tolerating metformin 1000 mg twice daily; mild
           loose stools in the first weeks, now resolved. Home BP readings 135-145/85-92. Cough
           resolved.
        O: Well appearing. Heart regular, no murmur. No edema.
        A: Type 2 diabetes mellitus, improving (HbA1c 8.4% -> 8.1%).
        A: Hypertension, not at goal.
        A: Hyperlipidemia, LDL 112 mg/dL with diabetes: statin indicated.
        P: Continue metformin 1000 mg twice daily.
        P: Start atorvastatin 80 mg at bedtime.
        P: Continue lisinopril 10 mg daily; reduce sodium intake.
        P: Return in 6 months with labs.
    """
    text = soap(seed, mid, body, v2, l2)
    seed.note(mid, text, "2026-05-12 10:20")
    composition(seed, mid, text)
    body = """
        S: Follow-up for type 2 diabetes and hypertension. Reports good adherence to metformin
           and atorvastatin, no muscle aches. Home BP readings 138-146/84-90. No chest pain, no
           headaches, no vision change.
        O: Well appearing. Heart regular. Feet: no lesions, monofilament intact.
        A: Type 2 diabetes mellitus, improving (HbA1c 7.8%), not yet at the goal below 7%.
        A: Hypertension, above the goal of 130/80 on lisinopril 10 mg.
        A: Hyperlipidemia, LDL 96 mg/dL on atorvastatin.
        P: Continue metformin 1000 mg twice daily.
        P: Start amlodipine 5 mg once daily; continue lisinopril 10 mg daily.
        P: Continue atorvastatin 80 mg at bedtime.
        P: Recheck blood pressure in 4 weeks; HbA1c in 3 months.
    """
    seed.note(
        today,
        soap(seed, today, body, v1, l1),
        "2026-11-16 09:52",
        did="docref-1",
        description="Diabetes and hypertension follow-up progress note",
    )
    seed.add(
        "Provenance",
        "prov-1",
        {
            "target": [ref("DocumentReference", "docref-1")],
            "recorded": "2026-11-16T09:52:00Z",
            "activity": cc(f"{TERMINOLOGY}/v3-DataOperation", "CREATE", "create"),
            "agent": [
                {
                    "type": cc(f"{TERMINOLOGY}/provenance-participant-type", "author", "Author"),
                    "who": ref("Practitioner", "prac-1"),
                    "onBehalfOf": ref("Organization", "org-1"),
                }
            ],
        },
    )


def composition(seed: Seed, enc: Enc, text: str) -> None:
    """The same prior note as a Composition (comp-1): one XHTML section per SOAP heading."""
    codes = {
        "SUBJECTIVE": ("61150-9", "Subjective Narrative"),
        "OBJECTIVE": ("61149-1", "Objective Narrative"),
        "ASSESSMENT": ("51848-0", "Evaluation note"),
        "PLAN": ("18776-5", "Plan of care note"),
    }
    sections: list[Json] = []
    paragraphs: list[str] = []
    for line in text.splitlines():
        if line.rstrip(":") in codes:
            paragraphs = []
            sections.append(
                {
                    "title": line.rstrip(":").title(),
                    "code": cc(LOINC, *codes[line.rstrip(":")]),
                    "p": paragraphs,
                }
            )
        elif sections and line and not line.startswith("Electronically signed"):
            paragraphs.append(line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    for section in sections:
        html = "".join(f"<p>{p}</p>" for p in section.pop("p"))
        section["text"] = {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{html}</div>',
        }
    seed.add(
        "Composition",
        "comp-1",
        {
            "identifier": {"system": NOTE_SYSTEM, "value": "SBX-COMP-000001"},
            "status": "final",
            "type": cc(LOINC, *NOTE_TYPES["progress"]),
            "category": CLINICAL_NOTE,
            "subject": ref("Patient", enc.patient),
            "encounter": ref("Encounter", enc.id),
            "date": iso(enc.end or enc.start),
            "author": [seed.prac(enc.practitioner)],
            "title": "Progress note",
            "custodian": ref("Organization", "org-1"),
            "section": sections,
        },
    )


def james_chen(seed: Seed) -> None:
    """pat-2: COPD; an ambulatory visit (enc-2), now admitted (enc-3, in progress)."""
    patient(seed, "pat-2", "male", "1955-11-03", [name("Chen", ["James"])])
    clinic = seed.encounter(
        "pat-2", "AMB/followup", "2026-06-20 14:00", 40, "COPD follow-up", eid="enc-2"
    )
    admit = seed.encounter(
        "pat-2",
        "IMP/admission",
        "2026-11-14 22:15",
        None,
        "COPD exacerbation",
        loc="loc-2",
        prac="prac-2",
        eid="enc-3",
    )
    vc = seed.vitals(
        clinic, at("2026-06-20 14:06"), "bp=134/80 hr=84 rr=18 temp=36.7 spo2=94 wt=71.4 ht=172"
    )
    seed.labs(clinic, at("2026-06-13 08:00"), "hgb=14.9 cr=1.01 k=4.2 glu=102")
    va: dict[str, Any] = {}
    for i in range(6):  # every 8 hours since admission
        when = admit.start + timedelta(minutes=15 + 480 * i)
        va = seed.vitals(
            admit,
            when,
            bp=(128 - i, 76 + i % 2),
            hr=104 - 3 * i,
            rr=24 - i,
            temp=37.9 - 0.2 * i,
            spo2=89 + i,
            wt=70.8 if i == 0 else None,
        )
    la = seed.labs(
        admit, admit.start + timedelta(minutes=40), "wbc=13.2 hgb=15.2 cr=1.08 k=4.0 glu=168"
    )

    seed.condition("pat-2", clinic, COPD, "2010-09-20", cid="cond-3")
    seed.condition("pat-2", admit, COPD_EXACERBATION, "2026-11-12")
    seed.condition("pat-2", clinic, HTN, "2014-05-02")
    seed.medication(
        "pat-2",
        clinic,
        ALBUTEROL,
        "2026-06-20",
        "COPD",
        "Inhale 2 puffs every 4-6 hours as needed for shortness of breath",
        mid="medrx-3",
    )
    seed.medication(
        "pat-2",
        clinic,
        FLUTICASONE_SALMETEROL,
        "2026-06-20",
        "COPD",
        "Inhale 1 puff twice daily; rinse mouth after use",
    )
    seed.medication(
        "pat-2",
        admit,
        PREDNISONE,
        "2026-11-15",
        "COPD exacerbation",
        "Take 2 tablets (40 mg) by mouth once daily for 5 days",
    )
    seed.medication(
        "pat-2", None, AMLODIPINE, "2019-08-14", "Hypertension", "Take 1 tablet by mouth once daily"
    )
    seed.allergy(
        "pat-2", PEANUT, "food", "2001-03-14", (ANAPHYLAXIS, "severe", "high"), aid="allergy-2"
    )

    body = """
        S: COPD follow-up. Uses albuterol 2-3 times a week, more on humid days. Walks one block
           before stopping. Quit smoking in 2015 (40 pack-years).
        O: Prolonged expiration, faint end-expiratory wheeze bilaterally.
        A: COPD, GOLD group B, symptomatic on a rescue inhaler alone.
        A: Hypertension, at goal.
        P: Start fluticasone/salmeterol 250/50 one puff twice daily.
        P: Pulmonary rehabilitation referral.
        P: Influenza and pneumococcal vaccines offered.
        P: Return in 3 months.
    """
    seed.note(clinic, soap(seed, clinic, body, vc), "2026-06-20 15:02")
    body = """
        S: Hospital day 1. Admitted overnight with three days of increased dyspnea, cough and
           green sputum. Slept poorly, feels slightly better this morning.
        O: Chest X-ray: hyperinflation, no consolidation. Diffuse expiratory wheeze.
        A: Acute exacerbation of COPD, likely infectious, improving.
        A: Hypoxemia, improving on 2 L/min nasal cannula.
        P: Prednisone 40 mg daily for 5 days.
        P: Scheduled nebulised albuterol/ipratropium.
        P: Doxycycline 100 mg twice daily for 5 days.
        P: Wean oxygen to SpO2 88-92%.
        P: Physiotherapy and ambulation today.
    """
    seed.note(admit, soap(seed, admit, body, va, la, "Hospital progress note"), "2026-11-15 11:30")


def aisha_okafor(seed: Seed) -> None:
    """pat-3: a young adult with asthma; a 'no known allergies' record."""
    patient(seed, "pat-3", "female", "1990-07-21", [name("Okafor", ["Aisha"])])
    enc = seed.encounter(
        "pat-3", "AMB/followup", "2026-10-05 11:30", 30, "Asthma follow-up", eid="enc-4"
    )
    earlier = seed.encounter(
        "pat-3", "AMB/symptom", "2026-04-22 16:10", 25, "Wheezing after a cold"
    )
    v = seed.vitals(
        enc, at("2026-10-05 11:36"), "bp=116/72 hr=64 rr=14 temp=36.6 spo2=99 wt=61.0 ht=168"
    )
    v0 = seed.vitals(
        earlier, at("2026-04-22 16:15"), "bp=122/78 hr=92 rr=20 temp=37.4 spo2=96 wt=61.8 ht=168"
    )
    seed.labs(enc, at("2026-09-28 08:30"), "hgb=12.8 glu=88")
    seed.condition("pat-3", earlier, ASTHMA, "2001-05-05", cid="cond-4")
    seed.medication(
        "pat-3",
        earlier,
        ALBUTEROL,
        "2026-04-22",
        "Asthma",
        "Inhale 2 puffs every 4 hours as needed for wheeze",
    )
    seed.medication(
        "pat-3", earlier, FLUTICASONE, "2026-04-22", "Asthma", "Inhale 2 puffs twice daily"
    )
    seed.allergy("pat-3", NO_KNOWN_ALLERGY, None, "2026-04-22")
    body = """
        S: Three days of wheeze and chest tightness after an upper respiratory infection. Using
           albuterol four times a day. No fever.
        O: Scattered expiratory wheeze, good air entry. Speaks in full sentences.
        A: Asthma exacerbation, mild, triggered by a viral infection.
        P: Start fluticasone 88 mcg twice daily.
        P: Albuterol as needed.
        P: Written asthma action plan given.
        P: Return in 6 months or sooner if worse.
    """
    seed.note(earlier, soap(seed, earlier, body, v0), "2026-04-22 16:40")
    body = """
        S: Asthma review. Uses albuterol about once a month. No night waking. Runs twice a week.
        O: Chest clear.
        A: Asthma, well controlled on a low-dose inhaled corticosteroid.
        P: Continue fluticasone; consider a step-down at the next review.
        P: Annual influenza vaccine given today.
    """
    seed.note(enc, soap(seed, enc, body, v), "2026-10-05 12:05")


def zoe(seed: Seed) -> None:
    """pat-4: non-ASCII name, leap-day birth date, and an amended note (replaces chain)."""
    full = "Zoë Łukasiewicz-Núñez"
    patient(
        seed,
        "pat-4",
        "female",
        "1984-02-29",
        [name("Łukasiewicz-Núñez", ["Zoë"], text=full)],
        ("es", "Spanish"),
    )
    first = seed.encounter(
        "pat-4", "AMB/symptom", "2026-03-03 13:00", 45, "Joint pain and morning stiffness"
    )
    enc = seed.encounter(
        "pat-4", "AMB/followup", "2026-09-08 14:20", 30, "Rheumatoid arthritis follow-up"
    )
    v0 = seed.vitals(
        first, at("2026-03-03 13:05"), "bp=118/76 hr=76 rr=14 temp=36.9 spo2=99 wt=58.3 ht=160"
    )
    l0 = seed.labs(first, at("2026-03-03 13:40"), "hgb=11.6 cr=0.71 alt=22 wbc=7.9")
    v = seed.vitals(
        enc, at("2026-09-08 14:24"), "bp=114/74 hr=70 rr=14 temp=36.7 spo2=99 wt=59.0 ht=160"
    )
    lab = seed.labs(enc, at("2026-09-01 08:15"), "hgb=12.4 cr=0.74 alt=28 wbc=6.8")
    seed.condition("pat-4", first, RHEUMATOID, "2025-12-01")
    seed.medication(
        "pat-4",
        first,
        METHOTREXATE,
        "2026-03-03",
        "Rheumatoid arthritis",
        "Take 6 tablets (15 mg) by mouth ONCE WEEKLY on Mondays",
    )
    seed.medication(
        "pat-4",
        first,
        FOLIC_ACID,
        "2026-03-03",
        "Methotrexate supplementation",
        "Take 1 tablet by mouth once daily except on the methotrexate day",
    )
    seed.allergy("pat-4", SULFAMETHOXAZOLE, "medication", "2019-07-11", (HIVES, "mild", "low"))
    body = """
        S: Four months of symmetric pain and swelling of the small joints of both hands, morning
           stiffness for about an hour. Rheumatoid factor and anti-CCP positive at an outside lab.
        O: Synovitis of MCP 2-3 bilaterally and the right wrist.
        A: Rheumatoid arthritis, seropositive, moderate activity.
        P: Start methotrexate 15 mg once weekly with folic acid 1 mg daily.
        P: Labs (CBC, creatinine, ALT) every 4-6 weeks for 3 months.
        P: Avoid alcohol. Contraception counselling done.
    """
    seed.note(first, soap(seed, first, body, v0, l0), "2026-03-03 14:10")
    body = """
        S: RA follow-up. Morning stiffness now 15 minutes. No mouth ulcers, no cough.
        O: No active synovitis.
        A: Rheumatoid arthritis, low disease activity on methotrexate.
        P: Continue methotrexate 15 mg daily.
        P: Continue folic acid 1 mg daily.
        P: Repeat labs in 3 months.
    """
    wrong = soap(seed, enc, body, v, lab)
    original = seed.note(enc, wrong, "2026-09-08 15:05", status="superseded")
    amended = wrong.replace("methotrexate 15 mg daily", "methotrexate 15 mg ONCE WEEKLY") + (
        "\nAMENDMENT 2026-09-10: the plan said methotrexate 15 mg daily in error; the dose is "
        "15 mg once weekly, as prescribed. Patient contacted and confirmed weekly dosing.\n"
    )
    seed.note(
        enc,
        amended,
        "2026-09-10 08:30",
        doc_status="amended",
        replaces=original,
        description="Amended: corrected methotrexate frequency (weekly, not daily)",
    )


def creatinine(egfr: float, age: float) -> float:
    """Serum creatinine (mg/dL) giving this eGFR for a man (CKD-EPI 2021, creatinine > 0.9)."""
    return 0.9 * (egfr / (142 * 0.9938**age)) ** (-1 / 1.2)


def soren(seed: Seed) -> None:
    """pat-5: 300+ observations: quarterly vitals and labs since 2019 and one admission."""
    patient(
        seed,
        "pat-5",
        "male",
        "1949-09-30",
        [name("Ødegård", ["Søren"], text="Søren Ødegård")],
        ("da", "Danish"),
    )
    birth, first, admitted = date(1949, 9, 30), date(2019, 1, 15), date(2024, 2, 19)
    visits: list[tuple[Enc, dict[str, Any], dict[str, float]]] = []
    for i in range(32):  # every 13 weeks; primary care and nephrology alternate
        day = first + timedelta(days=91 * i)
        nephro = i % 2 == 1
        enc = seed.encounter(
            "pat-5",
            "AMB/followup",
            f"{day} {'15:00' if nephro else '10:30'}",
            30,
            "Chronic kidney disease follow-up"
            if nephro
            else "Diabetes, heart failure and atrial fibrillation follow-up",
            loc="loc-4" if nephro else "loc-1",
            prac="prac-5" if nephro else "prac-1",
        )
        years, age = (day - first).days / 365.25, (day - birth).days / 365.25
        weight = (
            92.0 - 0.6 * years + (1.8 if day < admitted and years > 4.8 else 0) + seed.noise(0.5)
        )
        vit = seed.vitals(
            enc,
            enc.start + timedelta(minutes=6),
            bp=(136 + seed.noise(6) - (6 if day > admitted else 0), 78 + seed.noise(4)),
            hr=78 + seed.noise(8),
            rr=16 + seed.noise(1),
            temp=36.7 + seed.noise(0.2),
            spo2=96 + seed.noise(1),
            wt=weight,
            ht=178.0 if i % 4 == 0 else None,
            bmi=weight / 1.78**2,
        )
        egfr = 58 - 2.6 * years + seed.noise(1.5)
        values = {
            "cr": creatinine(egfr, age),
            "egfr": egfr,
            "k": 4.5 + 0.06 * years + seed.noise(0.2),
            "na": 139 + seed.noise(2),
            "bun": 24 + 2.2 * years + seed.noise(3),
            "glu": 150 - 4 * years + seed.noise(18),
            "a1c": 7.9 - 0.1 * years + seed.noise(0.2),
            "hgb": 13.6 - 0.18 * years + seed.noise(0.3),
        }
        if i % 4 == 0:
            values["ldl"] = 92 - 3 * years + seed.noise(8)
        if i % 2 == 0:
            values["bnp"] = 180 + 25 * years + seed.noise(30)
        lab = seed.labs(enc, at(f"{day - timedelta(days=7)} 08:00"), **values)
        visits.append((enc, vit, lab))
        if i == 20:  # the admission happened between these two visits
            admission(seed, birth)

    enc0 = visits[0][0]
    seed.condition("pat-5", enc0, T2DM, "2006-03-01")
    seed.condition("pat-5", enc0, CKD3, "2017-10-01")
    seed.condition("pat-5", enc0, HEART_FAILURE, "2016-05-01")
    seed.condition("pat-5", enc0, AFIB, "2015-01-20")
    seed.condition("pat-5", enc0, HTN, "2001-06-01")
    seed.medication(
        "pat-5",
        enc0,
        APIXABAN,
        "2019-01-15",
        "Atrial fibrillation",
        "Take 1 tablet by mouth twice daily",
    )
    seed.medication(
        "pat-5",
        enc0,
        CARVEDILOL,
        "2019-01-15",
        "Heart failure",
        "Take 1 tablet by mouth twice daily with food",
    )
    seed.medication(
        "pat-5",
        visits[21][0],
        FUROSEMIDE,
        "2024-04-16",
        "Heart failure",
        "Take 1 tablet by mouth every morning; weigh daily",
    )
    seed.medication(
        "pat-5",
        visits[13][0],
        EMPAGLIFLOZIN,
        "2022-04-12",
        "Diabetes, kidney and heart protection",
        "Take 1 tablet by mouth once daily",
    )
    seed.medication(
        "pat-5",
        enc0,
        LISINOPRIL,
        "2019-01-15",
        "Hypertension",
        "Take 1 tablet by mouth once daily",
        status="stopped",
    )
    seed.allergy("pat-5", SHELLFISH, "food", "1995-08-02", (HIVES, "moderate", "high"))
    for enc, vit, lab in visits[-2:]:
        if enc.practitioner == "prac-5":
            subjective = "Kidney review. Nocturia twice a night, no dysuria, appetite good. Avoids ibuprofen as advised."
        else:
            subjective = "Feels well. Walks to the shops daily, two pillows at night, no ankle swelling. Weighs himself every morning. No bleeding on apixaban."
        body = f"""
            S: {subjective}
            O: Irregularly irregular pulse. Trace ankle edema. JVP not raised.
            A: Chronic kidney disease stage 3b, slowly progressive.
            A: Heart failure with reduced ejection fraction, compensated.
            A: Atrial fibrillation, rate controlled, anticoagulated.
            A: Type 2 diabetes mellitus, HbA1c at the individual goal.
            P: Continue apixaban, carvedilol, furosemide and empagliflozin.
            P: Avoid NSAIDs and other nephrotoxins; sick-day rules reviewed.
            P: Repeat renal panel and potassium in 3 months.
        """
        seed.note(enc, soap(seed, enc, body, vit, lab), enc.end or enc.start)


def admission(seed: Seed, birth: date) -> None:
    """pat-5's admission, 2024-02-19 to 2024-02-22: vitals every 8 hours, daily labs."""
    enc = seed.encounter(
        "pat-5",
        "IMP/admission",
        "2024-02-19 18:40",
        4 * 24 * 60 - 200,
        "Decompensated heart failure",
        loc="loc-2",
        prac="prac-2",
    )
    vit: dict[str, Any] = {}
    for i in range(12):
        done = i / 11
        vit = seed.vitals(
            enc,
            enc.start + timedelta(minutes=20 + 480 * i),
            bp=(152 - 18 * done + seed.noise(4), 88 - 10 * done),
            hr=108 - 30 * done + seed.noise(4),
            rr=26 - 9 * done,
            temp=36.9 + seed.noise(0.2),
            spo2=89 + 6 * done,
            wt=97.6 - 1.6 * i / 3 if i % 3 == 0 else None,
        )
    lab: dict[str, float] = {}
    for d in range(4):
        egfr = 31 + 3 * d + seed.noise(1)
        age = (date(2024, 2, 20 + d) - birth).days / 365.25
        values = {"cr": creatinine(egfr, age), "egfr": egfr, "k": 5.3 - 0.25 * d, "na": 133 + d}
        if d in (0, 3):
            values["bnp"] = 1450 if d == 0 else 610
        lab = seed.labs(enc, at(f"2024-02-{20 + d} 05:30"), **values)
    body = """
        S: Admitted with two weeks of worsening breathlessness, orthopnea and a 5 kg weight gain
           after stopping furosemide on his own. Diuresed 4.8 L.
        O: Discharge examination: bibasal crackles resolved, no edema.
        A: Acute on chronic heart failure, resolved with diuresis.
        A: Acute kidney injury on CKD stage 3, recovering.
        A: Hyperkalemia, resolved.
        P: Stop lisinopril (hyperkalemia and acute kidney injury).
        P: Furosemide 40 mg every morning.
        P: Daily weights; call if the gain is above 2 kg in 3 days.
        P: Clinic follow-up within 7 days; renal panel in 1 week.
    """
    seed.note(
        enc,
        soap(seed, enc, body, vit, lab, "Discharge summary"),
        enc.end or enc.start,
        kind="discharge",
    )


def lin_meiling(seed: Seed) -> None:
    """pat-6: name in CJK script (with a romanized alias); an emergency then a clinic visit."""
    names = [
        name("林", ["美玲"], text="林美玲"),
        name("Lin", ["Meiling"], use="usual", text="Meiling Lin"),
    ]
    patient(seed, "pat-6", "female", "1979-08-15", names, ("zh", "Chinese"))
    er = seed.encounter(
        "pat-6",
        "EMER/emergency",
        "2026-08-02 03:40",
        190,
        "Severe headache",
        loc="loc-3",
        prac="prac-3",
    )
    fu = seed.encounter("pat-6", "AMB/followup", "2026-08-19 10:00", 30, "Headache follow-up")
    ve = seed.vitals(
        er, at("2026-08-02 03:48"), "bp=148/94 hr=96 rr=18 temp=36.8 spo2=99 wt=56.2 ht=158"
    )
    le = seed.labs(er, at("2026-08-02 04:10"), "wbc=7.1 hgb=13.2 glu=104 na=140 k=3.9 cr=0.66")
    vf = seed.vitals(
        fu, at("2026-08-19 10:04"), "bp=122/78 hr=72 rr=14 temp=36.6 spo2=99 wt=56.0 ht=158"
    )
    lf = seed.labs(fu, at("2026-08-19 10:30"), "tsh=6.8")
    seed.condition("pat-6", er, MIGRAINE, "1998-01-01")
    seed.condition("pat-6", fu, HYPOTHYROID, "2026-08-19")
    seed.medication(
        "pat-6",
        er,
        ACETAMINOPHEN,
        "2026-08-02",
        "Migraine",
        "Take 2 tablets by mouth every 6 hours as needed for headache, at most 8 tablets a day",
    )
    seed.medication(
        "pat-6",
        fu,
        LEVOTHYROXINE,
        "2026-08-19",
        "Hypothyroidism",
        "Take 1 tablet by mouth every morning on an empty stomach",
    )
    seed.allergy("pat-6", LATEX, "environment", "2012-05-30", (RASH, "mild", "low"))
    body = """
        S: Throbbing left-sided headache for 10 hours with nausea and light sensitivity, like
           her usual migraines but longer. No fever, no neck stiffness, no weakness.
        O: Alert, normal neurological examination, no meningism.
        A: Migraine without aura, prolonged attack. No red flags.
        P: IV fluids, metoclopramide 10 mg IV, acetaminophen 1 g by mouth: pain 8/10 -> 2/10.
        P: Discharged home; follow up with primary care in 2 weeks.
    """
    seed.note(er, soap(seed, er, body, ve, le, "Emergency department note"), "2026-08-02 06:40")
    body = """
        S: No further severe headaches. Reports tiredness and feeling cold for months.
        O: Dry skin, thyroid not enlarged.
        A: Migraine, infrequent.
        A: Hypothyroidism (TSH 6.8 mIU/L), symptomatic.
        P: Start levothyroxine 75 mcg daily; TSH in 6 weeks.
        P: Headache diary.
    """
    seed.note(fu, soap(seed, fu, body, vf, lf), "2026-08-19 10:35")


def fatima(seed: Seed) -> None:
    """pat-7: name in Arabic script (right-to-left) with a romanized alias."""
    names = [
        name("الحسيني", ["فاطمة"], text="فاطمة الحسيني"),
        name("Al-Husseini", ["Fatima"], use="usual", text="Fatima Al-Husseini"),
    ]
    patient(seed, "pat-7", "female", "1996-12-09", names, ("ar", "Arabic"))
    enc = seed.encounter("pat-7", "AMB/symptom", "2026-07-14 08:45", 30, "Fatigue")
    enc2 = seed.encounter("pat-7", "AMB/followup", "2026-10-20 08:45", 20, "Anemia follow-up")
    v = seed.vitals(
        enc, at("2026-07-14 08:50"), "bp=104/66 hr=94 rr=16 temp=36.7 spo2=99 wt=54.5 ht=163"
    )
    lab = seed.labs(enc, at("2026-07-14 09:20"), "hgb=9.4 ferritin=6 tsh=1.9")
    v2 = seed.vitals(
        enc2, at("2026-10-20 08:50"), "bp=108/68 hr=80 rr=14 temp=36.6 spo2=99 wt=55.1 ht=163"
    )
    lab2 = seed.labs(enc2, at("2026-10-13 08:40"), "hgb=11.9 ferritin=24")
    seed.condition("pat-7", enc, IRON_ANEMIA, "2026-07-14")
    seed.medication(
        "pat-7",
        enc,
        FERROUS_SULFATE,
        "2026-07-14",
        "Iron deficiency anemia",
        "Take 1 tablet by mouth every other day with orange juice",
    )
    seed.allergy("pat-7", PENICILLIN, "medication", "2015-10-03", (ANAPHYLAXIS, "severe", "high"))
    body = """
        S: Three months of tiredness and breathlessness on stairs. Heavy menstrual periods.
           Vegetarian diet.
        O: Conjunctival pallor. No murmur.
        A: Iron deficiency anemia, likely from menstrual loss and low intake.
        P: Ferrous sulfate 325 mg every other day.
        P: Gynecology referral for menorrhagia.
        P: Repeat hemoglobin and ferritin in 3 months.
    """
    seed.note(enc, soap(seed, enc, body, v, lab), "2026-07-14 09:40")
    body = """
        S: Energy much better. Tolerating iron with mild constipation.
        A: Iron deficiency anemia, responding (Hgb 9.4 -> 11.9 g/dL).
        P: Continue iron for 3 more months to replete stores.
    """
    seed.note(enc2, soap(seed, enc2, body, v2, lab2), "2026-10-20 09:10")


def jean_luc(seed: Seed) -> None:
    """pat-8: an apostrophe and a hyphen in the name; one emergency visit; no allergy record."""
    patient(seed, "pat-8", "male", "2001-12-31", [name("O'Brien", ["Jean-Luc"])])
    er = seed.encounter(
        "pat-8",
        "EMER/emergency",
        "2026-09-27 19:05",
        95,
        "Right ankle injury",
        loc="loc-3",
        prac="prac-3",
    )
    v = seed.vitals(
        er, at("2026-09-27 19:12"), "bp=128/74 hr=88 rr=16 temp=36.8 spo2=99 wt=77.0 ht=183"
    )
    seed.labs(er, at("2026-09-27 19:40"), "glu=94 hgb=15.1")
    seed.condition("pat-8", er, ANKLE_SPRAIN, "2026-09-27")
    seed.medication(
        "pat-8",
        er,
        NAPROXEN,
        "2026-09-27",
        "Ankle sprain",
        "Take 1 tablet by mouth every 12 hours with food for up to 7 days",
    )
    body = """
        S: Inversion injury of the right ankle playing football two hours ago. Able to bear
           weight with pain. No other injuries.
        O: Swelling over the lateral malleolus, tender anterior talofibular ligament. No bony
           tenderness at the posterior edge or tip of either malleolus (Ottawa rules negative).
        A: Lateral ankle sprain, grade I-II. No X-ray indicated.
        P: Rest, ice, compression, elevation.
        P: Naproxen 220 mg twice daily for up to 7 days.
        P: Ankle brace; physiotherapy if not improving in 2 weeks.
    """
    seed.note(er, soap(seed, er, body, v, None, "Emergency department note"), "2026-09-27 20:35")


def eleanor_brooks(seed: Seed) -> None:
    """pat-9: registered, problems and medications transferred in, but no encounter yet."""
    patient(seed, "pat-9", "female", "1937-01-05", [name("Brooks", ["Eleanor", "May"])])
    seed.condition("pat-9", None, OSTEOPOROSIS, "2011-04-01", recorded="2026-10-28")
    seed.condition("pat-9", None, KNEE_OA, "2005-01-01", recorded="2026-10-28")
    seed.medication(
        "pat-9",
        None,
        ACETAMINOPHEN,
        "2026-10-28",
        "Osteoarthritis of knee",
        "Take 2 tablets by mouth up to three times daily as needed for knee pain",
    )
    seed.medication(
        "pat-9",
        None,
        ALENDRONATE,
        "2026-10-28",
        "Osteoporosis",
        "Take 1 tablet by mouth once weekly, upright, 30 minutes before breakfast",
    )


def liam_patel(seed: Seed) -> None:
    """pat-10: a child (pediatric ranges); a well-child visit and a sick visit."""
    patient(seed, "pat-10", "male", "2019-06-01", [name("Patel", ["Liam", "Arjun"])])
    well = seed.encounter(
        "pat-10", "AMB/wellchild", "2026-06-03 15:30", 30, "Well-child visit, 7 years"
    )
    sick = seed.encounter("pat-10", "AMB/symptom", "2026-10-26 16:00", 20, "Ear pain and fever")
    vw = seed.vitals(
        well, at("2026-06-03 15:34"), "bp=98/60 hr=88 rr=20 temp=36.8 spo2=99 wt=23.6 ht=122.4"
    )
    lw = seed.labs(well, at("2026-06-03 16:05"), "hgb=12.6")
    vs = seed.vitals(sick, at("2026-10-26 16:03"), "hr=118 rr=24 temp=38.6 spo2=98 wt=24.4")
    seed.condition("pat-10", well, HAY_FEVER, "2024-04-01")
    seed.condition("pat-10", sick, OTITIS, "2026-10-24")
    seed.medication(
        "pat-10",
        well,
        LORATADINE,
        "2026-06-03",
        "Allergic rhinitis",
        "Chew 1 tablet once daily during pollen season",
    )
    seed.medication(
        "pat-10",
        sick,
        AMOXICILLIN,
        "2026-10-26",
        "Acute otitis media",
        "Give 1 capsule (250 mg) by mouth 3 times daily for 7 days",
    )
    seed.allergy("pat-10", EGG, "food", "2020-09-15", (HIVES, "mild", "low"))
    body = """
        S: 7-year well visit. Doing well in first grade. Sneezing and itchy eyes each spring.
        O: Growth along the 50th percentile. Normal examination.
        A: Healthy child, normal growth and development.
        A: Seasonal allergic rhinitis.
        P: Loratadine 5 mg daily in pollen season.
        P: Vaccines up to date.
        P: Next well visit in one year.
    """
    seed.note(well, soap(seed, well, body, vw, lw, "Well-child progress note"), "2026-06-03 16:10")
    body = """
        S: Two days of right ear pain and fever to 38.9 °C, pulling at the ear. Eating less.
        O: Right tympanic membrane red and bulging. Throat mildly red.
        A: Acute otitis media, right.
        P: Amoxicillin 250 mg three times daily for 7 days.
        P: Acetaminophen for fever.
        P: Return if not better in 48-72 hours.
    """
    seed.note(sick, soap(seed, sick, body, vs), "2026-10-26 16:25")


# ----------------------------------------------------------------------------- assembly

PATIENTS = [
    maria_garcia,
    james_chen,
    aisha_okafor,
    zoe,
    soren,
    lin_meiling,
    fatima,
    jean_luc,
    eleanor_brooks,
    liam_patel,
]


# (practitioner, SNOMED CT occupation code, its display) on every patient's care team;
# pat-1 also sees Dr. Robert Jones (internal medicine), pat-5 Dr. Müller-Åberg (nephrology)
CARE_TEAM = [
    ("prac-1", "446050000", "Primary care physician (occupation)"),
    ("prac-4", "224535009", "Registered nurse (occupation)"),
]
EXTRA_CARE_TEAM = {
    "pat-1": [("prac-2", "309343006", "Physician (occupation)")],
    "pat-5": [("prac-5", "309343006", "Physician (occupation)")],
}


def care_teams(seed: Seed) -> None:
    """One active care team per patient (task owners are picked from it)."""
    patients = [r for r in seed.resources if r["resourceType"] == "Patient"]
    for n, patient in enumerate(patients, 1):
        pid = patient["id"]
        members = CARE_TEAM + EXTRA_CARE_TEAM.get(pid, [])
        seed.add(
            "CareTeam",
            f"careteam-{n}",
            {
                "status": "active",
                "category": [
                    cc(
                        "http://loinc.org",
                        "LA28865-6",
                        "Longitudinal care-coordination focused care team",
                    )
                ],
                "name": "Primary care team",
                "subject": ref("Patient", pid),
                "participant": [
                    {"role": [cc(SNOMED, code, display)], "member": seed.prac(prac)}
                    for prac, code, display in members
                ],
                "managingOrganization": [ref("Organization", "org-1", ORG)],
            },
        )


def build() -> Json:
    seed = Seed()
    # ids that match the peer EHR's seed are given explicitly; the rest count on from here
    for prefix, explicit in [("enc", 4), ("cond", 4), ("medrx", 3), ("allergy", 2), ("docref", 1)]:
        seed.reserve(prefix, explicit)
    directory(seed)
    for make_patient in PATIENTS:
        make_patient(seed)
    care_teams(seed)
    keys = [(r["resourceType"], r["id"]) for r in seed.resources]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise ValueError(f"duplicate resources: {sorted(duplicates)}")
    return {
        "resourceType": "Bundle",
        "meta": META,
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in seed.resources
        ],
    }


def render(bundle: Json) -> str:
    return json.dumps(bundle, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the sandbox EHR's synthetic seed Bundle.")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output file (default {OUT})")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the output file is out of date",
    )
    args = parser.parse_args(argv)
    bundle = build()
    text = render(bundle)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run python {__file__}", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(bundle['entry'])} resources, {len(text.encode()) // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
