"""Errors raised by the pure domain layer.

    DomainError                      base; ``user_message`` says what happened and what to do
    ├── DraftImportError             an imported draft file was refused (``path``, ``problem``)
    │   └── DraftContextMismatch     the file is for another patient or encounter
    ├── TemplateError                a note template is malformed (``template_id``, ``problem``)
    ├── TextEncodingError            a text file is not UTF-8/UTF-16 (``line``, ``column``, ``problem``)
    └── DraftEditError               an edit that the draft cannot take (unknown section/item)

Messages never include note text or patient names: they name the place of the problem (a JSON
path such as ``$.sections[2].text``, a template id, an item id) and what is wrong with it.

:func:`words_for` is the app's one function from an error to the words a person reads.
"""

from __future__ import annotations


def words_for(exc: BaseException, fallback: str) -> str:
    """The words a person reads for ``exc``: the one way the app turns an error into words.

    Every layer's errors carry theirs in ``user_message`` (``DomainError``, ``SmartError``,
    ``FhirError``, ``StoreError``, ``SyncError``, …): a sentence that says what happened and
    what to do next, with the EHR's own text quoted inside it
    (``app.fhir.errors.quote_ehr_text``), never glued on. Anything else is a bug or a failure
    nobody wrote words for: ``fallback`` (such a sentence) is shown instead — never ``str(exc)``,
    which may be a traceback fragment or quote a patient's data.
    """
    words = getattr(exc, "user_message", None)
    return words if isinstance(words, str) and words.strip() else fallback


class DomainError(Exception):
    """Base of the domain errors; ``user_message`` is safe to show to the clinician."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class DraftImportError(DomainError):
    """An imported draft file is not acceptable. ``path`` is a JSON path (``$`` = whole file);
    ``problems`` lists every (path, problem) found, the first one is in the message."""

    def __init__(self, path: str, problem: str, problems: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(
            f"The draft file was not imported: {path}: {problem}. "
            "Ask the sender for a corrected file (see docs/draft-import.md)."
        )
        self.path = path
        self.problem = problem
        self.problems = problems or ((path, problem),)


class DraftContextMismatch(DraftImportError):
    """The imported draft names a patient or encounter other than the open one."""

    def __init__(self, path: str, problem: str, problems: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(path, problem, problems)
        self.user_message = (
            f"The draft file was not imported: {path}: {problem}. "
            "Open the patient and encounter the draft was written for, then import it again."
        )
        self.args = (self.user_message,)


class TemplateError(DomainError):
    """A note template under resources/templates cannot be used."""

    def __init__(self, template_id: str, problem: str) -> None:
        super().__init__(
            f"The note template {template_id!r} cannot be used: {problem}. "
            "Reinstall the application or ask IT to fix the template file."
        )
        self.template_id = template_id
        self.problem = problem


class DraftEditError(DomainError):
    """An edit names a section or item the draft does not have."""


class TextEncodingError(DomainError):
    """A file given as text is not in an encoding the app reads (app.domain.text_files).
    ``line`` and ``column`` (1-based, in characters) say where it stops being readable; callers
    put ``where`` and ``problem`` into their own message (which file, what to do)."""

    def __init__(self, line: int, column: int, problem: str) -> None:
        self.line = line
        self.column = column
        self.problem = problem
        self.where = f"line {line}, column {column}"
        super().__init__(f"The file is not text the app can read: {self.where}: {problem}.")
