#!/usr/bin/env bash
# Compile installer.nsi with makensis, the version taken from pyproject.toml.
#
#   bash packaging/build_installer.sh [--bundle DIR | --standin] [--out FILE] [--version X.Y.Z]
#
#   --bundle DIR   the Windows one-folder bundle to package (default dist/fhir-writeback)
#   --standin      package a stand-in folder instead (a temporary folder: a tiny real 64-bit
#                  Windows program named fhir-writeback.exe and fhir-writeback-cli.exe, plus an
#                  _internal/ folder). Linux cannot build the Windows bundle, so this is what the
#                  checks on Linux (tests/packaging, packaging/test_wine.sh) install.
#   --out FILE     installer to write (default dist/fhir-writeback-<version>-setup.exe)
#   --version V    override the version (the wine test builds an "upgrade" this way)
#
# Needs makensis (Debian: apt-get install nsis; Windows: choco install nsis). Prints the path.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

BUNDLE="dist/fhir-writeback"
OUT=""
VERSION=""
STANDIN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) BUNDLE="$2"; shift 2 ;;
    --standin) STANDIN=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    --version) VERSION="$2"; shift 2 ;;
    *) echo "usage: $0 [--bundle DIR | --standin] [--out FILE] [--version X.Y.Z]" >&2; exit 2 ;;
  esac
done

if ! command -v makensis >/dev/null 2>&1; then
  echo "makensis not found: install NSIS (Debian: apt-get install nsis)" >&2
  exit 1
fi
# $PYTHON first: on Windows runners "python3" can be the Microsoft Store stub.
PY="${PYTHON:-$(command -v python3 || command -v python)}"
if [ -z "$VERSION" ]; then
  VERSION="$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
fi
# The Windows file-version resource needs four numbers: 1.2.3rc1 -> 1.2.3.0.
VERSION_NUMERIC="$("$PY" - "$VERSION" <<'EOF'
import re, sys
numbers = [int(n) for n in re.findall(r"\d+", re.match(r"^\d+(\.\d+)*", sys.argv[1]).group(0))]
print(".".join(str(n) for n in (numbers + [0, 0, 0, 0])[:4]))
EOF
)"

if [ "$STANDIN" = 1 ]; then
  # A private folder per run, so parallel runs (tests) cannot overwrite each other's payload.
  STANDIN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/fhir-writeback-standin.XXXXXX")"
  trap 'rm -rf "$STANDIN_DIR"' EXIT
  BUNDLE="$STANDIN_DIR"
  mkdir -p "$BUNDLE/_internal/resources/sandbox"
  STANDIN_EXE="$BUNDLE/fhir-writeback.exe"
  command -v cygpath >/dev/null 2>&1 && STANDIN_EXE="$(cygpath -w "$STANDIN_EXE")"
  makensis -V2 "-DOUTFILE=$STANDIN_EXE" packaging/standin/standin-app.nsi >/dev/null
  cp "$BUNDLE/fhir-writeback.exe" "$BUNDLE/fhir-writeback-cli.exe"
  printf 'Stand-in bundle %s: not the app. See packaging/build_installer.sh.\n' "$VERSION" \
    > "$BUNDLE/_internal/STAND-IN.txt"
  printf '{"stand-in": "%s"}\n' "$VERSION" > "$BUNDLE/_internal/resources/sandbox/version.json"
fi

[ -n "$OUT" ] || OUT="dist/fhir-writeback-$VERSION-setup.exe"
mkdir -p "$(dirname "$OUT")"
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
case "$BUNDLE" in /*) ;; *) BUNDLE="$ROOT/$BUNDLE" ;; esac
if command -v cygpath >/dev/null 2>&1; then # Git Bash on Windows: makensis.exe wants C:\ paths
  OUT="$(cygpath -w "$OUT")"
  BUNDLE="$(cygpath -w "$BUNDLE")"
fi

makensis -V2 -WX \
  "-DVERSION=$VERSION" "-DVERSION_NUMERIC=$VERSION_NUMERIC" \
  "-DBUNDLE_DIR=$BUNDLE" "-DOUTFILE=$OUT" \
  installer.nsi >&2
echo "$OUT"
