#!/usr/bin/env bash
# The MSI package under wine: msiinfo checks of the tables, then msiexec /i ... /qn as Intune,
# SCCM or a GPO would run it: install with SITECONFIG=, .exe installer refused next to it,
# 0.x -> 9.0.0rc1 -> 9.0.0 (one product left), 9.0.0 -> 9.0.0rc1 refused, a refused SITECONFIG
# rolls back, msiexec /x removes it, and the MSI refuses to go over the .exe installer's copy.
#
#   bash packaging/test_msi_wine.sh            (exit 0 when every check passed)
#
# Stand-in bundle as in packaging/test_wine.sh (its `sites install` runs the real command from
# .venv through packaging/standin/bridge.sh). Needs wixl msitools nsis wine64 wine osslsigncode.
# What wine does differently from Windows (checked on the Windows runner instead): the Start
# menu shortcut lands in the user's Start menu, not the all-users one; icacls changes nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
START=$(date +%s)

log() { printf '\033[1m[test_msi %3ss]\033[0m %s\n' "$(( $(date +%s) - START ))" "$*" >&2; }
PASSED=0
FAILED=0
check() {
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
PY="$ROOT/.venv/bin/python"
for tool in wixl msiinfo makensis osslsigncode openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "needs $tool (apt-get install wixl msitools nsis osslsigncode)" >&2; exit 2; }
done
[ -n "$WINE" ] || { echo "needs 64-bit wine: apt-get install wine64 wine" >&2; exit 2; }
[ -x "$PY" ] || { echo "needs the project's .venv: bash packaging/dev.sh setup" >&2; exit 2; }

