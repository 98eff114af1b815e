#!/usr/bin/env bash
# Build the MSI package from the same one-folder bundle as the .exe installer, with wixl.
#
#   bash packaging/build_msi.sh [--bundle DIR | --standin] [--out FILE] [--version V]
#        [--help-url URL] [--about-url URL]
#        [--sign-pfx FILE [--sign-password-file FILE] | --sign-command CMD] [--timestamp-url URL]
#
# Options as packaging/build_installer.sh; output dist/fhir-writeback-<version>-x64.msi.
# The WiX source comes from packaging/msi/make_wxs.py (what the package does is described
# there and in docs/deployment.md). Needs wixl (Debian: apt-get install wixl msitools) and
# python3; runs on Linux (the Windows workflow builds the MSI in a Linux job from the Windows
# bundle). Prints the MSI's path.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

BUNDLE="dist/fhir-writeback"
OUT=""
VERSION=""
STANDIN=0
HELP_URL=""
ABOUT_URL=""
SIGN=0
absolute() { case "$1" in /*|[A-Za-z]:*) printf '%s' "$1" ;; *) printf '%s/%s' "$ROOT" "$1" ;; esac; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) BUNDLE="$2"; shift 2 ;;
    --standin) STANDIN=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    --version) VERSION="$2"; shift 2 ;;
    --help-url) HELP_URL="$2"; shift 2 ;;
    --about-url) ABOUT_URL="$2"; shift 2 ;;
    --sign-pfx) export FHIR_WRITEBACK_SIGN_PFX="$(absolute "$2")"; SIGN=1; shift 2 ;;
    --sign-password-file) export FHIR_WRITEBACK_SIGN_PASSWORD_FILE="$(absolute "$2")"; shift 2 ;;
    --sign-command) export FHIR_WRITEBACK_SIGN_COMMAND="$2"; SIGN=1; shift 2 ;;
    --timestamp-url) export FHIR_WRITEBACK_TIMESTAMP_URL="$2"; shift 2 ;;
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
command -v wixl >/dev/null 2>&1 || { echo "wixl not found: apt-get install wixl msitools" >&2; exit 1; }
PY="${PYTHON:-$(command -v python3 || command -v python)}"
project() { "$PY" -c 'import sys, tomllib
value = tomllib.load(open("pyproject.toml", "rb"))["project"]
for key in sys.argv[1:]:
    value = value.get(key, {}) if isinstance(value, dict) else {}
print(value if isinstance(value, str) else "")' "$@"; }
[ -n "$VERSION" ] || VERSION="$(project version)"
[ -n "$HELP_URL" ] || HELP_URL="$(project urls Support)"
[ -n "$ABOUT_URL" ] || ABOUT_URL="$(project urls Homepage)"
"$PY" packaging/versions.py check "$VERSION" || exit 2

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fhir-writeback-msi.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
if [ "$STANDIN" = 1 ]; then
  BUNDLE="$WORK/standin"
  bash packaging/standin/make_standin.sh "$BUNDLE" "$VERSION"
fi
case "$BUNDLE" in /*) ;; *) BUNDLE="$ROOT/$BUNDLE" ;; esac
[ -f "$BUNDLE/fhir-writeback.exe" ] || { echo "No bundle at $BUNDLE: build it first or pass --bundle/--standin" >&2; exit 1; }
[ -n "$OUT" ] || OUT="dist/fhir-writeback-$VERSION-x64.msi"
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
mkdir -p "$(dirname "$OUT")"

# wixl wants relative source paths: the bundle and the icon beside the .wxs.
ln -s "$BUNDLE" "$WORK/bundle"
cp resources/icons/fhir-writeback.ico "$WORK/fhir-writeback.ico"
"$PY" packaging/msi/make_wxs.py "$BUNDLE" "$VERSION" "$WORK/fhir-writeback.wxs" \
  --help-url "$HELP_URL" --about-url "$ABOUT_URL"
# wixl 0.101 prints "unimplemented" notes for tables it leaves empty; real errors fail it.
(cd "$WORK" && wixl -a x64 -o "$WORK/out.msi" fhir-writeback.wxs) 2>&1 | grep -v "unimplemented" >&2 || true
[ -f "$WORK/out.msi" ] || { echo "wixl failed" >&2; exit 1; }
# SITECONFIG must reach the elevated part of the installation even when an administrator runs
# msiexec from a non-elevated prompt: it goes on the SecureCustomProperties list, which wixl
# writes itself (with the upgrade properties) and cannot be told about.
msibuild "$WORK/out.msi" -q "UPDATE \`Property\` SET \`Value\` = 'NEWERFOUND;OLDERFOUND;SITECONFIG' WHERE \`Property\` = 'SecureCustomProperties'"
[ "$SIGN" = 0 ] || bash packaging/sign.sh "$WORK/out.msi"
mv -f "$WORK/out.msi" "$OUT"
echo "$OUT"
