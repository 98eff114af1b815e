"""One function turns errors into words (app.domain.errors.words_for), and the EHR's own text
is quoted inside them, not glued on (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.cli_errors import UsageError
from app.domain.errors import DomainError, words_for
from app.fhir.errors import FhirError, http_error
from app.smart.errors import NetworkError, SignInRequired, SmartError
from app.store.errors import StoreError
from app.sync.errors import SyncAlreadyRunning, SyncError

APP = Path(__file__).resolve().parents[1] / "app"
FALLBACK = "Something went wrong; tell clinic IT."


@pytest.mark.parametrize(
    "exc",
    [
        DomainError("Domain words."),
        FhirError("FHIR words.", detail="HTTP 500"),
        StoreError("Store words."),
        SyncError("Sync words."),
        SmartError("Sign-in words.", detail="invalid_grant"),
        UsageError("Usage words."),
    ],
)
def test_every_layer_s_errors_carry_their_own_words(exc: Exception) -> None:
    words = words_for(exc, FALLBACK)
    assert words.endswith("words.") and "HTTP 500" not in words and "invalid_grant" not in words


def test_the_sign_in_errors_words_are_their_message() -> None:
    assert words_for(SignInRequired(), FALLBACK) == SignInRequired().message
    assert words_for(NetworkError(), FALLBACK) == NetworkError().message
    assert "Another copy" in words_for(SyncAlreadyRunning(Path("x")), FALLBACK)


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("Traceback (most recent call last): Maria Garcia"),
        KeyError("x"),
        DomainError(" "),
    ],
)
def test_anything_else_gets_the_callers_sentence_never_its_text(exc: Exception) -> None:
    assert words_for(exc, FALLBACK) == FALLBACK


def test_the_ehrs_text_is_quoted_inside_the_sentence() -> None:
    exc = http_error(422, "writing the note", "Observation.code:\n required.", None)
    words = words_for(exc, FALLBACK)
    assert "The EHR said: “Observation.code: required”." in words
    assert words.startswith("The EHR refused the content as invalid")
    assert words.endswith("If this keeps happening, tell clinic IT.")


def _error_words_helpers(tree: ast.AST) -> list[int]:
    """Lines that read an error's words by name (``getattr(x, "user_message")`` or a tuple of
    the attribute names): what words_for does, done again elsewhere."""
    names = {"user_message", "message", "words"}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr":
            literal = node.args[1] if len(node.args) > 1 else None
            if isinstance(literal, ast.Constant) and literal.value in names:
                lines.append(node.lineno)
        elif isinstance(node, ast.Tuple) and {
            e.value for e in node.elts if isinstance(e, ast.Constant)
        } >= {"user_message", "message"}:
            lines.append(node.lineno)
    return lines


def test_there_is_one_function_from_errors_to_words() -> None:
    found = {}
    for path in sorted(APP.rglob("*.py")):
        if path.parts[-3:] == ("app", "domain", "errors.py") or "sandbox" in path.parts:
            continue
        lines = _error_words_helpers(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[str(path.relative_to(APP.parent))] = lines
    assert found == {}, "use app.domain.errors.words_for"
