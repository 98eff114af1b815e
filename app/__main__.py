"""`python -m app` is the same as the `fhir-writeback` command."""

from app.main import main

raise SystemExit(main())
