"""What the facade raises; errors become words through app.domain.errors.words_for.

    ServiceError              an action failed for a reason the clinician can act on;
    │                         ``words`` says what happened and what to do (never a traceback)
    └── SignInCancelled       the clinician closed the sign-in (not a failure to show)

Every service method that can fail for such a reason translates the layer's own error
(``SmartError.message``; ``user_message`` of the domain, FHIR, store and sync errors) into a
``ServiceError`` at the boundary, so the UI catches one type. Anything else is a bug: it reaches
the UI's task tracker, which shows ``words_for`` with a fallback sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.domain.errors import DomainError, words_for
from app.fhir.errors import FhirError
from app.smart.errors import SignInCancelled as SmartSignInCancelled
from app.smart.errors import SmartError
from app.store.errors import StoreError
from app.sync.errors import SyncError

# the errors whose words are written for people (each layer's errors.py)
EXPECTED = (SmartError, FhirError, StoreError, SyncError, DomainError)


class ServiceError(Exception):
    def __init__(self, words: str) -> None:
        super().__init__(words)
        self.words = words

    @property
    def user_message(self) -> str:
        """``words`` under the name every layer's errors use (app.domain.errors.words_for)."""
        return self.words


class SignInCancelled(ServiceError):
    def __init__(self) -> None:
        super().__init__("Sign-in cancelled.")


@contextmanager
def user_errors(fallback: str) -> Iterator[None]:
    """Translate the layers' errors into ``ServiceError`` (cancelled sign-in: SignInCancelled)."""
    try:
        yield
    except SmartSignInCancelled as exc:
        raise SignInCancelled() from exc
    except EXPECTED as exc:
        raise ServiceError(words_for(exc, fallback)) from exc
