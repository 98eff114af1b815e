#!/usr/bin/env bash
# Makes the stand-in bundle (see standin-app.nsi) in DIR, for the installer checks on Linux:
#   bash packaging/standin/make_standin.sh DIR VERSION
# DIR/fhir-writeback.exe and fhir-writeback-cli.exe (a tiny real 64-bit Windows program whose
# `sites ...` runs the real command through bridge.sh), DIR/_internal/ with a version marker.
set -euo pipefail
DIR="${1:?usage: make_standin.sh DIR VERSION}"
VERSION="${2:?usage: make_standin.sh DIR VERSION}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$DIR/_internal/resources/sandbox"
EXE="$DIR/fhir-writeback.exe"
command -v cygpath >/dev/null 2>&1 && EXE="$(cygpath -w "$EXE")"
# wine sees the Linux file system as drive Z:
BRIDGE="Z:$(tr / '\\' <<<"$ROOT/packaging/standin/bridge.sh")"
makensis -V2 "-DOUTFILE=$EXE" "-DBRIDGE=$BRIDGE" "$ROOT/packaging/standin/standin-app.nsi" >/dev/null
cp "$DIR/fhir-writeback.exe" "$DIR/fhir-writeback-cli.exe"
printf 'Stand-in bundle %s: not the app. See packaging/build_installer.sh.\n' "$VERSION" \
  > "$DIR/_internal/STAND-IN.txt"
printf '{"stand-in": "%s"}\n' "$VERSION" > "$DIR/_internal/resources/sandbox/version.json"
