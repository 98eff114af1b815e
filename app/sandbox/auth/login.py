"""Who may sign in to the sandbox, and which launch context a sign-in gets.

Logins are the directory's Practitioners and Patients (no passwords: it is a sandbox). A login
may be written ``prac-1:pat-2`` (as on the peer EHR) to pick the patient in context.

Context rules:
- Patient login: the patient in context is always that patient.
- Practitioner login: a patient is put in context only when ``launch/patient``,
  ``launch/encounter`` or ``launch`` was requested; the chosen one, else the default patient:
  the lowest seed id in natural order (``pat-1`` before ``pat-2`` before ``pat-10``), which is
  the peer EHR's default too, so an unattended launch lands on the same patient on both servers
  (patients created later with server-assigned ids never become the default).
- Encounter: with ``launch/encounter`` (or ``launch``), the patient's latest encounter, if any.
"""

from __future__ import annotations

import re

from app.sandbox.auth.errors import UnknownLoginError
from app.sandbox.auth.records import LoginUser, UserKind
from app.sandbox.auth.scopes import wants_encounter, wants_patient
from app.sandbox.contracts import Directory, DirectoryEntry

_SEED_ID = re.compile(r"^pat-\d+$")  # the seed's patient ids (resources/sandbox)


def _natural_key(text: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p]


def split_login(login: str) -> tuple[str, str | None]:
    user, _, patient = login.strip().partition(":")
    return user.strip(), (patient.strip() or None)


class LoginDirectory:
    """Answers the login page's questions from the sandbox's FHIR directory."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    def practitioners(self) -> list[DirectoryEntry]:
        return self._directory.practitioners()

    def patients(self) -> list[DirectoryEntry]:
        return self._directory.patients()

    def default_patient(self) -> str | None:
        """The seed's first patient (``pat-1``), so patients created later (with server-assigned
        UUIDs that may sort first) never change who an unattended launch opens."""
        ids = [entry.id for entry in self.patients()]
        seeded = [i for i in ids if _SEED_ID.match(i)]
        return min(seeded or ids, key=_natural_key) if ids else None

    def display(self, resource_type: str, resource_id: str) -> str:
        entries = self.practitioners() if resource_type == "Practitioner" else self.patients()
        for entry in entries:
            if entry.id == resource_id:
                return entry.display
        return f"{resource_type}/{resource_id}"

    def check(self, login: str) -> None:
        """Raise UnknownLoginError unless ``login`` (and its ``:patient``) exist."""
        self.resolve(login, None, "launch/patient")

    def resolve(self, login: str, picked_patient: str | None, scope: str | None) -> LoginUser:
        user_id, login_patient = split_login(login)
        picked = login_patient or (picked_patient or "").strip() or None
        if not user_id:
            raise UnknownLoginError("choose who signs in")
        if self._directory.exists("Practitioner", user_id):
            kind = UserKind.PRACTITIONER
        elif self._directory.exists("Patient", user_id):
            kind = UserKind.PATIENT
        else:
            raise UnknownLoginError(f"{user_id} is neither a Practitioner nor a Patient here")

        patient: str | None = None
        if kind is UserKind.PATIENT:
            patient = user_id
        elif wants_patient(scope) or wants_encounter(scope):
            if picked is not None:
                if not self._directory.exists("Patient", picked):
                    raise UnknownLoginError(f"there is no Patient {picked} here")
                patient = picked
            else:
                patient = self.default_patient()

        encounter = None
        if patient is not None and wants_encounter(scope):
            encounter = self._directory.latest_encounter(patient)
        return LoginUser(
            kind=kind,
            id=user_id,
            display=self.display(kind.value, user_id),
            patient=patient,
            encounter=encounter,
        )
