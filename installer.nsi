; FHIR Write-back: Windows installer (NSIS 3, 64-bit, per-machine).
;
; Build (packaging/build_installer.sh does this, reading the version from pyproject.toml):
;   makensis /DVERSION=0.1.0 [/DVERSION_NUMERIC=0.1.0.0] [/DBUNDLE_DIR=dist\fhir-writeback]
;            [/DOUTFILE=dist\fhir-writeback-0.1.0-setup.exe] installer.nsi
; BUNDLE_DIR is the PyInstaller one-folder bundle (fhir-writeback.exe, fhir-writeback-cli.exe,
; _internal\). On Linux the checks compile against a stand-in folder of the same shape.
;
; Switches (docs/deployment.md is the reference for clinic IT):
;   /S                      silent
;   /D=C:\path              install folder (must be last; no quotes). Ignored on upgrade:
;                           an upgrade always goes into the folder already installed.
;   /DESKTOPSHORTCUT        also put a shortcut on the all-users desktop
;   /SITECONFIG=path        copy this sites.toml to C:\ProgramData\fhir-writeback\sites.toml
;   /FHIRBASE=url /CLIENTID=id [/SITENAME=name] [/SITEID=id]
;                           write that sites.toml with one site (instead of /SITECONFIG):
;                           [sites.<SITEID, default "clinic">] display_name (SITENAME, default
;                           "EHR"), fhir_base, client_id; format: app/smart/sites.py, docs/sign-in.md
;   /ALLOWDOWNGRADE         install over a newer version
; Uninstaller (uninstall.exe in the install folder):
;   /S                      silent
;   /PURGE                  also delete every user's data (drafts, unsent notes, logs)
;
; Exit codes: 0 done; 1 cancelled; 2 aborted; 3 invalid switch or value; 4 a newer version is
; installed; 5 FHIR Write-back is running; 6 needs 64-bit Windows and administrator rights.
; What happened is also written to %TEMP%\fhir-writeback-setup.log (and -uninstall.log).
;
; Per-user data (drafts, outbox, logs in %LOCALAPPDATA%\fhir-writeback; tokens in the user's
; Windows Credential Manager) is never touched by install or upgrade, and only removed by an
; uninstall with /PURGE. Folder names follow platformdirs with appauthor=False (app/paths.py).
; No custom URL scheme is registered: sign-in uses a loopback redirect to 127.0.0.1 (RFC 8252).

Unicode true
Target amd64-unicode
ManifestDPIAware true
RequestExecutionLevel admin
SetCompressor /SOLID lzma

!ifndef VERSION
  !error "Pass the version: makensis /DVERSION=x.y.z installer.nsi (packaging/build_installer.sh reads it from pyproject.toml)"
!endif
!ifndef VERSION_NUMERIC
  !define VERSION_NUMERIC "${VERSION}.0"
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

!define APP_NAME "FHIR Write-back"
!define APP_ID "fhir-writeback"
!define APP_EXE "fhir-writeback.exe"
!define CLI_EXE "fhir-writeback-cli.exe"
!define UNINSTALLER "uninstall.exe"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP_ID}"
!define PROFILE_LIST "SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList"
!define SHORTCUT "${APP_NAME}.lnk"

!define EXIT_INVALID 3
!define EXIT_NEWER_INSTALLED 4
!define EXIT_RUNNING 5
!define EXIT_UNSUPPORTED 6

!if /FileExists "${BUNDLE_DIR}\${APP_EXE}"
!else
  !error "No bundle at ${BUNDLE_DIR}\${APP_EXE}: build it first (packaging/build_bundle.sh on Windows) or pass /DBUNDLE_DIR="
!endif

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "WordFunc.nsh"
!include "x64.nsh"

Name "${APP_NAME} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${APP_NAME}"
InstallDirRegKey HKLM "${UNINST_KEY}" "InstallLocation"
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

Var SiteConfig      ; /SITECONFIG= source file
Var FhirBase        ; /FHIRBASE=
Var ClientId        ; /CLIENTID=
Var SiteName        ; /SITENAME=
Var SiteId          ; /SITEID=
Var WantDesktop     ; 1 with /DESKTOPSHORTCUT
Var AllowDowngrade  ; 1 with /ALLOWDOWNGRADE
Var Purge           ; uninstaller: 1 with /PURGE
Var InstalledVersion
Var SiteConfigDir   ; C:\ProgramData\fhir-writeback (platformdirs site_config_dir)

