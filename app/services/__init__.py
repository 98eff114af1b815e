"""The facade the UI uses: one service per concern, built per site by the composition root.

    SessionService   app/services/session.py   sign in, stay signed in, sign out; who
    ChartService     app/services/chart.py     patients, encounters, the open chart
    DraftService     app/services/drafts.py    save (autosave), list, import drafts
    ReviewService    app/services/review.py    check, propose, queue an approval
    OutboxService    app/services/outbox.py    the outbox, the clinician's actions, sending
    waiting_notes    app/services/waiting.py   notes not sent yet, readable before a sign-in
    AuditService     app/services/audit.py     record and read the audit log
    Workbench        app/services/workbench.py what the UI receives (frozen)
    words_for        app/services/errors.py    the one function that turns errors into words

Methods that do I/O are ``async`` and never block the GUI loop (network through httpx async,
SQLite on the site's store thread); they return domain objects and raise ``ServiceError``
(words for the clinician). app.ui imports app.domain and app.services only (import-linter
contracts in pyproject.toml, run by tests/test_architecture.py).
"""
