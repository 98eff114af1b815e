"""Nothing committed is lost: a second engine sees it, and so does a fresh process after the
writer was killed with SIGKILL in the middle of autosaving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from app.domain.draft import Draft
from app.store.store import Store, open_store
from tests.support.servers import REPO


def test_a_second_engine_reads_what_the_first_committed(
    store: Store, store_path: Path, new_draft: Callable[..., Draft]
) -> None:
    saved = store.drafts.save(new_draft().with_section_text("plan", "written by engine one"))
    other = open_store(store_path)  # the first engine stays open, as after a crash
    try:
        assert other.drafts.get(saved.id).section("plan").text == "written by engine one"
        again = other.drafts.save(saved.with_section_text("plan", "engine two"))
        assert store.drafts.get(saved.id) == again
    finally:
        other.close()


CHILD = textwrap.dedent(
    """
    import sys, uuid
    from pathlib import Path
    from app.domain.prefill import prefill_draft
    from app.store.store import open_store
    from app.store.templates import load_templates
    from tests.domain.conftest import NOW, make_context

    store = open_store(Path(sys.argv[1]))
    draft = prefill_draft(make_context(), load_templates().default, now=NOW,
                          draft_id=uuid.UUID(sys.argv[2]))
    i = 0
    while True:
        i += 1
        draft = store.drafts.save(draft.with_section_text("subjective", f"keystroke {i} " * 50))
        print(draft.revision, flush=True)
    """
)


def test_sigkill_mid_autosave_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    draft_id = "6f1c2d4e-0000-4000-8000-000000000001"
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), draft_id],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        start_new_session=True,
    ) as proc:  # closes the pipes when done
        assert proc.stdout is not None and proc.stderr is not None
        last = 0
        try:
            for line in proc.stdout:
                last = int(line)
                if last >= 40:
                    break
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        errors = proc.stderr.read().decode()
    assert last >= 40, errors
    assert proc.returncode == -signal.SIGKILL

    import uuid

    reopened = open_store(path)
    try:
        restored = reopened.drafts.list_unfinished()
        assert [d.id for d in restored] == [uuid.UUID(draft_id)]
        (draft,) = restored
        assert draft.revision >= last  # every save the child reported as done is on disk
        assert draft.section("subjective").text == f"keystroke {draft.revision} " * 50
    finally:
        reopened.close()