!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_NODESC
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; --- helpers shared by installer and uninstaller ------------------------------------------

!macro DEFINE_HELPERS PREFIX LOGNAME
; Push a line; it goes to the details view and to %TEMP%\<LOGNAME>.
Function ${PREFIX}LogLine
  Exch $0
  Push $1
  DetailPrint "$0"
  ClearErrors
  FileOpen $1 "$TEMP\${LOGNAME}" a
  ${IfNot} ${Errors}
    FileSeek $1 0 END
    FileWrite $1 "$0$\r$\n"
    FileClose $1
  ${EndIf}
  ClearErrors
  Pop $1
  Pop $0
FunctionEnd

; Command-line tokenizer. In: $R0 parameters, $R1 position. Out: $R2 switch name without "/"
; ("" at the end), $R3 value, $R4 1 when "=" was given, $R5 a problem ("" when none).
; A value ends at the next space unless it is quoted: /SITECONFIG="C:\IT files\sites.toml" or
; "/SITECONFIG=C:\IT files\sites.toml" (what PowerShell and most tools pass). URLs need no
; quotes. /D= takes the rest of the line, as NSIS itself does.
Function ${PREFIX}NextSwitch
  StrCpy $R2 ""
  StrCpy $R3 ""
  StrCpy $R4 0
  StrCpy $R5 ""
  StrCpy $R6 0 ; 1 when the whole switch is inside quotes
  StrLen $0 $R0
  skip_spaces:
    IntCmp $R1 $0 done 0 done
    StrCpy $1 $R0 1 $R1
    StrCmp $1 " " 0 +3
    IntOp $R1 $R1 + 1
    Goto skip_spaces
  StrCmp $1 '"' 0 no_outer_quote
    StrCpy $R6 1
    IntOp $R1 $R1 + 1
    StrCpy $1 $R0 1 $R1
  no_outer_quote:
  StrCmp $1 "/" name_start
  StrCpy $2 $R0 3 $R1
  StrCmp $2 "_?=" end_of_line ; the uninstaller's own last argument
  StrCpy $2 $R0 "" $R1
  StrCpy $R5 "unexpected argument: $2 (switches start with /)"
  Goto end_of_line
  name_start:
    IntOp $R1 $R1 + 1
  name_loop:
    IntCmp $R1 $0 done 0 done
    StrCpy $1 $R0 1 $R1
    StrCmp $1 " " done
    StrCmp $1 '"' closing_quote
    StrCmp $1 "=" value_start
    StrCpy $R2 "$R2$1"
    IntOp $R1 $R1 + 1
    Goto name_loop
  closing_quote:
    IntOp $R1 $R1 + 1
    Goto done
  value_start:
    StrCpy $R4 1
    IntOp $R1 $R1 + 1
    StrCmpS $R2 "D" 0 not_install_dir
    StrCpy $R3 $R0 "" $R1
    Goto end_of_line
  not_install_dir:
    StrCmp $R6 1 quoted_loop
    StrCpy $1 $R0 1 $R1
    StrCmp $1 '"' 0 unquoted_loop
    IntOp $R1 $R1 + 1
    Goto quoted_loop
  unquoted_loop:
    IntCmp $R1 $0 done 0 done
    StrCpy $1 $R0 1 $R1
    StrCmp $1 " " done
    StrCpy $R3 "$R3$1"
    IntOp $R1 $R1 + 1
    Goto unquoted_loop
  quoted_loop:
    IntCmp $R1 $0 unterminated 0 unterminated
    StrCpy $1 $R0 1 $R1
    IntOp $R1 $R1 + 1
    StrCmp $1 '"' done
    StrCpy $R3 "$R3$1"
    Goto quoted_loop
  unterminated:
    StrCpy $R5 "missing closing quote after /$R2="
  end_of_line:
    StrCpy $R1 $0
  done:
FunctionEnd

; Exit with code $0 (pushed second) and message (pushed first) after logging it. The message
; box is shown only when the installer is interactive.
Function ${PREFIX}FailWith
  Exch $0   ; message
  Exch
  Exch $1   ; exit code
  Push "ERROR: $0"
  Call ${PREFIX}LogLine
  MessageBox MB_ICONSTOP "$0" /SD IDOK
  SetErrorLevel $1
  Quit
