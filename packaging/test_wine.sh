#!/usr/bin/env bash
# Runs the Windows installer under wine, silently, end to end, the way clinic IT deploys it:
#   PEP 440 compare -> signed install with /SITECONFIG= (+ CA bundle), /LOG=, ACL commands
#   -> upgrade refused while the app runs (1618), then done with /CLOSEAPP (3010)
#   -> repair with /FHIRBASE= -> refusals (exit 3/4) that change nothing -> all-or-nothing
#   (a late write failure puts the previous version back, exit 2) -> rc -> final -> rc refused
#   -> uninstall refusals, then an uninstall that returns only when it is done
#   -> a failed fresh install leaves nothing -> reinstall + uninstall /PURGE.
#
#   bash packaging/test_wine.sh            (exit 0 when every check passed)
#
# The installer packages the stand-in bundle (packaging/build_installer.sh --standin): the real
# Windows bundle can only be built on Windows. The installer itself is the real installer.nsi,
# 64-bit (Target amd64-unicode), so 64-bit wine is enough (Debian: apt-get install nsis wine64
# wine osslsigncode openssl; no i386 multiarch needed). The stand-in's `sites ...` runs the real
# `fhir-writeback sites` from .venv (packaging/standin/bridge.sh): run packaging/dev.sh setup
# first. Every run uses a fresh, private WINEPREFIX that is deleted at the end. Needs no
# display. Timing: see docs/deployment.md section 12 (about a minute alone).
#
# What wine cannot show: icacls under wine accepts the ACL commands and changes nothing, so
# this checks that they ran (log) - a real Windows runner checks the ACLs themselves
# (packaging/github-workflow-windows.yml).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
START=$(date +%s)

log() { printf '\033[1m[test_wine %3ss]\033[0m %s\n' "$(( $(date +%s) - START ))" "$*" >&2; }
PASSED=0
FAILED=0
check() { # check "what" command...
  local what="$1"; shift
  local said
  if said="$("$@" 2>&1 >/dev/null)"; then
    PASSED=$((PASSED + 1)); printf 'ok    %s\n' "$what"
  else
    FAILED=$((FAILED + 1)); printf 'FAIL  %s\n' "$what"
    [ -z "$said" ] || printf '%s\n' "$said"
  fi
}

WINE="$(command -v wine64 || true)"
[ -n "$WINE" ] || { [ -x /usr/lib/wine/wine64 ] && WINE=/usr/lib/wine/wine64; }
WINESERVER="$(command -v wineserver || true)"
[ -n "$WINESERVER" ] || WINESERVER=/usr/lib/wine/wineserver
PY="$ROOT/.venv/bin/python"
for tool in makensis osslsigncode openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "needs $tool (apt-get install nsis osslsigncode openssl)" >&2; exit 2; }
done
[ -n "$WINE" ] || { echo "needs 64-bit wine: apt-get install wine64 wine" >&2; exit 2; }
[ -x "$PY" ] || { echo "needs the project's .venv: bash packaging/dev.sh setup" >&2; exit 2; }

