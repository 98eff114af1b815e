; FHIR Write-back: Windows installer (NSIS 3, 64-bit Windows, per-machine).
;
; Build with packaging/build_installer.sh (it reads the version from pyproject.toml, builds the
; uninstall launcher, and signs when given a certificate). By hand:
;   makensis /DVERSION=0.1.0 /DUNINSTALL_LAUNCHER=path\uninstall.exe [/DVERSION_NUMERIC=0.1.0.0]
;            [/DBUNDLE_DIR=dist\fhir-writeback] [/DOUTFILE=...] [/DTARGET=x86-unicode]
;            [/DSIGN=command] [/DHELP_URL=url] [/DABOUT_URL=url] installer.nsi
; BUNDLE_DIR is the PyInstaller one-folder bundle (fhir-writeback.exe, fhir-writeback-cli.exe,
; _internal\). On Linux the checks compile against a stand-in folder of the same shape.
; TARGET: amd64-unicode (default; Debian's NSIS ships its stubs) or x86-unicode (the NSIS
; builds for Windows ship only x86 stubs): both install the 64-bit app in the 64-bit places.
; SIGN: a command that signs the file named after it in place (packaging/sign.sh): run on the
; uninstaller (!uninstfinalize) and on the installer (!finalize).
;
; Switches (docs/deployment.md is the reference for clinic IT):
;   /S                      silent
;   /D=C:\path              install folder (must be last; no quotes). Ignored on upgrade.
;   /DESKTOPSHORTCUT        also put a shortcut on the all-users desktop
;   /SITECONFIG=path        install this sites.toml (and the CA bundles it names) into
;                           C:\ProgramData\fhir-writeback, after the bundled
;                           fhir-writeback-cli.exe "sites validate" accepted it
;   /FHIRBASE=url /CLIENTID=id [/SITENAME=name] [/SITEID=id]
;                           write that sites.toml with one site (instead of /SITECONFIG)
;   /CLOSEAPP               close a running FHIR Write-back instead of refusing (exit 3010)
;   /LOG=FILE               also append the log to FILE
;   /ALLOWDOWNGRADE         install over a newer version
; Uninstaller (uninstall.exe in the install folder): /S, /PURGE (also every user's data),
; /CLOSEAPP, /LOG=FILE.
;
; Exit codes (both): 0 done; 3010 done, and FHIR Write-back was closed for it (/CLOSEAPP; the
; uninstaller: a file is removed at the next restart); 1618 FHIR Write-back is running, retry
; later; 1 cancelled; 2 failed, everything undone; 3 invalid switch, value or site file;
; 4 a newer version is installed; 6 needs 64-bit Windows and administrator rights; 7 installed
; from the MSI package. What happened goes to %TEMP%\fhir-writeback-setup.log (-uninstall.log).
;
; All or nothing: the bundle is unpacked next to the install folder first and the site file
; checked with the bundled CLI there; only then are the previous program files set aside and
; the new ones moved in. A failure after that (shortcut, registry, site configuration) puts
; the previous files, shortcuts and registry values back (Function Rollback).
;
; Per-user data (drafts, outbox, logs in %LOCALAPPDATA%\fhir-writeback; tokens in the user's
; Windows Credential Manager) is never touched by install or upgrade, and only removed by an
; uninstall with /PURGE. Folder names follow platformdirs with appauthor=False (app/paths.py).
; No custom URL scheme is registered: sign-in uses a loopback redirect to 127.0.0.1 (RFC 8252).

Unicode true
!ifndef TARGET
  !define TARGET amd64-unicode
!endif
Target ${TARGET}
ManifestDPIAware true
RequestExecutionLevel admin
SetCompressor /SOLID lzma
AllowSkipFiles off ; a file that cannot be written aborts (and rolls back), never skipped

!ifndef VERSION
  !error "Pass the version: makensis /DVERSION=x.y.z installer.nsi (packaging/build_installer.sh reads it from pyproject.toml)"
!endif
!ifndef VERSION_NUMERIC
  !define VERSION_NUMERIC "${VERSION}.0"
!endif
!ifndef VERSION_MAJOR
  !define VERSION_MAJOR 0
!endif
!ifndef VERSION_MINOR
  !define VERSION_MINOR 0
!endif
!ifndef BUNDLE_DIR
  !define BUNDLE_DIR "dist\fhir-writeback"
!endif
!ifndef OUTFILE
  !define OUTFILE "dist\fhir-writeback-${VERSION}-setup.exe"
!endif
!ifndef PUBLISHER
  !define PUBLISHER "FHIR Write-back team"
!endif
!ifdef SIGN
  !finalize '${SIGN} "%1"' = 0
  !uninstfinalize '${SIGN} "%1"' = 0
!endif

!define APP_NAME "FHIR Write-back"
!define APP_ID "fhir-writeback"
!define APP_EXE "fhir-writeback.exe"
!define CLI_EXE "fhir-writeback-cli.exe"
!define UNINSTALLER "uninstall.exe"
!define UNINSTALL_HELPER "uninstall-helper.exe"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP_ID}"
!define MSI_KEY "Software\${APP_ID}" ; written by the MSI package (packaging/msi)
!define PROFILE_LIST "SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList"
!define SHORTCUT "${APP_NAME}.lnk"
!define ICON "resources/icons/fhir-writeback.ico"