FunctionEnd

; Fails (exit 5) when the program file in $0 is in use: a running .exe cannot be opened for
; writing (renaming would succeed, so it is no test).
Function ${PREFIX}RefuseIfInUse
  ${If} ${FileExists} "$0"
    ClearErrors
    FileOpen $1 "$0" a
    ${If} ${Errors}
      Push ${EXIT_RUNNING}
      Push "${APP_NAME} is running on this computer ($0 is in use). Ask every user to close it (unsent notes stay safe in the outbox), then run this again."
      Call ${PREFIX}FailWith
    ${EndIf}
    FileClose $1
  ${EndIf}
FunctionEnd

Function ${PREFIX}RefuseIfRunning
  StrCpy $0 "$INSTDIR\${APP_EXE}"
  Call ${PREFIX}RefuseIfInUse
  StrCpy $0 "$INSTDIR\${CLI_EXE}"
  Call ${PREFIX}RefuseIfInUse
FunctionEnd

Function ${PREFIX}RequireAdminOn64Bit
  ${IfNot} ${RunningX64}
    Push ${EXIT_UNSUPPORTED}
    Push "${APP_NAME} needs 64-bit Windows."
    Call ${PREFIX}FailWith
  ${EndIf}
  UserInfo::GetAccountType
  Pop $0
  ${If} $0 != "Admin"
    Push ${EXIT_UNSUPPORTED}
    Push "Installing or removing ${APP_NAME} needs administrator rights (account type: $0). Run it from an elevated prompt or your deployment tool."
    Call ${PREFIX}FailWith
  ${EndIf}
FunctionEnd
!macroend

!insertmacro DEFINE_HELPERS "" "${APP_ID}-setup.log"
!insertmacro DEFINE_HELPERS "un." "${APP_ID}-uninstall.log"

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

; Escapes $0 for a TOML basic string (backslash and quote); result in $0.
Function TomlEscape
  Push $1
  Push $2
  Push $3
  StrCpy $2 ""
  StrCpy $3 0
  loop:
    StrCpy $1 $0 1 $3
    StrCmp $1 "" done
    StrCmp $1 "\" 0 +2
    StrCpy $1 "\\"
    StrCmp $1 '"' 0 +2
    StrCpy $1 '\"'
    StrCpy $2 "$2$1"
    IntOp $3 $3 + 1
    Goto loop
  done:
  StrCpy $0 $2
  Pop $3
  Pop $2
  Pop $1
FunctionEnd

; Checks the site id in $0 as app/smart/sites.py does: 1-64 letters, digits, '.', '_', '-',
; starting with a letter or digit. $1: "" when valid, else the problem.
Function CheckSiteId
  Push $2
  Push $3
  Push $4
  Push $5
  StrCpy $1 ""
  StrLen $2 $0
  ${If} $2 < 1
  ${OrIf} $2 > 64
    StrCpy $1 "a site id has 1 to 64 characters"
    Goto done
  ${EndIf}
  StrCpy $3 0
  next_char:
    StrCpy $4 $0 1 $3
    StrCmp $4 "" done
    StrCpy $5 0
    next_allowed:
      StrCpy $2 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-" 1 $5
      StrCmp $2 "" not_allowed
      StrCmp $2 $4 allowed
      IntOp $5 $5 + 1
      Goto next_allowed
    allowed:
    ${If} $3 == 0
    ${AndIf} $5 >= 62
      StrCpy $1 "a site id starts with a letter or a digit"
      Goto done
    ${EndIf}
    IntOp $3 $3 + 1
    Goto next_char
  not_allowed:
    StrCpy $1 "a site id may only use letters, digits, '.', '_' and '-' (not '$4')"
  done:
  Pop $5
  Pop $4
  Pop $3
  Pop $2
FunctionEnd

; --- installer -----------------------------------------------------------------------------

