#!/usr/bin/env bash
# Signs one Windows file (.exe or .msi) in place with Authenticode (SHA-256).
#
#   bash packaging/sign.sh FILE
#
# What to sign with comes from the environment (packaging/build_installer.sh and build_msi.sh
# set it from their --sign-* options; installer.nsi runs this through !finalize and
# !uninstfinalize):
#   FHIR_WRITEBACK_SIGN_COMMAND   a command for a signer that keeps its key elsewhere (an HSM, a
#                                 cloud signing service, signtool with a certificate store
#                                 thumbprint); run by bash with the file as $1, e.g.
#                                 'signtool sign /sha1 <thumbprint> /fd sha256 /tr <url> /td sha256 "$1"'
#   FHIR_WRITEBACK_SIGN_PFX       else: a PKCS#12 file (.pfx/.p12) with the key and certificate,
#   FHIR_WRITEBACK_SIGN_PASSWORD_FILE  its password in a file (or FHIR_WRITEBACK_SIGN_PASSWORD)
#   FHIR_WRITEBACK_TIMESTAMP_URL  an RFC 3161 timestamp server: the signature stays valid after
#                                 the certificate expires (recommended for releases)
# Signs with osslsigncode (Debian: apt-get install osslsigncode) when it is installed, else
# with signtool.exe (Windows SDK, on the GitHub Windows runners). Exit 0 when signed.
set -euo pipefail
FILE="${1:?usage: sign.sh FILE}"
DESCRIPTION="FHIR Write-back"
TS_URL="${FHIR_WRITEBACK_TIMESTAMP_URL:-}"

fail() { echo "sign.sh: $*" >&2; exit 1; }
[ -f "$FILE" ] || fail "no file $FILE"

if [ -n "${FHIR_WRITEBACK_SIGN_COMMAND:-}" ]; then
  bash -c "$FHIR_WRITEBACK_SIGN_COMMAND" sign "$FILE" || fail "the signing command failed for $FILE"
  exit 0
fi
PFX="${FHIR_WRITEBACK_SIGN_PFX:-}"
[ -n "$PFX" ] || fail "nothing to sign with: set FHIR_WRITEBACK_SIGN_PFX or FHIR_WRITEBACK_SIGN_COMMAND"
[ -f "$PFX" ] || fail "certificate file $PFX not found"

PASS_FILE="${FHIR_WRITEBACK_SIGN_PASSWORD_FILE:-}"
CLEANUP=""
trap '[ -n "$CLEANUP" ] && rm -f "$CLEANUP"' EXIT
if [ -z "$PASS_FILE" ]; then
  PASS_FILE="$(mktemp)"; CLEANUP="$PASS_FILE"
  printf '%s' "${FHIR_WRITEBACK_SIGN_PASSWORD:-}" > "$PASS_FILE"
fi

if command -v osslsigncode >/dev/null 2>&1; then
  args=(sign -pkcs12 "$PFX" -readpass "$PASS_FILE" -h sha256 -n "$DESCRIPTION")
  [ -n "$TS_URL" ] && args+=(-ts "$TS_URL")
  rm -f "$FILE.signed"
  osslsigncode "${args[@]}" -in "$FILE" -out "$FILE.signed" >/dev/null \
    || { rm -f "$FILE.signed"; fail "osslsigncode could not sign $FILE"; }
  mv -f "$FILE.signed" "$FILE"
  exit 0
fi

SIGNTOOL="$(command -v signtool.exe || true)"
if [ -z "$SIGNTOOL" ]; then # Windows SDK: the newest x64 signtool
  SIGNTOOL="$(ls -d "/c/Program Files (x86)/Windows Kits/10/bin/"*/x64/signtool.exe 2>/dev/null | sort -V | tail -1 || true)"
fi
[ -n "$SIGNTOOL" ] || fail "neither osslsigncode nor signtool.exe found"
# Git Bash would turn "/f" into a path: no conversion, Windows paths given explicitly.
WIN_FILE="$FILE"; WIN_PFX="$PFX"
if command -v cygpath >/dev/null 2>&1; then WIN_FILE="$(cygpath -w "$FILE")"; WIN_PFX="$(cygpath -w "$PFX")"; fi
args=(sign /f "$WIN_PFX" /p "$(cat "$PASS_FILE")" /fd sha256 /d "$DESCRIPTION")
[ -n "$TS_URL" ] && args+=(/tr "$TS_URL" /td sha256)
MSYS2_ARG_CONV_EXCL='*' "$SIGNTOOL" "${args[@]}" "$WIN_FILE" >&2 || fail "signtool could not sign $FILE"
