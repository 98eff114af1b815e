#!/usr/bin/env bash
# Smoke test of the one-folder bundle: build it, then run it with no display.
#
#   bash packaging/test_bundle.sh [--no-build]
#
# Checks: `fhir-writeback --version` prints the version in pyproject.toml, and
# `fhir-writeback-cli --self-test` exits 0 with QT_QPA_PLATFORM=offscreen and a throwaway HOME
# (it imports every layer, migrates a store, starts the bundled sandbox and signs in to it);
# `fhir-writeback-cli sites validate` (what the installers run) accepts a good sites.toml
# and refuses a bad one with exit 3.
# Build time here: 35-130 s depending on load; the checks take a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
BUNDLE="dist/fhir-writeback"

[ "${1:-}" = "--no-build" ] || bash packaging/build_bundle.sh

PY="$(command -v python3)"
EXPECTED="fhir-writeback $("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
HOME_DIR="$(mktemp -d /tmp/fhir-writeback-bundle-home.XXXXXX)"
trap 'rm -rf "$HOME_DIR"' EXIT

ACTUAL="$("$BUNDLE/fhir-writeback" --version)"
if [ "$ACTUAL" != "$EXPECTED" ]; then
  echo "FAIL: --version printed '$ACTUAL', expected '$EXPECTED'" >&2
  exit 1
fi
echo "ok    --version: $ACTUAL"

if ! env -u DISPLAY -u WAYLAND_DISPLAY HOME="$HOME_DIR" XDG_DATA_HOME= XDG_CONFIG_HOME= \
    XDG_CACHE_HOME= XDG_STATE_HOME= QT_QPA_PLATFORM=offscreen \
    "$BUNDLE/fhir-writeback-cli" --self-test; then
  echo "FAIL: --self-test of the bundle did not pass" >&2
  exit 1
fi
printf 'default_site = "c"\n[sites.c]\ndisplay_name = "C"\nfhir_base = "https://ehr.example.org/fhir"\nclient_id = "x"\n' > "$HOME_DIR/sites.toml"
sed 's#https://#http://#' "$HOME_DIR/sites.toml" > "$HOME_DIR/bad.toml"
"$BUNDLE/fhir-writeback-cli" sites validate "$HOME_DIR/sites.toml" >/dev/null \
  || { echo "FAIL: the bundled CLI refused a valid sites.toml" >&2; exit 1; }
set +e
"$BUNDLE/fhir-writeback-cli" sites validate "$HOME_DIR/bad.toml" >/dev/null 2>&1
CODE=$?
set -e
[ "$CODE" = 3 ] || { echo "FAIL: sites validate of an http:// site exited $CODE, not 3" >&2; exit 1; }
echo "ok    sites validate: a good file 0, an http:// one 3"
echo "ok    --self-test passed offscreen ($(( $(date +%s) - START ))s in all)"