Section "${APP_NAME} (required)" SEC_APP
  SectionIn RO
  ${If} $InstalledVersion != ""
    ${Log} "Upgrading ${APP_NAME} $InstalledVersion to ${VERSION} in $INSTDIR (per-user data is not touched)."
  ${Else}
    ${Log} "Installing ${APP_NAME} ${VERSION} in $INSTDIR."
  ${EndIf}
  Call RefuseIfRunning

  ; The previous version's program files go first, so no stale module outlives an upgrade.
  ; Only what the installer put there is removed; the install folder holds no user data.
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\${CLI_EXE}"
  RMDir /r "$INSTDIR\_internal"

  SetOutPath "$INSTDIR"
  File /r "${BUNDLE_DIR}\*.*"
  WriteUninstaller "$INSTDIR\${UNINSTALLER}"

  CreateShortCut "$SMPROGRAMS\${SHORTCUT}" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0
  ${Log} "Start menu shortcut: $SMPROGRAMS\${SHORTCUT}"

  Call ProvisionSiteConfig

  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\${UNINSTALLER}"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\${UNINSTALLER}" /S'
  WriteRegStr HKLM "${UNINST_KEY}" "SiteConfigDir" "$SiteConfigDir"
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKLM "${UNINST_KEY}" "EstimatedSize" $0
  ${Log} "Add/Remove Programs entry written (HKLM\${UNINST_KEY}, $0 KB)."
SectionEnd

Section /o "Desktop shortcut (all users)" SEC_DESKTOP
  CreateShortCut "$DESKTOP\${SHORTCUT}" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0
  ${Log} "Desktop shortcut: $DESKTOP\${SHORTCUT}"
SectionEnd

Section "-Finish"
  ${Log} "Done: ${APP_NAME} ${VERSION} installed."
SectionEnd

; /SITECONFIG= copies a file; /FHIRBASE= /CLIENTID= write one; neither keeps what is there.
Function ProvisionSiteConfig
  ${If} $SiteConfig == ""
  ${AndIf} $FhirBase == ""
    ${If} ${FileExists} "$SiteConfigDir\sites.toml"
      ${Log} "Site configuration kept: $SiteConfigDir\sites.toml"
    ${Else}
      ${Log} "No site configuration given: the app will offer the embedded sandbox EHR until one is provided."
    ${EndIf}
    Return
  ${EndIf}
  CreateDirectory "$SiteConfigDir"
  ${If} ${FileExists} "$SiteConfigDir\sites.toml"
    Delete "$SiteConfigDir\sites.toml.bak"
    Rename "$SiteConfigDir\sites.toml" "$SiteConfigDir\sites.toml.bak"
    ${Log} "Previous site configuration saved as $SiteConfigDir\sites.toml.bak"
  ${EndIf}
  ClearErrors
  ${If} $SiteConfig != ""
    CopyFiles /SILENT "$SiteConfig" "$SiteConfigDir\sites.toml"
    ${If} ${Errors}
      ${Fail} 2 "Could not copy $SiteConfig to $SiteConfigDir\sites.toml."
    ${EndIf}
    ${Log} "Site configuration provisioned from $SiteConfig to $SiteConfigDir\sites.toml"
  ${Else}
    FileOpen $3 "$SiteConfigDir\sites.toml" w
    ${If} ${Errors}
      ${Fail} 2 "Could not write $SiteConfigDir\sites.toml."
    ${EndIf}
    FileWrite $3 "# Written by the ${APP_NAME} ${VERSION} installer from /FHIRBASE= and /CLIENTID=.$\r$\n"
    FileWrite $3 "# Reference: docs/deployment.md and docs/sign-in.md. Users' own additions go in$\r$\n"
    FileWrite $3 "# %LOCALAPPDATA%\${APP_ID}\sites.toml, not here.$\r$\n$\r$\n"
    FileWrite $3 'default_site = "$SiteId"$\r$\n$\r$\n'
    FileWrite $3 `[sites."$SiteId"]$\r$\n` ; quoted: a "." in a bare key would split it
    StrCpy $0 $SiteName
    Call TomlEscape
    FileWrite $3 'display_name = "$0"$\r$\n'
    StrCpy $0 $FhirBase
    Call TomlEscape
    FileWrite $3 'fhir_base = "$0"$\r$\n'
    StrCpy $0 $ClientId
    Call TomlEscape
    FileWrite $3 'client_id = "$0"$\r$\n'
    FileClose $3
    ${Log} "Site configuration written to $SiteConfigDir\sites.toml (site $SiteId, fhir_base $FhirBase, client_id $ClientId)."
  ${EndIf}
