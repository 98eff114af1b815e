from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.domain.errors import DraftImportError
from app.store.files import read_draft_file
from app.store.templates import load_templates


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
    with pytest.raises(DraftImportError, match="cannot be read"):
        read_draft_file(tmp_path / "missing.json")
    f.write_bytes(b" " * 2048)
    with pytest.raises(DraftImportError, match="limit") as exc:
        read_draft_file(f, limit=1024)
    assert exc.value.path == "$"
