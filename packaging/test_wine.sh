#!/usr/bin/env bash
# Runs the Windows installer under wine, silently, end to end:
#   install (site config from a file, desktop shortcut) -> refuse to upgrade while the app runs
#   -> upgrade in place (site config from /FHIRBASE= /CLIENTID=) -> re-run keeps the config
#   -> refuse a downgrade and an unknown switch -> silent uninstall keeps per-user data
#   -> reinstall + uninstall /PURGE removes it.
#
#   bash packaging/test_wine.sh            (exit 0 when every check passed)
#
# The installer packages the stand-in bundle (packaging/build_installer.sh --standin): the real
# Windows bundle can only be built on Windows. The installer itself is the real installer.nsi,
# 64-bit (Target amd64-unicode), so 64-bit wine is enough (Debian: apt-get install nsis wine64
# wine; no i386 multiarch needed). Every run uses a fresh, private WINEPREFIX that is deleted at
# the end. Needs no display. Takes 53-79 s here (see docs/deployment.md).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
START=$(date +%s)

log() { printf '\033[1m[test_wine %3ss]\033[0m %s\n' "$(( $(date +%s) - START ))" "$*" >&2; }
PASSED=0
FAILED=0
check() { # check "what" command...
  local what="$1"; shift
  if "$@" >/dev/null 2>&1; then
    PASSED=$((PASSED + 1)); printf 'ok    %s\n' "$what"
  else
    FAILED=$((FAILED + 1)); printf 'FAIL  %s\n' "$what"
  fi
}

WINE="$(command -v wine64 || true)"
[ -n "$WINE" ] || { [ -x /usr/lib/wine/wine64 ] && WINE=/usr/lib/wine/wine64; }
WINESERVER="$(command -v wineserver || true)"
[ -n "$WINESERVER" ] || WINESERVER=/usr/lib/wine/wineserver
if [ -z "$WINE" ] || ! command -v makensis >/dev/null 2>&1; then
  echo "needs makensis and 64-bit wine: apt-get install nsis wine64" >&2
  exit 2
fi