FunctionEnd

Function ParseSwitches
  StrCpy $SiteConfig ""
  StrCpy $FhirBase ""
  StrCpy $ClientId ""
  StrCpy $SiteName "EHR"
  StrCpy $SiteId "clinic"
  StrCpy $WantDesktop 0
  StrCpy $AllowDowngrade 0
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
    ${ElseIf} $R2 == "DESKTOPSHORTCUT"
      StrCpy $WantDesktop 1
    ${ElseIf} $R2 == "ALLOWDOWNGRADE"
      StrCpy $AllowDowngrade 1
    ${ElseIf} $R2 == "NCRC"
    ${ElseIf} $R2 == "D"
    ${ElseIf} $R2 S== "S"
    ${Else}
      ${Fail} ${EXIT_INVALID} "Unknown switch /$R2. Known: /S /D= /DESKTOPSHORTCUT /SITECONFIG= /FHIRBASE= /CLIENTID= /SITENAME= /SITEID= /ALLOWDOWNGRADE (see docs/deployment.md)."
    ${EndIf}
    ${If} $R4 == 1
    ${AndIf} $R3 == ""
      ${Fail} ${EXIT_INVALID} "/$R2= needs a value."
    ${EndIf}
  ${Loop}

  ${If} $SiteConfig != ""
    ${If} $FhirBase != ""
    ${OrIf} $ClientId != ""
      ${Fail} ${EXIT_INVALID} "Use either /SITECONFIG= or /FHIRBASE= with /CLIENTID=, not both."
    ${EndIf}
    ${IfNot} ${FileExists} "$SiteConfig"
      ${Fail} ${EXIT_INVALID} "/SITECONFIG=$SiteConfig: file not found (give a full path; quote it if it has spaces)."
    ${EndIf}
  ${ElseIf} $FhirBase != ""
  ${OrIf} $ClientId != ""
    ${If} $FhirBase == ""
    ${OrIf} $ClientId == ""
      ${Fail} ${EXIT_INVALID} "/FHIRBASE= and /CLIENTID= go together: give both."
    ${EndIf}
    StrCpy $0 $FhirBase 8
    StrCpy $1 $FhirBase 17
    StrCpy $2 $FhirBase 17
    ${If} $0 != "https://"
    ${AndIf} $1 != "http://127.0.0.1:"
    ${AndIf} $2 != "http://localhost:"
      ${Fail} ${EXIT_INVALID} "/FHIRBASE=$FhirBase must start with https:// (TLS is required; plain http only for 127.0.0.1 or localhost)."
    ${EndIf}
    StrCpy $0 $SiteId
    Call CheckSiteId
    ${If} $1 != ""
      ${Fail} ${EXIT_INVALID} "/SITEID=$SiteId: $1"
    ${EndIf}
  ${EndIf}
FunctionEnd

Function .onInit
  SetShellVarContext all
  StrCpy $SiteConfigDir "$APPDATA\${APP_ID}"  ; all users: C:\ProgramData\fhir-writeback
  Push "----- ${APP_NAME} ${VERSION} setup"
  Call LogLine
  Call RequireAdminOn64Bit
  Call ParseSwitches

  ReadRegStr $InstalledVersion HKLM "${UNINST_KEY}" "DisplayVersion"
  ${If} $InstalledVersion != ""
    ReadRegStr $0 HKLM "${UNINST_KEY}" "InstallLocation"
    ${If} $0 != ""
    ${AndIf} $0 != $INSTDIR
      ${Log} "Version $InstalledVersion is installed in $0: upgrading there in place (/D= ignored)."
      StrCpy $INSTDIR $0
    ${EndIf}
    ${VersionCompare} "$InstalledVersion" "${VERSION}" $0
    ${If} $0 == 1
    ${AndIf} $AllowDowngrade != 1
      ${Fail} ${EXIT_NEWER_INSTALLED} "${APP_NAME} $InstalledVersion is installed, which is newer than ${VERSION}. Nothing was changed (use /ALLOWDOWNGRADE to install the older version anyway)."
    ${EndIf}
  ${EndIf}

  ${If} $WantDesktop == 1
    SectionSetFlags ${SEC_DESKTOP} ${SF_SELECTED}
  ${EndIf}
