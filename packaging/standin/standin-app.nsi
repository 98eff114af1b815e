; Stand-in for fhir-writeback.exe, used only to test installer.nsi on Linux (makensis + wine),
; where the real Windows bundle cannot be built (PyInstaller does not cross-compile).
; A real 64-bit Windows program that shows nothing: run with /SLEEP=ms it stays running that
; long (to test that the installer refuses to replace a running app), else it exits at once;
; with /READY=C:\path it first writes that file, so a test knows it is running.
;   makensis /DOUTFILE=path\fhir-writeback.exe packaging/standin/standin-app.nsi
Unicode true
Target amd64-unicode
RequestExecutionLevel user
SilentInstall silent
AutoCloseWindow true
!ifndef OUTFILE
  !define OUTFILE "fhir-writeback.exe"
!endif
OutFile "${OUTFILE}"
Name "fhir-writeback stand-in"
!include "FileFunc.nsh"
!include "LogicLib.nsh"

Section
  ${GetParameters} $0
  ClearErrors
  ${GetOptions} $0 "/READY=" $1
  ${IfNot} ${Errors}
    FileOpen $2 $1 w
    FileWrite $2 "running"
    FileClose $2
  ${EndIf}
  ClearErrors
  ${GetOptions} $0 "/SLEEP=" $1
  ${IfNot} ${Errors}
    Sleep $1
  ${EndIf}
SectionEnd
