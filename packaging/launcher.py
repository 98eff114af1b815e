"""Entry script of the PyInstaller bundle: the same as the `fhir-writeback` console script."""

import sys

from app.main import main

if __name__ == "__main__":
    sys.exit(main())
