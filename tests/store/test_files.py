from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from app.domain.errors import DraftImportError
from app.store.files import read_draft_file
from app.store.templates import TemplateCatalog, load_templates


def test_bundled_templates_load_with_soap_default() -> None:
    catalog = load_templates()
    assert catalog.problems == ()
    assert catalog.default.id == "soap"
    assert catalog.get("telehealth") is not None


def test_site_folder_overrides_and_bad_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "soap.json").write_text(
        json.dumps({"id": "soap", "name": "Site SOAP", "sections": [{"key": "a", "title": "A"}]})
    )
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "bad.json").write_text(json.dumps({"id": "bad", "name": "Bad", "sections": []}))
    catalog = load_templates([tmp_path])
    assert catalog.get("soap").name == "Site SOAP"  # type: ignore[union-attr]
    assert len(catalog.problems) == 2
    assert any("broken.json" in p for p in catalog.problems)
    assert any("'bad'" in p for p in catalog.problems)


def test_read_draft_file(tmp_path: Path) -> None:
    f = tmp_path / "d.json"
    f.write_bytes(b"{}")
    assert read_draft_file(f) == b"{}"
    with pytest.raises(DraftImportError, match=r"missing\.json does not exist"):
        read_draft_file(tmp_path / "missing.json")
    f.write_bytes(b" " * 2048)
    with pytest.raises(DraftImportError, match="limit") as exc:
        read_draft_file(f, limit=1024)
    assert exc.value.path == "$"


def _returns_within(seconds: float, call: object) -> BaseException | None:
    """Run ``call`` in a daemon thread; fail the test if it is still blocked after ``seconds``."""
    assert callable(call)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # handed back to the test
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked: the file was opened as if it were a regular file"
    return outcome[0]


def test_a_fifo_chosen_as_draft_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "draft.json"
    os.mkfifo(fifo)  # opening it for reading waits for a writer: forever
    exc = _returns_within(5, lambda: read_draft_file(fifo))
    assert isinstance(exc, DraftImportError)
    assert "draft.json is not a regular file (it is a named pipe (FIFO))" in exc.user_message


@pytest.mark.parametrize(("path", "kind"), [("/dev/zero", "a device"), ("/dev/null", "a device")])
def test_devices_and_folders_are_refused_as_draft_files(
    tmp_path: Path, path: str, kind: str
) -> None:
    exc = _returns_within(5, lambda: read_draft_file(Path(path)))
    assert isinstance(exc, DraftImportError) and f"(it is {kind})" in exc.user_message
    with pytest.raises(DraftImportError, match=r"it is a folder"):
        read_draft_file(tmp_path)


def test_site_templates_in_utf16_load_and_hostile_files_are_reported(tmp_path: Path) -> None:
    doc = {"id": "soins", "name": "Soins infirmiers", "sections": [{"key": "a", "title": "Été"}]}
    (tmp_path / "soins.json").write_bytes(json.dumps(doc, ensure_ascii=False).encode("utf-16"))
    (tmp_path / "ansi.json").write_bytes(json.dumps(doc, ensure_ascii=False).encode("cp1252"))
    os.mkfifo(tmp_path / "pipe.json")
    loaded: list[TemplateCatalog] = []
    assert _returns_within(10, lambda: loaded.append(load_templates([tmp_path]))) is None
    catalog = loaded[0]
    soins = catalog.get("soins")
    assert soins is not None and soins.sections[0].title == "Été"
    assert any("ansi.json: line 1, column" in p and "0xC9" in p for p in catalog.problems)
    assert any("pipe.json is not a regular file" in p for p in catalog.problems)