!define EXIT_WRITE_FAILED 2
!define EXIT_INVALID 3
!define EXIT_NEWER_INSTALLED 4
!define EXIT_UNSUPPORTED 6
!define EXIT_OTHER_PACKAGE 7
!define EXIT_RETRY_LATER 1618
!define EXIT_SUCCESS_REBOOT 3010
!define EXIT_SITE_REFUSED 3 ; fhir-writeback-cli sites validate: the file is refused

!if /FileExists "${BUNDLE_DIR}\${APP_EXE}"
!else
  !error "No bundle at ${BUNDLE_DIR}\${APP_EXE}: build it first (packaging/build_bundle.sh on Windows) or pass /DBUNDLE_DIR="
!endif
!ifndef UNINSTALL_LAUNCHER
  !error "Pass /DUNINSTALL_LAUNCHER=uninstall.exe compiled from packaging/nsis/uninstall-launcher.nsi (packaging/build_installer.sh does both)"
!endif

!addincludedir "packaging/nsis" ; makensis works in the script's folder
!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "WordFunc.nsh"
!include "x64.nsh"
!include "pep440.nsh"
!include "helpers.nsh"

Name "${APP_NAME} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${APP_NAME}"
BrandingText "${APP_NAME} ${VERSION}"
ShowInstDetails show
ShowUninstDetails show

VIProductVersion "${VERSION_NUMERIC}"
VIAddVersionKey "ProductName" "${APP_NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "FileDescription" "${APP_NAME} installer"
VIAddVersionKey "LegalCopyright" "${PUBLISHER}"

Var SiteConfig      ; /SITECONFIG= source file (or the file written from /FHIRBASE=)
Var FhirBase        ; /FHIRBASE=
Var ClientId        ; /CLIENTID=
Var SiteName        ; /SITENAME=
Var SiteId          ; /SITEID=
Var WantDesktop     ; 1 with /DESKTOPSHORTCUT
Var AllowDowngrade  ; 1 with /ALLOWDOWNGRADE
Var CloseApp        ; 1 with /CLOSEAPP
Var AppClosed       ; 1 when /CLOSEAPP closed a running app
Var LogFile         ; /LOG=
Var LogWho          ; DOMAIN\user@COMPUTER, for the log
Var Purge           ; uninstaller: 1 with /PURGE
Var InstalledVersion
Var SiteConfigDir   ; C:\ProgramData\fhir-writeback (platformdirs site_config_dir)
; what Rollback undoes
Var StageDir        ; the bundle unpacked next to $INSTDIR
Var BackupDir       ; the previous program files, set aside
Var CreatedInstDir
Var SwappedIn
Var CreatedStartMenu
Var CreatedDesktop
Var WroteRegistry
Var OldEstimatedSize
Var OldInstallDate
Var OldVersionMajor
Var OldVersionMinor

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_NODESC
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

