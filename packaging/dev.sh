#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine with python3:
#   bash packaging/dev.sh run    install everything, start the app against the embedded sandbox EHR
#   bash packaging/dev.sh test   install everything, run lint, type checks and the whole test suite
#   bash packaging/dev.sh setup  install only
# Idempotent: a second run only checks what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="${FHIR_WRITEBACK_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

# Debian packages: Qt's runtime libraries, a virtual X screen for the UI with a window manager
# and the tools that drive it (openbox, xdotool, xprop: the quit test runs the real app and
# closes it as a person would), Chromium for the browser-driven sign-in test, npm for the peer
# EHR used by the conformance tests; for the Windows packages (tests/packaging): NSIS, wixl +
# msitools (the MSI), osslsigncode + openssl (signing with a throwaway certificate), 64-bit
# wine (running both installers).
DEBS=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
      libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-render-util0 libxcb-image0
      xvfb xauth openbox xdotool x11-utils chromium nsis wine wine64 wixl msitools osslsigncode openssl)

log() { printf '\033[1m[dev.sh]\033[0m %s\n' "$*" >&2; }

install_debs() {
  local missing=()
  for p in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "not root: please install these Debian packages first, then re-run:"
    log "  sudo apt-get install ${missing[*]}"
    exit 1
  fi
}

install_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment in $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    log "installing Python packages"
    if ! "$VENV/bin/python" -m pip install -q -e ".[dev]" >"$VENV/pip-install.log" 2>&1; then
      cat "$VENV/pip-install.log" >&2; log "pip install failed (log above)"; exit 1
    fi
    rm -f "$VENV"/.installed-* && touch "$stamp"
  fi
}

run_tests() {
  export QT_QPA_PLATFORM=offscreen
  log "ruff"
  "$VENV/bin/ruff" check app tests
  log "mypy"
  "$VENV/bin/mypy" app
  log "pytest"
  # -p no:cacheprovider: CI runs in a fresh clone, nothing to cache.
  # --durations: the slowest tests are named in every CI log (the suite must stay well under 30 min).
  "$VENV/bin/python" -m pytest -p no:cacheprovider --durations=30 "$@"
}

run_app() {
  if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
    log "no display: starting the app on a virtual screen (xvfb-run)"
    exec xvfb-run -a -s "-screen 0 1920x1080x24" "$VENV/bin/fhir-writeback" "$@"
  fi
  exec "$VENV/bin/fhir-writeback" "$@"
}

cmd="${1:-run}"; shift || true
case "$cmd" in
  setup) install_debs; install_venv ;;
  run)   install_debs; install_venv; run_app "$@" ;;
  test)  install_debs; install_venv; run_tests "$@" ;;
  *) echo "usage: bash packaging/dev.sh run|test|setup" >&2; exit 2 ;;
esac