WORK="$(mktemp -d /tmp/fhir-writeback-wine.XXXXXX)"
APP_PID=""
cleanup() {
  [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null
  WINEPREFIX="$WORK/prefix" "$WINESERVER" -w 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

export WINEPREFIX="$WORK/prefix" WINEARCH=win64 WINEDEBUG=-all
# No Mono/Gecko download prompts, no Linux menu entries for the shortcuts.
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
unset DISPLAY WAYLAND_DISPLAY

V1="$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
V2="$(python3 -c 'import sys; p = sys.argv[1].split("."); p[-1] = str(int("".join(c for c in p[-1] if c.isdigit()) or 0) + 1); print(".".join(p))' "$V1")"
log "building stand-in installers $V1 and $V2"
bash packaging/build_installer.sh --standin --version "$V1" --out "$WORK/setup-$V1.exe" >/dev/null || exit 1
bash packaging/build_installer.sh --standin --version "$V2" --out "$WORK/setup-$V2.exe" >/dev/null || exit 1

log "creating a fresh 64-bit wine prefix"
t=$(date +%s)
"$WINE" wineboot -i >/dev/null 2>&1
"$WINESERVER" -w
log "wine prefix ready in $(( $(date +%s) - t ))s"

C="$WINEPREFIX/drive_c"
WUSER="$(ls "$C/users" | grep -v -x Public | head -1)"
PROFILE="$C/users/$WUSER"
INSTDIR="$C/Program Files/FHIR Write-back"
CONFDIR="$C/ProgramData/fhir-writeback"
STARTMENU="$C/ProgramData/Microsoft/Windows/Start Menu/Programs/FHIR Write-back.lnk"
DESKTOP="$C/users/Public/Desktop/FHIR Write-back.lnk"
KEY='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\fhir-writeback'
cp "$WORK/setup-$V1.exe" "$C/setup1.exe"
cp "$WORK/setup-$V2.exe" "$C/setup2.exe"
mkdir -p "$C/IT files"
cat > "$C/IT files/sites.toml" <<'EOF'
default_site = "north"

[sites.north]
display_name = "North Clinic EHR"
fhir_base = "https://ehr.north.example.org/fhir/R4"
client_id = "fhir-writeback"
EOF

run() { "$WINE" "$@" >/dev/null 2>&1; local rc=$?; "$WINESERVER" -w; return $rc; }
exit_code() { run "$@"; echo $?; }
reg_value() { "$WINE" reg query "$KEY" /v "$1" 2>/dev/null | tr -d '\r' | sed -n "s/^ *$1 *REG_[A-Z]* *//p"; }
installed_standin_version() { sed -n 's/.*"stand-in": "\(.*\)".*/\1/p' "$INSTDIR/_internal/resources/sandbox/version.json"; }
equals() { [ "$1" = "$2" ]; }
has_line() { tr -d '\r' < "$2" | grep -qxF "$1"; } # the installer writes CRLF files

log "1. fresh silent install of $V1 with /SITECONFIG= and /DESKTOPSHORTCUT"
check "installer exits 0" equals "$(exit_code 'C:\setup1.exe' /S '/SITECONFIG=C:\IT files\sites.toml' /DESKTOPSHORTCUT)" 0
check "app, console app and uninstaller are in Program Files" \
  test -f "$INSTDIR/fhir-writeback.exe" -a -f "$INSTDIR/fhir-writeback-cli.exe" -a -f "$INSTDIR/uninstall.exe"
check "the bundle's _internal folder is installed" equals "$(installed_standin_version)" "$V1"
check "Start menu shortcut (all users)" test -f "$STARTMENU"
check "desktop shortcut (all users, asked for)" test -f "$DESKTOP"
check "site configuration copied to ProgramData\\fhir-writeback\\sites.toml" cmp "$C/IT files/sites.toml" "$CONFDIR/sites.toml"
check "Add/Remove Programs: DisplayName" equals "$(reg_value DisplayName)" "FHIR Write-back"
check "Add/Remove Programs: DisplayVersion" equals "$(reg_value DisplayVersion)" "$V1"
check "Add/Remove Programs: Publisher" test -n "$(reg_value Publisher)"
check "Add/Remove Programs: UninstallString" equals "$(reg_value UninstallString)" '"C:\Program Files\FHIR Write-back\uninstall.exe"'
check "Add/Remove Programs: QuietUninstallString" equals "$(reg_value QuietUninstallString)" '"C:\Program Files\FHIR Write-back\uninstall.exe" /S'
check "Add/Remove Programs: EstimatedSize" grep -q '^0x' <<<"$(reg_value EstimatedSize)"
check "install log written to %TEMP%" grep -q "Done: FHIR Write-back $V1 installed" "$PROFILE/Temp/fhir-writeback-setup.log"

log "2. a user works: per-user data appears"
mkdir -p "$PROFILE/AppData/Local/fhir-writeback/outbox" "$PROFILE/AppData/Roaming/fhir-writeback"
echo "unsent note" > "$PROFILE/AppData/Local/fhir-writeback/outbox/marker.txt"
echo "roaming" > "$PROFILE/AppData/Roaming/fhir-writeback/marker.txt"

log "3. upgrade refused while the app is running"
"$WINE" 'C:\Program Files\FHIR Write-back\fhir-writeback.exe' '/READY=C:\app-running.txt' /SLEEP=60000 >/dev/null 2>&1 &
APP_PID=$!
for _ in $(seq 1 300); do [ -f "$C/app-running.txt" ] && break; sleep 0.1; done
check "the stand-in app is running" test -f "$C/app-running.txt"
# (not exit_code: its `wineserver -w` would wait for the running app)
check "upgrade while running exits 5" equals "$("$WINE" 'C:\setup2.exe' /S >/dev/null 2>&1; echo $?)" 5
check "...and changes nothing" equals "$(reg_value DisplayVersion)/$(installed_standin_version)" "$V1/$V1"
kill "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null; APP_PID=""
"$WINESERVER" -w

log "4. silent upgrade to $V2 in place with /FHIRBASE= /CLIENTID= /SITENAME= /SITEID="
check "upgrade exits 0" equals "$(exit_code 'C:\setup2.exe' /S /FHIRBASE=https://ehr.example.org/fhir/R4 /CLIENTID=clinic-app '/SITENAME=Main Clinic' /SITEID=main.clinic)" 0
check "DisplayVersion is $V2" equals "$(reg_value DisplayVersion)" "$V2"
check "program files replaced by $V2" equals "$(installed_standin_version)" "$V2"
check "per-user marker kept (Local)" grep -q "unsent note" "$PROFILE/AppData/Local/fhir-writeback/outbox/marker.txt"
check "per-user marker kept (Roaming)" test -f "$PROFILE/AppData/Roaming/fhir-writeback/marker.txt"
check "sites.toml has the new fhir_base" has_line 'fhir_base = "https://ehr.example.org/fhir/R4"' "$CONFDIR/sites.toml"
check "sites.toml has the client_id" has_line 'client_id = "clinic-app"' "$CONFDIR/sites.toml"
check "sites.toml has the site name" has_line 'display_name = "Main Clinic"' "$CONFDIR/sites.toml"
check "sites.toml makes it the default site" has_line 'default_site = "main.clinic"' "$CONFDIR/sites.toml"
# The app's own loader (app/smart/sites.py) must accept what the installer wrote.
SITES_CHECK='import sys; from pathlib import Path; from app.smart.sites import load_sites
c = load_sites(Path(sys.argv[1])); s = c.default
assert (s.id, s.display_name, s.fhir_base, s.client_id) == ("main.clinic", "Main Clinic", "https://ehr.example.org/fhir/R4", "clinic-app"), c'
if [ -x "$ROOT/.venv/bin/python" ]; then
  check "the app's site loader accepts the written sites.toml" "$ROOT/.venv/bin/python" -c "$SITES_CHECK" "$CONFDIR/sites.toml"
else
  check "the written sites.toml is valid TOML (no .venv: app loader not run)" python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' "$CONFDIR/sites.toml"
fi
check "previous sites.toml kept as sites.toml.bak" cmp "$C/IT files/sites.toml" "$CONFDIR/sites.toml.bak"
check "install log says it upgraded" grep -q "Upgrading FHIR Write-back $V1 to $V2" "$PROFILE/Temp/fhir-writeback-setup.log"

log "5. re-running without site switches keeps the site configuration"
cp "$CONFDIR/sites.toml" "$WORK/sites-before.toml"
check "repair install exits 0" equals "$(exit_code 'C:\setup2.exe' /S)" 0
check "sites.toml unchanged" cmp "$WORK/sites-before.toml" "$CONFDIR/sites.toml"

log "6. refusals: downgrade, unknown switch, plain-http FHIR base"
check "downgrade to $V1 exits 4" equals "$(exit_code 'C:\setup1.exe' /S)" 4
check "invalid /SITEID= exits 3" equals "$(exit_code 'C:\setup2.exe' /S /FHIRBASE=https://ehr.example.org/fhir /CLIENTID=x '/SITEID=main clinic')" 3
check "unknown switch exits 3" equals "$(exit_code 'C:\setup2.exe' /S /SITECONFG=x.toml)" 3
check "http:// FHIR base exits 3" equals "$(exit_code 'C:\setup2.exe' /S /FHIRBASE=http://ehr.example.org/fhir /CLIENTID=x)" 3
check "missing /SITECONFIG file exits 3" equals "$(exit_code 'C:\setup2.exe' /S '/SITECONFIG=C:\nowhere\sites.toml')" 3
check "...and nothing changed" equals "$(reg_value DisplayVersion)/$(installed_standin_version)" "$V2/$V2"

log "7. silent uninstall (QuietUninstallString) keeps per-user data"
QUIET="$(reg_value QuietUninstallString)" # "C:\...\uninstall.exe" /S
QUIET_EXE="$(sed 's/^"\([^"]*\)".*/\1/' <<<"$QUIET")"
read -r -a QUIET_ARGS <<<"$(sed 's/^"[^"]*" *//' <<<"$QUIET")"
check "uninstaller exits 0" equals "$(exit_code "$QUIET_EXE" "${QUIET_ARGS[@]}")" 0
check "program folder removed" test ! -e "$INSTDIR"
check "Start menu shortcut removed" test ! -e "$STARTMENU"
check "desktop shortcut removed" test ! -e "$DESKTOP"
check "Add/Remove Programs entry removed" test -z "$(reg_value DisplayName)"
check "per-machine site configuration removed" test ! -e "$CONFDIR"
check "per-user data kept (Local)" test -f "$PROFILE/AppData/Local/fhir-writeback/outbox/marker.txt"
check "per-user data kept (Roaming)" test -f "$PROFILE/AppData/Roaming/fhir-writeback/marker.txt"
check "uninstall log says per-user data was kept" grep -q "Per-user data was kept" "$PROFILE/Temp/fhir-writeback-uninstall.log"

log "8. reinstall, then uninstall /PURGE removes per-user data too"
check "reinstall exits 0" equals "$(exit_code 'C:\setup2.exe' /S)" 0
check "reinstall finds the kept per-user data untouched" test -f "$PROFILE/AppData/Local/fhir-writeback/outbox/marker.txt"
check "uninstall /S /PURGE exits 0" equals "$(exit_code 'C:\Program Files\FHIR Write-back\uninstall.exe' /S /PURGE)" 0
check "program folder removed" test ! -e "$INSTDIR"
check "per-user data removed (Local)" test ! -e "$PROFILE/AppData/Local/fhir-writeback"
check "per-user data removed (Roaming)" test ! -e "$PROFILE/AppData/Roaming/fhir-writeback"

ELAPSED=$(( $(date +%s) - START ))
echo "wine installer test: $PASSED checks passed, $FAILED failed, in ${ELAPSED}s"
[ "$FAILED" -eq 0 ]
