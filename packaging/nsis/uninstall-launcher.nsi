; uninstall.exe: starts the real uninstaller and returns its exit code when it is done.
;
; An NSIS uninstaller started without "_?=" copies itself to %TEMP%, starts the copy and exits
; at once with 0, so a deployment tool sees success before anything was removed and never
; learns a failure. This launcher does that copy itself and waits for it: it copies
; uninstall-helper.exe (the uninstaller installer.nsi writes) to a private temporary folder,
; runs it there with the same switches plus "_?=<install folder>", waits, and exits with its
; code. The helper removes the install folder; it moves this running launcher out of the way
; (to %TEMP%, deleted at the next restart) because Windows cannot delete a running program.
;
; Compiled by packaging/build_installer.sh before installer.nsi, which packs it:
;   makensis -DOUTFILE=... -DVERSION=... -DVERSION_NUMERIC=... [-DTARGET=...] [-DSIGN=...]
;            packaging/nsis/uninstall-launcher.nsi
Unicode true
!ifndef TARGET
  !define TARGET amd64-unicode
!endif
Target ${TARGET}
ManifestDPIAware true
RequestExecutionLevel admin
SilentInstall silent
AutoCloseWindow true
SetCompressor /SOLID lzma

!ifndef OUTFILE
  !error "Pass -DOUTFILE=path\uninstall.exe"
!endif
!ifndef VERSION
  !error "Pass -DVERSION="
!endif
!ifndef VERSION_NUMERIC
  !define VERSION_NUMERIC "0.0.0.0"
!endif
!ifndef PUBLISHER
  !define PUBLISHER "FHIR Write-back team"
!endif
!ifdef SIGN
  !finalize '${SIGN} "%1"' = 0
!endif

!define APP_NAME "FHIR Write-back"
!define HELPER "uninstall-helper.exe"
!define LOGNAME "fhir-writeback-uninstall.log"
!define EXIT_WRITE_FAILED 2

Name "${APP_NAME} uninstall"
OutFile "${OUTFILE}"
Icon "../../resources/icons/fhir-writeback.ico"
VIProductVersion "${VERSION_NUMERIC}"
VIAddVersionKey "ProductName" "${APP_NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "FileDescription" "${APP_NAME} uninstaller"
VIAddVersionKey "LegalCopyright" "${PUBLISHER}"

!include "FileFunc.nsh"
!include "LogicLib.nsh"

; The launcher cannot use the helpers' log (it is not the uninstaller); one line is enough.
Function Fail
  Exch $0
  FileOpen $1 "$TEMP\${LOGNAME}" a
  FileSeek $1 0 END
  FileWrite $1 "ERROR: $0 Exit code ${EXIT_WRITE_FAILED}.$\r$\n"
  FileClose $1
  SetErrorLevel ${EXIT_WRITE_FAILED}
  Quit
FunctionEnd

Section
  ${GetParameters} $0
  ${IfNot} ${FileExists} "$EXEDIR\${HELPER}"
    Push "$EXEDIR\${HELPER} is missing: reinstall ${APP_NAME}, then uninstall it."
    Call Fail
  ${EndIf}
  InitPluginsDir
  ClearErrors
  CopyFiles /SILENT "$EXEDIR\${HELPER}" "$PLUGINSDIR\${HELPER}"
  ${If} ${Errors}
    Push "Could not copy $EXEDIR\${HELPER} to $PLUGINSDIR."
    Call Fail
  ${EndIf}
  ClearErrors
  ExecWait '"$PLUGINSDIR\${HELPER}" $0 _?=$EXEDIR' $1
  ${If} ${Errors}
    Push "Could not start $PLUGINSDIR\${HELPER}."
    Call Fail
  ${EndIf}
  SetErrorLevel $1
SectionEnd