FunctionEnd

; --- uninstaller ---------------------------------------------------------------------------

Function un.onInit
  SetShellVarContext all
  Push "----- ${APP_NAME} ${VERSION} uninstall"
  Call un.LogLine
  Call un.RequireAdminOn64Bit
  StrCpy $Purge 0
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
    ${ElseIf} $R2 S== "S"
    ${ElseIf} $R2 == "NCRC"
    ${Else}
      Push ${EXIT_INVALID}
      Push "Unknown switch /$R2. Known: /S /PURGE (see docs/deployment.md)."
      Call un.FailWith
    ${EndIf}
  ${Loop}
FunctionEnd

; Deletes one user's per-user folders. In: $0 the user's profile folder.
Function un.PurgeProfile
  ${If} ${FileExists} "$0\AppData\Local\${APP_ID}\*.*"
    RMDir /r "$0\AppData\Local\${APP_ID}"
    ${UnLog} "Deleted $0\AppData\Local\${APP_ID}"
  ${EndIf}
  ${If} ${FileExists} "$0\AppData\Roaming\${APP_ID}\*.*"
    RMDir /r "$0\AppData\Roaming\${APP_ID}"
    ${UnLog} "Deleted $0\AppData\Roaming\${APP_ID}"
  ${EndIf}
FunctionEnd

Function un.PurgeUserData
  ; Every profile known to Windows, then the account running this (in case it has none there).
  StrCpy $2 0
  ${Do}
    EnumRegKey $1 HKLM "${PROFILE_LIST}" $2
    ${If} $1 == ""
      ${ExitDo}
    ${EndIf}
    ReadRegStr $0 HKLM "${PROFILE_LIST}\$1" "ProfileImagePath"
    ExpandEnvStrings $0 $0
    ${If} $0 != ""
      Call un.PurgeProfile
    ${EndIf}
    IntOp $2 $2 + 1
  ${Loop}
  SetShellVarContext current
  ${If} ${FileExists} "$LOCALAPPDATA\${APP_ID}\*.*"
    RMDir /r "$LOCALAPPDATA\${APP_ID}"
    ${UnLog} "Deleted $LOCALAPPDATA\${APP_ID}"
  ${EndIf}
  ${If} ${FileExists} "$APPDATA\${APP_ID}\*.*"
    RMDir /r "$APPDATA\${APP_ID}"
    ${UnLog} "Deleted $APPDATA\${APP_ID}"
  ${EndIf}
  SetShellVarContext all
  ${UnLog} "Per-user data purged. Sign-in tokens in users' Windows Credential Manager are not removed by the uninstaller (see docs/deployment.md)."
FunctionEnd

Section "Uninstall"
  Call un.RefuseIfRunning
  ${UnLog} "Removing ${APP_NAME} from $INSTDIR"
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\${CLI_EXE}"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\${UNINSTALLER}"
  RMDir "$INSTDIR" ; only when empty: never delete files the installer did not put there
  Delete "$SMPROGRAMS\${SHORTCUT}"
  Delete "$DESKTOP\${SHORTCUT}"

  ReadRegStr $0 HKLM "${UNINST_KEY}" "SiteConfigDir"
  ${If} $0 == ""
    StrCpy $0 "$APPDATA\${APP_ID}"
  ${EndIf}
  Delete "$0\sites.toml"
  Delete "$0\sites.toml.bak"
  RMDir "$0"
  ${UnLog} "Per-machine site configuration removed from $0"
  DeleteRegKey HKLM "${UNINST_KEY}"

  ${If} $Purge == 1
    Call un.PurgeUserData
  ${Else}
    ${UnLog} "Per-user data was kept: each user's drafts, unsent notes (outbox) and logs in %LOCALAPPDATA%\${APP_ID}, and sign-in tokens in Windows Credential Manager. To delete them as well, run the uninstaller with /PURGE."
    MessageBox MB_ICONINFORMATION "${APP_NAME} was removed.$\r$\n$\r$\nEach user's drafts, unsent notes and logs were kept in %LOCALAPPDATA%\${APP_ID}, so a reinstall picks up where they left off. To delete them as well, run the uninstaller with /PURGE." /SD IDOK
  ${EndIf}
  ${UnLog} "Done: ${APP_NAME} removed."
SectionEnd