WORK="$(mktemp -d /tmp/fhir-writeback-msi-wine.XXXXXX)"
cleanup() { WINEPREFIX="$WORK/prefix" "$WINESERVER" -k 2>/dev/null; if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
export WINEPREFIX="$WORK/prefix" WINEARCH=win64 WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
unset DISPLAY WAYLAND_DISPLAY

V1="$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
RC="9.0.0rc1"
FINAL="9.0.0"
log "building signed stand-in MSIs $V1, $RC, $FINAL and the .exe installer $V1"
bash packaging/make_test_cert.sh "$WORK/cert"
for v in "$V1" "$RC" "$FINAL"; do
  bash packaging/build_msi.sh --standin --version "$v" --out "$WORK/fhir-writeback-$v-x64.msi" \
    --sign-pfx "$WORK/cert/cert.pfx" --sign-password-file "$WORK/cert/password.txt" \
    --help-url https://support.example.org/fhir-writeback >/dev/null || exit 1
done
bash packaging/build_installer.sh --standin --version "$V1" --out "$WORK/fhir-writeback-$V1-setup.exe" >/dev/null || exit 1

equals() { [ "$1" = "$2" ]; }
MSI="$WORK/fhir-writeback-$V1-x64.msi"
table() { msiinfo export "$MSI" "$1" | tail -n +4 | tr -d '\r'; }
property() { table Property | awk -F'\t' -v p="$1" '$1 == p { print $2 }'; }
log "1. the package, read with msiinfo"
check "signed (osslsigncode verify)" bash -c "osslsigncode verify -CAfile '$WORK/cert/cert.pem' -in '$MSI' | grep -q 'Signature verification: ok'"
check "per-machine: ALLUSERS=1" equals "$(property ALLUSERS)" 1
check "64-bit package (summary Template x64;1033)" bash -c "msiinfo suminfo '$MSI' | grep -qx 'Template: x64;1033'"
check "ProductVersion $V1, the fixed UpgradeCode" equals "$(property ProductVersion) $(property UpgradeCode)" "$V1 {8f2b7d3e-4c1a-4e7b-9a55-1d6c0e3f2a71}"
check "SITECONFIG is a secure public property" bash -c "msiinfo export '$MSI' Property | grep -q 'SecureCustomProperties.*SITECONFIG'"
check "HelpLink and the icon in Programs and Features" equals "$(property ARPHELPLINK) $(property ARPPRODUCTICON)" "https://support.example.org/fhir-writeback AppIcon"
check "the bundled CLI installs SITECONFIG (deferred, as SYSTEM, checked)" bash -c "msiinfo export '$MSI' CustomAction | grep -P '^InstallSiteConfig\t3090\tCliExe\tsites install \"\\[SITECONFIG\\]\"'"
check "ProgramData restricted with icacls (deferred, as SYSTEM)" bash -c "msiinfo export '$MSI' CustomAction | grep -P '^LockSiteConfigAcl\t3122\tICACLS\t.*/inheritance:r'"
check "launch conditions: 64-bit, newer MSI, PEP 440 key, .exe installer's copy" bash -c "msiinfo export '$MSI' LaunchCondition | grep -c -e '^VersionNT64' -e '^NOT NEWERFOUND' -e 'INSTALLEDVERSIONKEY <= \"00000.00001' -e 'NOT EXEINSTALLEDVERSION' | grep -qx 4"
check "the 4 files of the stand-in bundle are in the File table" equals "$(table File | wc -l)" 4

log "creating a fresh 64-bit wine prefix"
"$WINE" wineboot -i >/dev/null 2>&1
"$WINESERVER" -w
C="$WINEPREFIX/drive_c"
WUSER="$(ls "$C/users" | grep -v -x Public | head -1)"
INSTDIR="$C/Program Files/FHIR Write-back"
CONFDIR="$C/ProgramData/fhir-writeback"
SETUPLOG="$C/users/$WUSER/Temp/fhir-writeback-setup.log"
for f in "$WORK"/*.msi "$WORK"/*.exe; do cp "$f" "$C/"; done
mkdir -p "$C/IT files/certs" "$C/bad"
cp "$WORK/cert/cert.pem" "$C/IT files/certs/clinic-root-ca.pem"
printf 'default_site = "north"\n\n[sites.north]\ndisplay_name = "North Clinic EHR"\nfhir_base = "https://ehr.north.example.org/fhir/R4"\nclient_id = "fhir-writeback"\nca_bundle = "certs/clinic-root-ca.pem"\n' > "$C/IT files/sites.toml"
sed 's#https://#http://#' "$C/IT files/sites.toml" > "$C/bad/sites.toml"

exit_code() { # the whole exit code of a Windows command line (a shell sees it modulo 256)
  printf '@echo off\r\n%s\r\n>C:\\rc.txt echo %%ERRORLEVEL%%\r\n' "$1" > "$C/run.bat"
  rm -f "$C/rc.txt"
  "$WINE" cmd /c 'C:\run.bat' >/dev/null 2>&1
  tr -d '\r\n ' < "$C/rc.txt" 2>/dev/null
}
reg() { "$WINE" reg query "$1" /v "$2" 2>/dev/null | tr -d '\r' | sed -n "s/^ *$2 *REG_[A-Z]* *//p"; }
products() { # Programs and Features entries named FHIR Write-back
  "$WINE" reg export 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' 'C:\uninstall.reg' /y >/dev/null 2>&1
  iconv -f utf-16le -t utf-8 "$C/uninstall.reg" | tr -d '\r' | grep -c '^"DisplayName"="FHIR Write-back"$'
}
installed_version() { reg 'HKLM\Software\fhir-writeback' Version; }
msilog_has() { tr -d '\r' < "$C/msi.log" | grep -qaE "$1"; }
shortcut() { ls "$C/ProgramData/Microsoft/Windows/Start Menu/Programs/FHIR Write-back.lnk" "$C/users/$WUSER/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/FHIR Write-back.lnk" 2>/dev/null | head -1; }

log "2. msiexec /i /qn with SITECONFIG= (a site file naming a CA bundle)"
check "msiexec /i exits 0" equals "$(exit_code "msiexec /i C:\\fhir-writeback-$V1-x64.msi /qn /l*v C:\\msi.log \"SITECONFIG=C:\\IT files\\sites.toml\"")" 0
check "program files installed" test -f "$INSTDIR/fhir-writeback.exe" -a -f "$INSTDIR/fhir-writeback-cli.exe" -a -d "$INSTDIR/_internal"
check "HKLM\\Software\\fhir-writeback: InstalledBy msi, Version $V1" equals "$(reg 'HKLM\Software\fhir-writeback' InstalledBy) $(installed_version)" "msi $V1"
check "one product in Programs and Features" equals "$(products)" 1
check "Start menu shortcut (wine: in the user's Start menu)" test -n "$(shortcut)"
check "sites.toml installed in ProgramData" cmp "$C/IT files/sites.toml" "$CONFDIR/sites.toml"
check "the CA bundle it names is copied beside it" cmp "$C/IT files/certs/clinic-root-ca.pem" "$CONFDIR/certs/clinic-root-ca.pem"
check "the CLI's output is in %TEMP%\\fhir-writeback-setup.log" grep -q "sites: exit code 0" "$SETUPLOG"
check "icacls custom actions ran (owner, ACL) with the 64-bit icacls" bash -c "grep -qa 'ICACLS = C:.windows.system32.icacls.exe' '$C/msi.log' && grep -qa 'LockSiteConfigOwner. Return value 1' '$C/msi.log' && grep -qa 'LockSiteConfigAcl. Return value 1' '$C/msi.log'"
check "the .exe installer refuses to go over it (exit 7)" equals "$(exit_code "C:\\fhir-writeback-$V1-setup.exe /S")" 7

