#!/usr/bin/env bash
# Compile installer.nsi with makensis, the version taken from pyproject.toml.
#
#   bash packaging/build_installer.sh [--bundle DIR | --standin] [--out FILE] [--version V]
#        [--target amd64-unicode|x86-unicode] [--help-url URL] [--about-url URL]
#        [--sign-pfx FILE [--sign-password-file FILE] | --sign-command CMD] [--timestamp-url URL]
#
#   --bundle DIR   the Windows one-folder bundle to package (default dist/fhir-writeback)
#   --standin      package a stand-in folder instead (a temporary folder: a tiny real 64-bit
#                  Windows program named fhir-writeback.exe and fhir-writeback-cli.exe, plus an
#                  _internal/ folder; its `sites ...` runs the real command through
#                  packaging/standin/bridge.sh). Linux cannot build the Windows bundle, so this
#                  is what the checks on Linux (tests/packaging, packaging/test_wine.sh) install.
#   --out FILE     installer to write (default dist/fhir-writeback-<version>-setup.exe)
#   --version V    override the version (the wine test builds an "upgrade" this way); a
#                  canonical PEP 440 version (packaging/versions.py)
#   --target T     NSIS target: amd64-unicode (default; Debian's NSIS has its stubs) or
#                  x86-unicode (NSIS for Windows ships only x86 stubs; the Windows workflow)
#   --help-url, --about-url   HelpLink and URLInfoAbout in Programs and Features (default:
#                  [project.urls] Support / Homepage in pyproject.toml, when there)
#   --sign-pfx FILE            sign with this PKCS#12 certificate (password: --sign-password-file
#                              or $FHIR_WRITEBACK_SIGN_PASSWORD)
#   --sign-command CMD         or sign with this command (HSM, signtool /sha1 ...); the file is $1
#   --timestamp-url URL        RFC 3161 timestamp server for the signatures
# Signing covers fhir-writeback.exe and fhir-writeback-cli.exe (in the bundle, in place), the
# uninstaller, uninstall.exe and the installer (packaging/sign.sh). Needs makensis (Debian:
# apt-get install nsis; Windows: NSIS 3) and python3. Prints the installer's path.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

BUNDLE="dist/fhir-writeback"
OUT=""
VERSION=""
STANDIN=0
TARGET="amd64-unicode"
HELP_URL=""
ABOUT_URL=""
SIGN=0
absolute() { case "$1" in /*|[A-Za-z]:*) printf '%s' "$1" ;; *) printf '%s/%s' "$ROOT" "$1" ;; esac; }
usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) BUNDLE="$2"; shift 2 ;;
    --standin) STANDIN=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    --version) VERSION="$2"; shift 2 ;;
    --target) TARGET="$2"; shift 2 ;;
    --help-url) HELP_URL="$2"; shift 2 ;;
    --about-url) ABOUT_URL="$2"; shift 2 ;;
    --sign-pfx) export FHIR_WRITEBACK_SIGN_PFX="$(absolute "$2")"; SIGN=1; shift 2 ;;
    --sign-password-file) export FHIR_WRITEBACK_SIGN_PASSWORD_FILE="$(absolute "$2")"; shift 2 ;;
    --sign-command) export FHIR_WRITEBACK_SIGN_COMMAND="$2"; SIGN=1; shift 2 ;;
    --timestamp-url) export FHIR_WRITEBACK_TIMESTAMP_URL="$2"; shift 2 ;;
    *) usage ;;
  esac
done
case "$TARGET" in amd64-unicode|x86-unicode) ;; *) echo "--target: amd64-unicode or x86-unicode" >&2; exit 2 ;; esac

if ! command -v makensis >/dev/null 2>&1; then
  echo "makensis not found: install NSIS (Debian: apt-get install nsis)" >&2
  exit 1
fi
# $PYTHON first: on Windows runners "python3" can be the Microsoft Store stub.
PY="${PYTHON:-$(command -v python3 || command -v python)}"
project() { "$PY" -c 'import sys, tomllib
doc = tomllib.load(open("pyproject.toml", "rb"))["project"]
value = doc
for key in sys.argv[1:]:
    value = value.get(key, {}) if isinstance(value, dict) else {}
print(value if isinstance(value, str) else "")' "$@"; }
[ -n "$VERSION" ] || VERSION="$(project version)"
[ -n "$HELP_URL" ] || HELP_URL="$(project urls Support)"
[ -n "$ABOUT_URL" ] || ABOUT_URL="$(project urls Homepage)"
"$PY" packaging/versions.py check "$VERSION" || exit 2
VERSION_NUMERIC="$("$PY" packaging/versions.py file-version "$VERSION")"
VERSION_MAJOR="${VERSION_NUMERIC%%.*}"
VERSION_MINOR="$(cut -d. -f2 <<<"$VERSION_NUMERIC")"

winpath() { if command -v cygpath >/dev/null 2>&1; then cygpath -w "$1"; else printf '%s' "$1"; fi; }
SIGN_DEFINE=()
if [ "$SIGN" = 1 ]; then
  # makensis runs it (!finalize); on Windows through cmd, so the full path of this bash.
  SIGN_DEFINE=("-DSIGN=\"$(winpath "$BASH")\" \"$(winpath "$ROOT/packaging/sign.sh")\"")
fi
sign() { [ "$SIGN" = 0 ] || bash packaging/sign.sh "$1" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fhir-writeback-installer.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if [ "$STANDIN" = 1 ]; then
  # A private folder per run, so parallel runs (tests) cannot overwrite each other's payload.
  BUNDLE="$WORK/standin"
  bash packaging/standin/make_standin.sh "$BUNDLE" "$VERSION"
fi
sign "$BUNDLE/fhir-writeback.exe"
sign "$BUNDLE/fhir-writeback-cli.exe"

LAUNCHER="$(winpath "$WORK/uninstall.exe")"
makensis -V2 -WX "-DOUTFILE=$LAUNCHER" "-DVERSION=$VERSION" "-DVERSION_NUMERIC=$VERSION_NUMERIC" \
  "-DTARGET=$TARGET" "${SIGN_DEFINE[@]}" packaging/nsis/uninstall-launcher.nsi >&2

[ -n "$OUT" ] || OUT="dist/fhir-writeback-$VERSION-setup.exe"
mkdir -p "$(dirname "$OUT")"
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
case "$BUNDLE" in /*) ;; *) BUNDLE="$ROOT/$BUNDLE" ;; esac
URL_DEFINES=()
[ -z "$HELP_URL" ] || URL_DEFINES+=("-DHELP_URL=$HELP_URL")
[ -z "$ABOUT_URL" ] || URL_DEFINES+=("-DABOUT_URL=$ABOUT_URL")

makensis -V2 -WX \
  "-DVERSION=$VERSION" "-DVERSION_NUMERIC=$VERSION_NUMERIC" \
  "-DVERSION_MAJOR=$VERSION_MAJOR" "-DVERSION_MINOR=$VERSION_MINOR" \
  "-DTARGET=$TARGET" "-DBUNDLE_DIR=$(winpath "$BUNDLE")" "-DOUTFILE=$(winpath "$OUT")" \
  "-DUNINSTALL_LAUNCHER=$LAUNCHER" "${URL_DEFINES[@]}" "${SIGN_DEFINE[@]}" \
  installer.nsi >&2
echo "$(winpath "$OUT")"
