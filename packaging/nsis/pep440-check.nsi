; Test harness for pep440.nsh, run under wine by packaging/test_wine.sh: reads pairs of
; versions ("A B" per line) from /IN=file and writes "A B result" lines to /OUT=file, the
; result being what Pep440Compare says (0 equal, 1 A newer, 2 B newer, "" not comparable).
;   makensis -DOUTFILE=pep440-check.exe packaging/nsis/pep440-check.nsi
Unicode true
Target amd64-unicode
RequestExecutionLevel user
SilentInstall silent
!ifndef OUTFILE
  !define OUTFILE "pep440-check.exe"
!endif
OutFile "${OUTFILE}"
Name "pep440 check"
!include "FileFunc.nsh"
!include "pep440.nsh"
!insertmacro PEP440_DEFINE ""

Section
  ${GetParameters} $R0
  ${GetOptions} $R0 "/IN=" $R1
  ${GetOptions} $R0 "/OUT=" $R2
  FileOpen $R3 $R1 r
  FileOpen $R4 $R2 w
  ${Do}
    ClearErrors
    FileRead $R3 $R5
    ${If} ${Errors}
      ${ExitDo}
    ${EndIf}
    ${WordFind} $R5 " " "+1" $R6
    ${WordFind} $R5 " " "+2" $R7
    ${WordFind} $R7 "$\r" "+1" $R7
    ${WordFind} $R7 "$\n" "+1" $R7
    Push $R6
    Push $R7
    Call Pep440Compare
    Pop $R8
    FileWrite $R4 "$R6 $R7 $R8$\r$\n"
  ${Loop}
  FileClose $R3
  FileClose $R4
SectionEnd