log "3. upgrades: $V1 -> $RC -> $FINAL, then $RC refused"
check "$V1 -> $RC exits 0" equals "$(exit_code "msiexec /i C:\\fhir-writeback-$RC-x64.msi /qn")" 0
check "$RC -> $FINAL (same MSI ProductVersion 9.0.0) exits 0" equals "$(exit_code "msiexec /i C:\\fhir-writeback-$FINAL-x64.msi /qn")" 0
check "...$FINAL installed, one product left" equals "$(installed_version) $(products)" "$FINAL 1"
# Wine's RemoveExistingProducts removes the old version without UPGRADINGPRODUCTCODE, so the
# old version's "delete sites.toml on uninstall" runs; Windows sets it and the file stays.
# Step 5 runs that removal the way Windows does. Here: provision the file again (repair).
check "repair of $FINAL with SITECONFIG= exits 0" equals "$(exit_code "msiexec /i C:\\fhir-writeback-$FINAL-x64.msi /qn REINSTALL=ALL REINSTALLMODE=vamus \"SITECONFIG=C:\\IT files\\sites.toml\"")" 0
check "...sites.toml installed again" cmp "$C/IT files/sites.toml" "$CONFDIR/sites.toml"
check "$FINAL -> $RC refused (1603)" equals "$(exit_code "msiexec /i C:\\fhir-writeback-$RC-x64.msi /qn /l*v C:\\msi.log")" 1603
# wine logs no launch condition text: the installed key is there and NEWERFOUND is not, so the
# PEP 440 condition (its text is checked with msiinfo above) is the one that refused.
check "...by the PEP 440 launch condition (installed key 9.0.0 final, same MSI version)" bash -c "grep -qa 'INSTALLEDVERSIONKEY = 00009.00000.00000.00000.4' '$C/msi.log' && ! grep -qa 'NEWERFOUND = ' '$C/msi.log'"
check "...$FINAL still installed" equals "$(installed_version) $(products)" "$FINAL 1"

log "4. a refused SITECONFIG= rolls the installation back"
# Windows answers a failed deferred custom action with 1603; wine with 1627.
check "reinstall of $FINAL with an http:// site file fails (1627 under wine, 1603 on Windows)" equals "$(exit_code "msiexec /i C:\\fhir-writeback-$FINAL-x64.msi /qn REINSTALL=ALL REINSTALLMODE=vamus SITECONFIG=C:\\bad\\sites.toml")" 1627
check "...the reason is in the setup log" grep -q "refused: .*must use https://" "$SETUPLOG"
check "...$FINAL still installed, site file unchanged" bash -c "[ '$(installed_version)' = '$FINAL' ] && cmp '$C/IT files/sites.toml' '$CONFDIR/sites.toml'"

log "5. removal: as a newer version's upgrade does it (sites.toml stays), then msiexec /x /qn"
CODE="$(msiinfo export "$WORK/fhir-writeback-$FINAL-x64.msi" Property | tr -d '\r' | awk -F'\t' '$1 == "ProductCode" { print $2 }')"
check "removal with UPGRADINGPRODUCTCODE (what Windows' upgrade sets) exits 0" equals "$(exit_code "msiexec /x $CODE /qn UPGRADINGPRODUCTCODE={00000000-0000-0000-0000-000000000001}")" 0
check "...program folder removed, sites.toml kept for the new version" test ! -e "$INSTDIR" -a -f "$CONFDIR/sites.toml"
check "reinstall $FINAL exits 0" equals "$(exit_code "msiexec /i C:\\fhir-writeback-$FINAL-x64.msi /qn")" 0
check "msiexec /x $CODE /qn exits 0" equals "$(exit_code "msiexec /x $CODE /qn")" 0
check "...program folder removed" test ! -e "$INSTDIR"
check "...no product left, HKLM\\Software\\fhir-writeback removed" equals "$(products)/$(installed_version)" "0/"
check "...sites.toml removed, the CA bundle kept" test ! -e "$CONFDIR/sites.toml" -a -f "$CONFDIR/certs/clinic-root-ca.pem"

log "6. the MSI refuses to go over the .exe installer's copy"
check ".exe installer exits 0" equals "$(exit_code "C:\\fhir-writeback-$V1-setup.exe /S")" 0
check "msiexec /i then exits 1603" equals "$(exit_code "msiexec /i C:\\fhir-writeback-$V1-x64.msi /qn /l*v C:\\msi.log")" 1603
check "...because the .exe installer's entry is there" msilog_has "Property\(S\): EXEINSTALLEDVERSION = $V1"

ELAPSED=$(( $(date +%s) - START ))
echo "wine MSI test: $PASSED checks passed, $FAILED failed, in ${ELAPSED}s"
[ "$FAILED" -eq 0 ]