!insertmacro DEFINE_HELPERS "" "${APP_ID}-setup.log"
!insertmacro DEFINE_HELPERS "un." "${APP_ID}-uninstall.log"
!insertmacro PEP440_DEFINE ""

!macro LOG TEXT
  Push "${TEXT}"
  Call LogLine
!macroend
!define Log "!insertmacro LOG"
!macro UNLOG TEXT
  Push "${TEXT}"
  Call un.LogLine
!macroend
!define UnLog "!insertmacro UNLOG"
!macro FAIL CODE TEXT
  Push ${CODE}
  Push "${TEXT}"
  Call FailWith
!macroend
!define Fail "!insertmacro FAIL"

!include "install-steps.nsh"

; --- installer -----------------------------------------------------------------------------

Section "${APP_NAME} (required)" SEC_APP
  SectionIn RO
  ${If} $InstalledVersion == ""
    ${Log} "Installing ${APP_NAME} ${VERSION} in $INSTDIR."
  ${ElseIf} $InstalledVersion == "${VERSION}"
    ${Log} "Repairing ${APP_NAME} ${VERSION} in $INSTDIR (same version; per-user data is not touched)."
  ${Else}
    ${Log} "Upgrading ${APP_NAME} $InstalledVersion to ${VERSION} in $INSTDIR (per-user data is not touched)."
  ${EndIf}
  Call CloseOrRefuseIfRunning
  Call StageBundle
  Call ValidateSiteConfig
  Call SwapInProgramFiles

  ClearErrors
  WriteUninstaller "$INSTDIR\${UNINSTALL_HELPER}"
  SetOutPath "$INSTDIR"
  File "/oname=${UNINSTALLER}" "${UNINSTALL_LAUNCHER}"
  ${If} ${Errors}
    ${Fail} ${EXIT_WRITE_FAILED} "Could not write the uninstaller to $INSTDIR."
  ${EndIf}

  ${IfNot} ${FileExists} "$SMPROGRAMS\${SHORTCUT}"
    StrCpy $CreatedStartMenu 1
  ${EndIf}
  ClearErrors
  CreateShortCut "$SMPROGRAMS\${SHORTCUT}" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0
  ${If} ${Errors}
    ${Fail} ${EXIT_WRITE_FAILED} "Could not create the Start menu shortcut $SMPROGRAMS\${SHORTCUT}."
  ${EndIf}
  ${Log} "Start menu shortcut: $SMPROGRAMS\${SHORTCUT}"

  Call WriteUninstallEntry
SectionEnd

Section /o "Desktop shortcut (all users)" SEC_DESKTOP
  ${IfNot} ${FileExists} "$DESKTOP\${SHORTCUT}"
    StrCpy $CreatedDesktop 1
  ${EndIf}
  ClearErrors
  CreateShortCut "$DESKTOP\${SHORTCUT}" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0
  ${If} ${Errors}
    ${Fail} ${EXIT_WRITE_FAILED} "Could not create the desktop shortcut $DESKTOP\${SHORTCUT}."
  ${EndIf}
  ${Log} "Desktop shortcut: $DESKTOP\${SHORTCUT}"
SectionEnd

Section "-Finish"
  Call LockSiteConfigDir
  Call ProvisionSiteConfig
  Call DiscardBackup
  ${If} $AppClosed == 1
    ${Log} "Done: ${APP_NAME} ${VERSION} installed. It was closed for this (/CLOSEAPP): users start it again (exit code 3010)."
    SetErrorLevel ${EXIT_SUCCESS_REBOOT}
  ${Else}
    ${Log} "Done: ${APP_NAME} ${VERSION} installed."
  ${EndIf}