WORK="$(mktemp -d /tmp/fhir-writeback-wine.XXXXXX)"
APP_PID=""
cleanup() {
  [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null
  WINEPREFIX="$WORK/prefix" "$WINESERVER" -k 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

export WINEPREFIX="$WORK/prefix" WINEARCH=win64 WINEDEBUG=-all
# No Mono/Gecko download prompts, no Linux menu entries for the shortcuts.
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
unset DISPLAY WAYLAND_DISPLAY

V1="$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
V2="$("$PY" -c 'import sys; p = sys.argv[1].split("."); p[-1] = str(int("".join(c for c in p[-1] if c.isdigit()) or 0) + 1); print(".".join(p))' "$V1")"
RC="9.0.0rc1"
FINAL="9.0.0"
HELP_URL="https://support.example.org/fhir-writeback"
ABOUT_URL="https://example.org/fhir-writeback"
log "building signed stand-in installers $V1, $V2, $RC, $FINAL (throwaway certificate)"
bash packaging/make_test_cert.sh "$WORK/cert"
for v in "$V1" "$V2" "$RC" "$FINAL"; do
  bash packaging/build_installer.sh --standin --version "$v" --out "$WORK/fhir-writeback-$v-setup.exe" \
    --sign-pfx "$WORK/cert/cert.pfx" --sign-password-file "$WORK/cert/password.txt" \
    --help-url "$HELP_URL" --about-url "$ABOUT_URL" >/dev/null || exit 1
done
makensis -V2 "-DOUTFILE=$WORK/pep440-check.exe" packaging/nsis/pep440-check.nsi >/dev/null || exit 1

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
SETUPLOG="$PROFILE/Temp/fhir-writeback-setup.log"
UNLOG="$PROFILE/Temp/fhir-writeback-uninstall.log"
KEY='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\fhir-writeback'
for v in "$V1" "$V2" "$RC" "$FINAL"; do cp "$WORK/fhir-writeback-$v-setup.exe" "$C/setup-$v.exe"; done
mkdir -p "$C/IT files/certs" "$C/logs"
cp "$WORK/cert/cert.pem" "$C/IT files/certs/clinic-root-ca.pem"
cat > "$C/IT files/sites.toml" <<'EOF'
default_site = "north"

[sites.north]
display_name = "North Clinic EHR"
fhir_base = "https://ehr.north.example.org/fhir/R4"
client_id = "fhir-writeback"
ca_bundle = "certs/clinic-root-ca.pem"
EOF

run() { "$WINE" "$@" >/dev/null 2>&1; local rc=$?; "$WINESERVER" -w; return $rc; }
# The whole exit code of a Windows command line, through a batch file: a Linux shell sees a
# wine program's exit code modulo 256 (1618 -> 82, 3010 -> 194). cmd waits for the program.
exit_code_now() {
  printf '@echo off\r\n%s\r\n>C:\\rc.txt echo %%ERRORLEVEL%%\r\n' "$1" > "$C/run.bat"
  rm -f "$C/rc.txt"
  "$WINE" cmd /c 'C:\run.bat' >/dev/null 2>&1
  tr -d '\r\n ' < "$C/rc.txt" 2>/dev/null
}
exit_code() { exit_code_now "$@"; } # cmd waits for the program (and the installer for its steps)
UNINSTALL='"C:\Program Files\FHIR Write-back\uninstall.exe"'
reg_value() { "$WINE" reg query "$KEY" /v "$1" 2>/dev/null | tr -d '\r' | sed -n "s/^ *$1 *REG_[A-Z]* *//p"; }
installed_standin_version() { sed -n 's/.*"stand-in": "\(.*\)".*/\1/p' "$INSTDIR/_internal/resources/sandbox/version.json" 2>/dev/null; }
state() { echo "$(reg_value DisplayVersion)/$(installed_standin_version)/$(test -f "$INSTDIR/uninstall.exe" && echo u)/$(test -f "$STARTMENU" && echo s)"; }
equals() { [ "$1" = "$2" ]; }
has_line() { tr -d '\r' < "$2" | grep -qxF "$1"; } # the installer writes CRLF files
no_leftovers() { ! ls -d "$INSTDIR".installing "$INSTDIR".previous >/dev/null 2>&1; }
log_has() { # on a miss, the log's last lines go to stderr (check shows them only when it fails)
  tr -d '\r' < "$SETUPLOG" | grep -qE "$1" && return 0
  { echo "      not in $SETUPLOG: $1"; tr -d '\r' < "$SETUPLOG" | tail -n 15 | sed 's/^/      | /'; } >&2
  return 1
}
exit_codes_logged_after() { # the "(exit code N)" logged after each "Running: ...$1..." line
  tr -d '\r' < "$SETUPLOG" | awk -v pat="$1" '/ Running: / && index($0, pat) { found = 1; next }
    found && /\(exit code / { sub(/.*\(exit code /, ""); sub(/\).*/, ""); printf "%s ", $0; found = 0 }'
}
signed() { osslsigncode verify -CAfile "$WORK/cert/cert.pem" -in "$1" 2>&1 | grep -q "Signature verification: ok"; }
start_app() {
  rm -f "$C/app-running.txt"
  "$WINE" 'C:\Program Files\FHIR Write-back\fhir-writeback.exe' '/READY=C:\app-running.txt' /SLEEP=120000 >/dev/null 2>&1 &
  APP_PID=$!
  for _ in $(seq 1 300); do [ -f "$C/app-running.txt" ] && break; sleep 0.1; done
}
# `wineserver -w`: the stopped app's process and its open program file are gone from wine's
# view before the next check (without it the next uninstall saw the app running, under load)
stop_app() { kill "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null; APP_PID=""; "$WINESERVER" -w; }

log "0. the installer's PEP 440 comparison agrees with packaging.version"
"$PY" - "$C/pairs.txt" "$WORK/expected.txt" <<'EOF'
import itertools, sys
from packaging.version import Version
versions = ["0.1", "0.1.0", "0.1.1", "0.2.0.dev1", "0.2.0a1.dev1", "0.2.0a1", "0.2.0a1.post1",
            "0.2.0a2", "0.2.0b1", "0.2.0rc1", "0.2.0rc2", "0.2.0", "0.2.0.post1.dev1",
            "0.2.0.post1", "0.2.1", "0.10.0", "1.0.0.1", "10.0"]
with open(sys.argv[1], "w") as pairs, open(sys.argv[2], "w") as expected:
    for a, b in itertools.product(versions, repeat=2):
        pairs.write(f"{a} {b}\r\n")
        va, vb = Version(a), Version(b)
        expected.write(f"{a} {b} {0 if va == vb else 1 if va > vb else 2}\n")
EOF
run "$WORK/pep440-check.exe" '/IN=C:\pairs.txt' '/OUT=C:\compared.txt'
check "Pep440Compare = packaging.version on $(wc -l < "$WORK/expected.txt") pairs (rc < final, .post, .dev)" \
  diff <(tr -d '\r' < "$C/compared.txt") "$WORK/expected.txt"

log "1. fresh silent install of $V1: /SITECONFIG= with a CA bundle, /DESKTOPSHORTCUT, /LOG="
check "installer exits 0" equals "$(exit_code "C:\\setup-$V1.exe /S \"/SITECONFIG=C:\IT files\sites.toml\" /DESKTOPSHORTCUT /LOG=C:\logs\setup.log")" 0
check "app, console app, uninstaller and its helper are in Program Files" \
  test -f "$INSTDIR/fhir-writeback.exe" -a -f "$INSTDIR/fhir-writeback-cli.exe" -a -f "$INSTDIR/uninstall.exe" -a -f "$INSTDIR/uninstall-helper.exe"
check "the bundle's _internal folder is installed" equals "$(installed_standin_version)" "$V1"
check "no staging or backup folder left next to it" no_leftovers
check "Start menu shortcut (all users)" test -f "$STARTMENU"
check "desktop shortcut (all users, asked for)" test -f "$DESKTOP"
check "sites.toml installed in ProgramData\\fhir-writeback" cmp "$C/IT files/sites.toml" "$CONFDIR/sites.toml"
check "the CA bundle it names is copied beside it" cmp "$C/IT files/certs/clinic-root-ca.pem" "$CONFDIR/certs/clinic-root-ca.pem"
check "the installed file is valid where it is (its CA path resolves)" "$PY" -m app sites validate "$CONFDIR/sites.toml"
check "Add/Remove Programs: DisplayName" equals "$(reg_value DisplayName)" "FHIR Write-back"
check "Add/Remove Programs: DisplayVersion" equals "$(reg_value DisplayVersion)" "$V1"
check "Add/Remove Programs: VersionMajor/VersionMinor" equals "$(reg_value VersionMajor)/$(reg_value VersionMinor)" "0x$(cut -d. -f1 <<<"$V1")/0x$(cut -d. -f2 <<<"$V1")"
check "Add/Remove Programs: InstallDate is today" equals "$(reg_value InstallDate)" "$(date +%Y%m%d)"
check "Add/Remove Programs: HelpLink, URLInfoAbout" equals "$(reg_value HelpLink) $(reg_value URLInfoAbout)" "$HELP_URL $ABOUT_URL"
check "Add/Remove Programs: DisplayIcon" equals "$(reg_value DisplayIcon)" 'C:\Program Files\FHIR Write-back\fhir-writeback.exe,0'
check "Add/Remove Programs: Publisher" test -n "$(reg_value Publisher)"
check "Add/Remove Programs: UninstallString" equals "$(reg_value UninstallString)" '"C:\Program Files\FHIR Write-back\uninstall.exe"'
check "Add/Remove Programs: QuietUninstallString" equals "$(reg_value QuietUninstallString)" '"C:\Program Files\FHIR Write-back\uninstall.exe" /S'
check "Add/Remove Programs: EstimatedSize" grep -q '^0x' <<<"$(reg_value EstimatedSize)"
check "install log written to %TEMP%" log_has "Done: FHIR Write-back $V1 installed"
check "log lines carry UTC time, user and machine" log_has "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z [^ ]+\\\\[^ ]+@[^ ]+ Done: FHIR Write-back $V1 installed\.$"
check "/LOG= file has the same lines" equals "$(tr -d '\r' < "$C/logs/setup.log" | grep -c "Done: FHIR Write-back $V1 installed")" 1
check "the site file was checked by the bundled CLI before installing" log_has 'fhir-writeback-cli.exe" sites validate "C:\\IT files\\sites.toml"'
check "ProgramData folder: owner set to Administrators (icacls, exit 0)" log_has 'icacls.exe" "C:\\ProgramData\\fhir-writeback" /setowner \*S-1-5-32-544 /T /C /Q'
check "ProgramData folder: inheritance off, admins+SYSTEM full, users read (icacls)" log_has '/inheritance:r /grant:r \*S-1-5-32-544:\(OI\)\(CI\)F \*S-1-5-18:\(OI\)\(CI\)F \*S-1-5-32-545:\(OI\)\(CI\)RX'
check "...and both icacls commands exited 0" equals "$(exit_codes_logged_after icacls.exe)" "0 0 "
check "installer is signed" signed "$C/setup-$V1.exe"
check "installed fhir-writeback.exe is signed" signed "$INSTDIR/fhir-writeback.exe"
check "installed fhir-writeback-cli.exe is signed" signed "$INSTDIR/fhir-writeback-cli.exe"
check "uninstall.exe is signed" signed "$INSTDIR/uninstall.exe"
check "uninstall-helper.exe (the NSIS uninstaller) is signed" signed "$INSTDIR/uninstall-helper.exe"

log "2. a user works: per-user data appears"
mkdir -p "$PROFILE/AppData/Local/fhir-writeback/outbox" "$PROFILE/AppData/Roaming/fhir-writeback"
echo "unsent note" > "$PROFILE/AppData/Local/fhir-writeback/outbox/marker.txt"
echo "roaming" > "$PROFILE/AppData/Roaming/fhir-writeback/marker.txt"

log "3. the app is running: upgrade refused (1618), then done with /CLOSEAPP (3010)"
start_app
check "the stand-in app is running" test -f "$C/app-running.txt"
# (exit_code_now: `wineserver -w` would wait for the running app)
check "upgrade while running exits 1618 (retry later)" equals "$(exit_code_now "C:\\setup-$V2.exe /S")" 1618
check "...and changes nothing" equals "$(state)" "$V1/$V1/u/s"
check "...and leaves nothing behind" no_leftovers
check "upgrade with /CLOSEAPP exits 3010" equals "$(exit_code_now "C:\\setup-$V2.exe /S /CLOSEAPP")" 3010
check "...the app was closed" bash -c "! kill -0 $APP_PID"
stop_app
check "...and $V2 is installed" equals "$(state)" "$V2/$V2/u/s"
check "the log says it asked the app to close, then ended it" log_has 'taskkill.exe" /F /IM "fhir-writeback.exe"'
check "per-user marker kept (Local)" grep -q "unsent note" "$PROFILE/AppData/Local/fhir-writeback/outbox/marker.txt"
check "per-user marker kept (Roaming)" test -f "$PROFILE/AppData/Roaming/fhir-writeback/marker.txt"
check "the site configuration is kept" cmp "$C/IT files/sites.toml" "$CONFDIR/sites.toml"
check "install log says it upgraded" log_has "Upgrading FHIR Write-back $V1 to $V2"

log "4. repair ($V2 again) with /FHIRBASE= /CLIENTID= /SITENAME= /SITEID="
check "repair exits 0" equals "$(exit_code "C:\\setup-$V2.exe /S /FHIRBASE=https://ehr.example.org/fhir/R4 /CLIENTID=clinic-app \"/SITENAME=Main Clinic\" /SITEID=main.clinic")" 0
check "install log says it repaired" log_has "Repairing FHIR Write-back $V2"
SITES_CHECK='import sys; from pathlib import Path; from app.smart.sites import load_sites
c = load_sites(Path(sys.argv[1])); s = c.default
assert (s.id, s.display_name, s.fhir_base, s.client_id) == ("main.clinic", "Main Clinic", "https://ehr.example.org/fhir/R4", "clinic-app"), c'
check "the app's site loader accepts the written sites.toml" "$PY" -c "$SITES_CHECK" "$CONFDIR/sites.toml"
check "previous sites.toml kept as sites.toml.bak" cmp "$C/IT files/sites.toml" "$CONFDIR/sites.toml.bak"

log "5. re-running without site switches keeps the site configuration"
cp "$CONFDIR/sites.toml" "$WORK/sites-before.toml"
check "repair install exits 0" equals "$(exit_code "C:\\setup-$V2.exe /S")" 0
check "sites.toml unchanged" cmp "$WORK/sites-before.toml" "$CONFDIR/sites.toml"

log "6. refusals (exit 3 or 4) change nothing"
mkdir -p "$C/bad/share"
printf 'default_site = "n"\n[sites.n]\ndisplay_name = "N\xf6rth"\nfhir_base = "https://e.example/fhir"\nclient_id = "x"\n' > "$C/bad/latin1.toml"
head -c 64 "$INSTDIR/fhir-writeback.exe" > "$C/bad/binary.toml"
sed 's#https://#http://#' "$C/IT files/sites.toml" > "$C/bad/sites.toml"
sed 's#certs/clinic-root-ca.pem#missing-ca.pem#' "$C/IT files/sites.toml" > "$C/bad/missing-ca.toml"
check "downgrade to $V1 exits 4" equals "$(exit_code "C:\\setup-$V1.exe /S")" 4
check "invalid /SITEID= exits 3" equals "$(exit_code "C:\\setup-$V2.exe /S /FHIRBASE=https://ehr.example.org/fhir /CLIENTID=x \"/SITEID=main clinic\"")" 3
check "unknown switch exits 3" equals "$(exit_code "C:\\setup-$V2.exe /S /SITECONFG=x.toml")" 3
check "http:// /FHIRBASE= exits 3" equals "$(exit_code "C:\\setup-$V2.exe /S /FHIRBASE=http://ehr.example.org/fhir /CLIENTID=x")" 3
check "missing /SITECONFIG file exits 3" equals "$(exit_code "C:\\setup-$V2.exe /S /SITECONFIG=C:\nowhere\sites.toml")" 3
check "/SITECONFIG= a folder exits 3" equals "$(exit_code "C:\\setup-$V2.exe /S /SITECONFIG=C:\bad\share")" 3
check "...saying so" log_has 'SITECONFIG=C:\\bad\\share is a folder'
check "/SITECONFIG= a non-UTF-8 file exits 3" equals "$(exit_code "C:\\setup-$V2.exe /S /SITECONFIG=C:\bad\latin1.toml")" 3
check "...saying so" log_has 'ERROR: The site configuration was refused, nothing was installed: .*is not UTF-8 text'
check "/SITECONFIG= a binary file exits 3" equals "$(exit_code "C:\\setup-$V2.exe /S /SITECONFIG=C:\bad\binary.toml")" 3
check "/SITECONFIG= with an http:// fhir_base exits 3" equals "$(exit_code "C:\\setup-$V2.exe /S /SITECONFIG=C:\bad\sites.toml")" 3
check "...saying so" log_has "refused, nothing was installed: .*key 'sites.north.fhir_base': must use https://"
check "/SITECONFIG= naming a missing CA file exits 3" equals "$(exit_code "C:\\setup-$V2.exe /S /SITECONFIG=C:\bad\missing-ca.toml")" 3
check "...saying so" log_has "refused, nothing was installed: .*ca_bundle': the CA bundle file .*missing-ca.pem does not exist"
check "/LOG= in a missing folder exits 3" equals "$(exit_code "C:\\setup-$V2.exe /S /LOG=C:\nowhere\setup.log")" 3
check "...and nothing changed" equals "$(state)" "$V2/$V2/u/s"
check "...nothing left behind" no_leftovers
check "...sites.toml unchanged" cmp "$WORK/sites-before.toml" "$CONFDIR/sites.toml"

log "7. all or nothing: a write failure late in an upgrade puts $V2 back (exit 2)"
mv "$CONFDIR" "$WORK/confdir"
echo "not a folder" > "$CONFDIR"
check "upgrade to $RC failing at the site configuration exits 2" equals "$(exit_code "C:\\setup-$RC.exe /S \"/SITECONFIG=C:\IT files\sites.toml\"")" 2
check "...$V2 is installed as it was (version, files, uninstaller, shortcut)" equals "$(state)" "$V2/$V2/u/s"
check "...its desktop shortcut is still there" test -f "$DESKTOP"
check "...nothing left behind" no_leftovers
check "...the log says it rolled back" log_has "Rolled back: FHIR Write-back $V2 is installed as it was"
rm -f "$CONFDIR"; mv "$WORK/confdir" "$CONFDIR"

log "8. versions: $V2 -> $RC -> $FINAL (rc before final) -> $RC refused"
check "upgrade to $RC exits 0" equals "$(exit_code "C:\\setup-$RC.exe /S")" 0
check "upgrade $RC -> $FINAL exits 0" equals "$(exit_code "C:\\setup-$FINAL.exe /S")" 0
check "...$FINAL installed" equals "$(state)" "$FINAL/$FINAL/u/s"
check "$FINAL -> $RC is a downgrade: exits 4" equals "$(exit_code "C:\\setup-$RC.exe /S")" 4
check "...and changes nothing" equals "$(state)" "$FINAL/$FINAL/u/s"

log "9. uninstall: refusals, then a silent uninstall that returns when it is done"
start_app
check "uninstall while the app runs exits 1618" equals "$(exit_code_now "$UNINSTALL /S")" 1618
stop_app
check "...and removes nothing" equals "$(state)" "$FINAL/$FINAL/u/s"
check "uninstall with an unknown switch exits 3" equals "$(exit_code "$UNINSTALL /S /PURGEALL")" 3
check "...and removes nothing" equals "$(state)" "$FINAL/$FINAL/u/s"
# No `wineserver -w` before the checks: the uninstaller must be done when it returns. Wine
# cannot rename a running program (Windows can): uninstall.exe, which waits for its helper,
# cannot leave the folder, so under wine it stays until the next restart and the exit code
# is 3010 - on Windows it is moved to %TEMP% and the code is 0 (the Windows workflow checks).
check "QuietUninstallString exits 3010 under wine (0 on Windows)" equals "$(exit_code_now "$(reg_value QuietUninstallString)")" 3010
check "...and when it returns: program folder empty but for the running uninstall.exe" equals "$(ls "$INSTDIR")" "uninstall.exe"
check "...which is removed at the next restart (PendingFileRenameOperations)" bash -c "'$WINE' reg query 'HKLM\System\CurrentControlSet\Control\Session Manager' /v PendingFileRenameOperations | grep -qF 'FHIR Write-back\uninstall.exe'"
check "...Start menu shortcut removed" test ! -e "$STARTMENU"
check "...desktop shortcut removed" test ! -e "$DESKTOP"
check "...Add/Remove Programs entry removed" test -z "$(reg_value DisplayName)"
rm -rf "$INSTDIR" # what the restart would do
check "per-machine sites.toml removed, the CA bundle kept" test ! -e "$CONFDIR/sites.toml" -a -f "$CONFDIR/certs/clinic-root-ca.pem"
check "per-user data kept (Local)" test -f "$PROFILE/AppData/Local/fhir-writeback/outbox/marker.txt"
check "per-user data kept (Roaming)" test -f "$PROFILE/AppData/Roaming/fhir-writeback/marker.txt"
check "uninstall log says per-user data was kept" grep -q "Per-user data was kept" "$UNLOG"
check "uninstall log lines carry UTC time, user and machine" grep -qE "^[0-9-]{10}T[0-9:]{8}Z [^ ]+@[^ ]+ Done: FHIR Write-back removed" "$UNLOG"
rm -rf "$CONFDIR"

log "10. a fresh install that fails half-way leaves nothing"
mkdir -p "$STARTMENU" # a folder where the shortcut should go
check "install failing at the Start menu shortcut exits 2" equals "$(exit_code "C:\\setup-$V2.exe /S /DESKTOPSHORTCUT /FHIRBASE=https://ehr.example.org/fhir/R4 /CLIENTID=clinic-app")" 2
check "...no program folder" test ! -e "$INSTDIR"
check "...no Add/Remove Programs entry" test -z "$(reg_value DisplayName)"
check "...no desktop shortcut" test ! -e "$DESKTOP"
check "...no site configuration" test ! -e "$CONFDIR/sites.toml"
check "...nothing left behind" no_leftovers
rmdir "$STARTMENU"

log "11. reinstall, then uninstall /S /PURGE removes per-user data too"
check "reinstall exits 0" equals "$(exit_code "C:\\setup-$V2.exe /S")" 0
check "reinstall finds the kept per-user data untouched" test -f "$PROFILE/AppData/Local/fhir-writeback/outbox/marker.txt"
check "uninstall /S /PURGE exits 3010 under wine (0 on Windows)" equals "$(exit_code "$UNINSTALL /S /PURGE")" 3010
check "program folder empty but for uninstall.exe (removed at restart)" equals "$(ls "$INSTDIR")" "uninstall.exe"
check "per-user data removed (Local)" test ! -e "$PROFILE/AppData/Local/fhir-writeback"
check "per-user data removed (Roaming)" test ! -e "$PROFILE/AppData/Roaming/fhir-writeback"

ELAPSED=$(( $(date +%s) - START ))
echo "wine installer test: $PASSED checks passed, $FAILED failed, in ${ELAPSED}s"
[ "$FAILED" -eq 0 ]
