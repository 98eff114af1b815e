"""Kill the app with SIGKILL while the clinician types; the draft comes back with at most the
last 2 seconds lost (issue 4). The child process runs the real workspace (editor, draft
view-model, autosave timers, encrypted store) under qasync and types non-stop."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from app.keyring_policy import DemoFileKeyring
from app.store.crypto import StoreKeyring
from app.store.protected import open_protected_store

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from pathlib import Path
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import qasync
    from PySide6.QtWidgets import QApplication
    from app.keyring_policy import DemoFileKeyring
    from app.store.crypto import StoreKeyring
    from app.store.protected import open_protected_store
    from app.store.templates import load_templates
    from app.services.drafts import DraftService
    from app.sync.store_thread import StoreThread
    from app.ui.draft_model import DraftViewModel
    from app.ui.workspace import WorkspacePage
    from tests.domain.conftest import make_context

    folder = Path(sys.argv[1])
    app = QApplication([])

    async def main():
        keys = StoreKeyring(DemoFileKeyring(folder / "key.json"))
        store = open_protected_store(folder / "store.db", keys).store
        drafts = DraftService(store.drafts, StoreThread())
        page = WorkspacePage(DraftViewModel(drafts, list(load_templates().templates)))
        page.show()
        ctx = make_context()
        async def loader():
            return ctx
        await page.load(loader)
        edit = page.editor.section_edits["subjective"]
        edit.setPlainText("")
        typed = 0
        while True:  # a clinician who never pauses
            cursor = edit.textCursor()
            cursor.movePosition(cursor.MoveOperation.End)
            cursor.insertText("x")
            typed += 1
            print(f"{time.monotonic():.3f} {typed}", flush=True)
            await asyncio.sleep(0.02)

    qasync.run(main())
    """
)


def test_sigkill_while_typing_loses_at_most_two_seconds(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        start_new_session=True,
    )
    assert proc.stdout is not None
    typed_at: list[tuple[float, int]] = []
    kill_after = random.uniform(3.0, 5.0)  # a random moment, after typing got going
    started: float | None = None
    try:
        for line in proc.stdout:
            when, count = line.split()
            typed_at.append((float(when), int(count)))
            started = started or time.monotonic()
            if time.monotonic() - started >= kill_after:
                break
    finally:
        killed_at = time.monotonic()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        errors = proc.stderr.read().decode() if proc.stderr else ""
        for pipe in (proc.stdout, proc.stderr):  # ours to close: the child is gone
            if pipe is not None:
                pipe.close()
    assert typed_at, errors

    keys = StoreKeyring(DemoFileKeyring(tmp_path / "key.json"))
    store = open_protected_store(tmp_path / "store.db", keys).store
    try:
        (draft,) = store.drafts.list_unfinished()
        restored = len(draft.section("subjective").text)
    finally:
        store.close()
    must_have = max((n for t, n in typed_at if t <= killed_at - 2.0), default=0)
    assert must_have > 0, "typing did not run long enough before the kill"
    assert restored >= must_have, (
        f"{restored} keystrokes restored; {must_have} were typed more than 2 s before the kill"
    )