SectionEnd

Function .onInstFailed ; NSIS itself aborted (a file it could not write): undo, exit 2
  ${Log} "ERROR: the installation was aborted."
  Call Rollback
  SetErrorLevel ${EXIT_WRITE_FAILED}
FunctionEnd

Function ParseSwitches
  StrCpy $SiteName "EHR"
  StrCpy $SiteId "clinic"
  ${GetParameters} $R0
  StrCpy $R1 0
  ${Do}
    Call NextSwitch
    ${If} $R5 != ""
      ${Fail} ${EXIT_INVALID} "Invalid command line: $R5"
    ${EndIf}
    ${If} $R2 == ""
      ${ExitDo}
    ${EndIf}
    ${If} $R4 == 1
    ${AndIf} $R3 == ""
      ${Fail} ${EXIT_INVALID} "/$R2= needs a value."
    ${EndIf}
    ${If} $R2 == "SITECONFIG"
      StrCpy $SiteConfig $R3
    ${ElseIf} $R2 == "FHIRBASE"
      StrCpy $FhirBase $R3
    ${ElseIf} $R2 == "CLIENTID"
      StrCpy $ClientId $R3
    ${ElseIf} $R2 == "SITENAME"
      StrCpy $SiteName $R3
    ${ElseIf} $R2 == "SITEID"
      StrCpy $SiteId $R3
    ${ElseIf} $R2 == "LOG"
      Call UseLogFile
    ${ElseIf} $R2 == "DESKTOPSHORTCUT"
      StrCpy $WantDesktop 1
    ${ElseIf} $R2 == "ALLOWDOWNGRADE"
      StrCpy $AllowDowngrade 1
    ${ElseIf} $R2 == "CLOSEAPP"
      StrCpy $CloseApp 1
    ${ElseIf} $R2 == "NCRC"
    ${ElseIf} $R2 == "D"
    ${ElseIf} $R2 S== "S"
    ${Else}
      ${Fail} ${EXIT_INVALID} "Unknown switch /$R2. Known: /S /D= /DESKTOPSHORTCUT /SITECONFIG= /FHIRBASE= /CLIENTID= /SITENAME= /SITEID= /CLOSEAPP /LOG= /ALLOWDOWNGRADE (see docs/deployment.md)."
    ${EndIf}
  ${Loop}
  Call CheckSiteSwitches
FunctionEnd

Function .onInit
  SetShellVarContext all
  SetRegView 64 ; the x86 build writes where the 64-bit app is looked for
  StrCpy $SiteConfigDir "$APPDATA\${APP_ID}"  ; all users: C:\ProgramData\fhir-writeback
  Call ParseSwitches
  ${GetParameters} $0
  ${Log} "----- ${APP_NAME} ${VERSION} setup (${TARGET}), command line: $0"
  Call RequireAdminOn64Bit

  ReadRegStr $0 HKLM "${MSI_KEY}" "InstalledBy"
  ${If} $0 == "msi"
    ${Fail} ${EXIT_OTHER_PACKAGE} "${APP_NAME} is installed from the MSI package on this computer. Keep deploying the MSI, or uninstall it first (msiexec /x), then run this installer."
  ${EndIf}

  ReadRegStr $InstalledVersion HKLM "${UNINST_KEY}" "DisplayVersion"
  ${If} $InstalledVersion != ""
    ReadRegStr $0 HKLM "${UNINST_KEY}" "InstallLocation"
    ${If} $0 != ""
    ${AndIf} $0 != $INSTDIR
      ${Log} "Version $InstalledVersion is installed in $0: upgrading there in place (/D= ignored)."
      StrCpy $INSTDIR $0
    ${EndIf}
    Push $InstalledVersion
    Push "${VERSION}"
    Call Pep440Compare
    Pop $0
    ${If} $0 == 1
    ${AndIf} $AllowDowngrade != 1
      ${Fail} ${EXIT_NEWER_INSTALLED} "${APP_NAME} $InstalledVersion is installed, which is newer than ${VERSION}. Nothing was changed (use /ALLOWDOWNGRADE to install the older version anyway)."
    ${ElseIf} $0 == ""
      ${Log} "The installed version '$InstalledVersion' is not a PEP 440 version: replacing it."
    ${EndIf}
  ${EndIf}

  ${If} $WantDesktop == 1
    SectionSetFlags ${SEC_DESKTOP} ${SF_SELECTED}
  ${EndIf}
