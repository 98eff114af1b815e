#!/usr/bin/env bash
# Runs `fhir-writeback sites ...` for the stand-in fhir-writeback-cli.exe under wine (see
# standin-app.nsi): the real command, on the Linux side, from the project's .venv.
#   bridge.sh ANSWER_DIR sites validate|install|new ...      (called by wine, Windows paths)
# Windows paths (C:\...) in the arguments become the wine prefix's Unix paths; the output goes
# to ANSWER_DIR/out.txt and the exit code to ANSWER_DIR/rc.txt, written last.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PREFIX="${WINEPREFIX:-$HOME/.wine}"
to_unix() { # C:\dir\file -> $WINEPREFIX/dosdevices/c:/dir/file; other text unchanged
  local text="$1"
  if [[ "$text" =~ ^(--[a-z-]+=)?([A-Za-z]):\\(.*)$ ]]; then
    local drive="${BASH_REMATCH[2],,}" rest="${BASH_REMATCH[3]//\\//}"
    printf '%s%s/dosdevices/%s:/%s' "${BASH_REMATCH[1]}" "$PREFIX" "$drive" "$rest"
  else
    printf '%s' "$text"
  fi
}
ANSWER="$(to_unix "$1")"; shift
args=()
for a in "$@"; do args+=("$(to_unix "$a")"); done
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=python3
(cd "$ROOT" && "$PY" -m app "${args[@]}") > "$ANSWER/out.txt" 2>&1
echo $? > "$ANSWER/rc.tmp"
mv "$ANSWER/rc.tmp" "$ANSWER/rc.txt"
