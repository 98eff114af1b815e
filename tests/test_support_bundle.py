"""`fhir-writeback support-bundle`: logs, outbox states and the self-test, but no PHI."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from app.bootstrap import open_site_store
from app.cli import main
from app.domain.prefill import prefill_draft
from app.logging_setup import configure_logging
from app.paths import AppPaths
from app.store.templates import load_templates
from tests.domain.conftest import make_context

MARKER = "ZZSUPPORT-MARKER-7731"


def test_bundle_has_logs_and_outbox_states_and_no_note_text(tmp_path: Path) -> None:
    paths = AppPaths(tmp_path / "data", tmp_path / "logs", tmp_path / "cfg", tmp_path / "site")
    paths.ensure()
    log_file = configure_logging(paths.log_dir)
    logging.getLogger("app.test").info("commit abc state queued")
    protected = open_site_store(paths.data_dir / "sites" / "sandbox", is_sandbox=True)
    draft = prefill_draft(make_context(), load_templates().default, now=datetime.now(UTC))
    protected.store.drafts.save(draft.with_section_text("plan", MARKER))
    protected.store.close()

    target = tmp_path / "bundle.zip"
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "support-bundle",
            "--output",
            str(target),
            "--data-dir",
            str(paths.data_dir),
            "--no-self-test",
        ],
        out=out,
        err=err,
    )
    for handler in logging.getLogger().handlers[:]:
        if getattr(handler, "baseFilename", None) == str(log_file):
            logging.getLogger().removeHandler(handler)
            handler.close()
    assert code == 0, err.getvalue()
    with zipfile.ZipFile(target) as bundle:
        names = bundle.namelist()
        assert "about.json" in names and "outbox-states.json" in names
        states = json.loads(bundle.read("outbox-states.json"))
        assert "sandbox" in states and states["sandbox"]["audit_chain_ok"] is True
        for name in names:
            assert MARKER.encode() not in bundle.read(name), name
