; Stand-in for fhir-writeback.exe and fhir-writeback-cli.exe, used only to test installer.nsi
; and the MSI on Linux (makensis, wixl + wine), where the real Windows bundle cannot be built
; (PyInstaller does not cross-compile). A real 64-bit Windows program that shows nothing:
;   /SLEEP=ms          stays running that long (the installers must refuse or close it)
;   /READY=C:\path     first writes that file, so a test knows it is running
;   sites ...          the real command: handed to packaging/standin/bridge.sh, which runs
;                      `python -m app sites ...` from the project's .venv on the Linux side
;                      (wine starts Unix programs but does not wait for them, so this waits
;                      for the bridge's answer file), then prints its output on standard
;                      output and exits with its code, as fhir-writeback-cli.exe would.
;   makensis -DOUTFILE=path\fhir-writeback.exe [-DBRIDGE=Z:\...\bridge.sh] packaging/standin/standin-app.nsi
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
  StrCpy $1 $0 6
  ${If} $1 == "sites "
    Call Bridge
    Return
  ${EndIf}
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

; $0: the command line. Prints the bridge's output to standard output; exits with its code.
Function Bridge
  System::Call 'kernel32::GetStdHandle(i -11) p .r5'
  !ifndef BRIDGE
    FileWrite $5 "stand-in built without -DBRIDGE: cannot run 'sites'$\r$\n"
    SetErrorLevel 1
    Return
  !else
    System::Call 'kernel32::GetTickCount() i .r2'
    System::Call 'kernel32::GetCurrentProcessId() i .r3'
    StrCpy $4 "$TEMP\fhir-writeback-standin-$3-$2"
    CreateDirectory $4
    Exec '"${BRIDGE}" "$4" $0'
    StrCpy $6 0
    ${DoUntil} ${FileExists} "$4\rc.txt"
      ${If} $6 > 1200 ; 2 minutes
        FileWrite $5 "stand-in: no answer from ${BRIDGE}$\r$\n"
        SetErrorLevel 1
        Return
      ${EndIf}
      Sleep 100
      IntOp $6 $6 + 1
    ${Loop}
    FileOpen $7 "$4\out.txt" r
    ${Do}
      ClearErrors
      FileRead $7 $8
      ${IfThen} ${Errors} ${|} ${ExitDo} ${|}
      FileWrite $5 $8
    ${Loop}
    FileClose $7
    FileOpen $7 "$4\rc.txt" r
    FileRead $7 $8
    FileClose $7
    IntOp $8 $8 + 0
    RMDir /r $4
    SetErrorLevel $8
  !endif
FunctionEnd