FunctionEnd

; --- uninstaller ---------------------------------------------------------------------------

Function un.onInit
  SetShellVarContext all
  SetRegView 64
  ${GetParameters} $R0
  StrCpy $R1 0
  ${Do}
    Call un.NextSwitch
    ${If} $R5 != ""
      Push ${EXIT_INVALID}
      Push "Invalid command line: $R5"
      Call un.FailWith
    ${EndIf}
    ${If} $R2 == ""
      ${ExitDo}
    ${ElseIf} $R2 == "PURGE"
      StrCpy $Purge 1
    ${ElseIf} $R2 == "CLOSEAPP"
      StrCpy $CloseApp 1
    ${ElseIf} $R2 == "LOG"
      Call un.UseLogFile
    ${ElseIf} $R2 S== "S"
    ${ElseIf} $R2 == "NCRC"
    ${Else}
      Push ${EXIT_INVALID}
      Push "Unknown switch /$R2. Known: /S /PURGE /CLOSEAPP /LOG= (see docs/deployment.md)."
      Call un.FailWith
    ${EndIf}
  ${Loop}
  ${GetParameters} $0
  ${UnLog} "----- ${APP_NAME} ${VERSION} uninstall from $INSTDIR, command line: $0"
  Call un.RequireAdminOn64Bit
FunctionEnd

Section "Uninstall"
  Call un.CloseOrRefuseIfRunning
  ${UnLog} "Removing ${APP_NAME} from $INSTDIR"
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\${CLI_EXE}"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\${UNINSTALL_HELPER}"
  Delete "$SMPROGRAMS\${SHORTCUT}"
  Delete "$DESKTOP\${SHORTCUT}"

  ReadRegStr $0 HKLM "${UNINST_KEY}" "SiteConfigDir"
  ${If} $0 == ""
    StrCpy $0 "$APPDATA\${APP_ID}"
  ${EndIf}
  Delete "$0\sites.toml"
  Delete "$0\sites.toml.bak"
  RMDir "$0"
  ${UnLog} "Per-machine site configuration removed from $0 (other files there, such as CA bundles, are kept)."
  DeleteRegKey HKLM "${UNINST_KEY}"

  ${If} $Purge == 1
    Call un.PurgeUserData
  ${Else}
    ${UnLog} "Per-user data was kept: each user's drafts, unsent notes (outbox) and logs in %LOCALAPPDATA%\${APP_ID}, and sign-in tokens in Windows Credential Manager. To delete them as well, run the uninstaller with /PURGE."
    MessageBox MB_ICONINFORMATION "${APP_NAME} was removed.$\r$\n$\r$\nEach user's drafts, unsent notes and logs were kept in %LOCALAPPDATA%\${APP_ID}, so a reinstall picks up where they left off. To delete them as well, run the uninstaller with /PURGE." /SD IDOK
  ${EndIf}

  Call un.RemoveLauncher
  RMDir "$INSTDIR" ; only when empty: never delete files the installer did not put there
  ${If} ${RebootFlag}
    ${UnLog} "Done: ${APP_NAME} removed; $INSTDIR goes at the next restart (exit code 3010)."
    SetErrorLevel ${EXIT_SUCCESS_REBOOT}
  ${Else}
    ${UnLog} "Done: ${APP_NAME} removed."
  ${EndIf}
SectionEnd
