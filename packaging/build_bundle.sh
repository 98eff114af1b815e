#!/usr/bin/env bash
# Build the one-folder app bundle with PyInstaller: dist/fhir-writeback/
#
#   bash packaging/build_bundle.sh
#
# Uses the project virtualenv (.venv, or $FHIR_WRITEBACK_VENV); creates it with
# `packaging/dev.sh setup` on a fresh clone, and installs PyInstaller into it when missing.
# The bundle is for the platform it is built on: Linux here, Windows on the Windows runner
# (packaging/github-workflow-windows.yml). PyInstaller cannot cross-build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="${FHIR_WRITEBACK_VENV:-$ROOT/.venv}"
PYINSTALLER_REQ="pyinstaller>=6.10,<7"

log() { printf '\033[1m[build_bundle]\033[0m %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  log "no virtualenv at $VENV: running packaging/dev.sh setup"
  bash packaging/dev.sh setup
fi
PY="$VENV/bin/python"

if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
  log "installing $PYINSTALLER_REQ into $VENV"
  "$PY" -m pip install -q "$PYINSTALLER_REQ"
fi

# The bundle's --version comes from the installed distribution metadata; refresh it when
# pyproject.toml's version moved since the last install.
if ! "$PY" - <<'EOF'
import sys, tomllib
from importlib import metadata
declared = tomllib.load(open("pyproject.toml", "rb"))["project"]["version"]
try:
    installed = metadata.version("fhir-writeback")
except metadata.PackageNotFoundError:
    installed = None
sys.exit(0 if installed == declared else 1)
EOF
then
  log "refreshing the fhir-writeback metadata (pip install -e . --no-deps)"
  "$PY" -m pip install -q -e . --no-deps
fi

log "running PyInstaller (output: dist/fhir-writeback/)"
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" \
  packaging/fhir-writeback.spec
log "bundle built in $(( $(date +%s) - start ))s: $(du -sh dist/fhir-writeback | cut -f1) in dist/fhir-writeback/"
