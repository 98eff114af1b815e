; PEP 440 version comparison for installer.nsi (NSIS has only ${VersionCompare}, which ranks
; "0.2.0rc1" above "0.2.0").
;
;   Push "0.2.0rc1"
;   Push "0.2.0"
;   Call Pep440Compare
;   Pop $0        ; 0 equal, 1 the first is newer, 2 the second is newer, "" not comparable
;
; Understands the canonical forms packaging/build_installer.sh accepts (it refuses others):
; N(.N)* with up to 4 numbers, then optionally aN|bN|rcN, then .postN, then .devN. Order as in
; PEP 440 (packaging.version): 1.0.dev1 < 1.0a1.dev1 < 1.0a1 < 1.0a1.post1 < 1.0b1 < 1.0rc1
; < 1.0 = 1.0.0 < 1.0.post1.dev1 < 1.0.post1. Checked against packaging.version by
; packaging/test_wine.sh (tests/packaging/test_installer.py).
;
; Each version becomes a key of 10 numbers, compared left to right:
;   r1.r2.r3.r4 . pre-kind (0 dev-only, 1 a, 2 b, 3 rc, 4 none) . pre-number
;   . post-kind (0 none, 1 post) . post-number . dev-kind (0 dev, 1 none) . dev-number

!include "LogicLib.nsh"
!include "WordFunc.nsh"

!macro PEP440_DEFINE PREFIX
; In: $0 version. Out: $1 key, "" when $0 is not such a version. Keeps $2-$9.
Function ${PREFIX}Pep440Key
  Push $2
  Push $3
  Push $4
  Push $5
  Push $6
  Push $7
  Push $8
  Push $9
  StrCpy $1 ""
  StrCpy $2 0   ; position in $0
  StrCpy $4 0   ; release numbers read
  StrLen $9 $0
  ; release: numbers separated by dots
  release_number:
    Call ${PREFIX}Pep440Number ; $3 = number at $2 ("" if none), $2 moved past it
    StrCmp $3 "" invalid
    IntOp $4 $4 + 1
    IntCmp $4 4 0 0 invalid
    StrCpy $1 "$1$3."
    StrCpy $5 $0 1 $2
    IntOp $7 $2 + 1
    StrCpy $6 $0 1 $7
    ${If} $5 == "."
    ${AndIf} $6 != "p"
    ${AndIf} $6 != "d"
      IntOp $2 $2 + 1
      Goto release_number
    ${EndIf}
  StrCpy $5 "0."
  ${DoWhile} $4 < 4
    StrCpy $1 "$1$5"
    IntOp $4 $4 + 1
  ${Loop}
  ; pre-release
  StrCpy $5 $0 2 $2
  StrCpy $6 $0 1 $2
  StrCpy $7 ""  ; pre kind
  ${If} $5 == "rc"
    StrCpy $7 3
    IntOp $2 $2 + 2
  ${ElseIf} $6 == "a"
    StrCpy $7 1
    IntOp $2 $2 + 1
  ${ElseIf} $6 == "b"
    StrCpy $7 2
    IntOp $2 $2 + 1
  ${EndIf}
  StrCpy $8 0   ; pre number
  ${If} $7 != ""
    Call ${PREFIX}Pep440Number
    StrCmp $3 "" invalid
    StrCpy $8 $3
  ${EndIf}
  ; post-release
  StrCpy $5 $0 5 $2
  StrCpy $6 "0.0"
  ${If} $5 == ".post"
    IntOp $2 $2 + 5
    Call ${PREFIX}Pep440Number
    StrCmp $3 "" invalid
    StrCpy $6 "1.$3"
  ${EndIf}
  ; development release
  StrCpy $5 $0 4 $2
  StrCpy $3 "1.0"
  ${If} $5 == ".dev"
    IntOp $2 $2 + 4
    Call ${PREFIX}Pep440Number
    StrCmp $3 "" invalid
    StrCpy $3 "0.$3"
  ${EndIf}
  IntCmp $2 $9 0 invalid invalid ; anything left over: not a version
  ${If} $7 == ""
    StrCpy $7 4
    ${If} $6 == "0.0"
    ${AndIf} $3 != "1.0"
      StrCpy $7 0 ; X.devN sorts before XaN (PEP 440)
    ${EndIf}
  ${EndIf}
  StrCpy $1 "$1$7.$8.$6.$3"
  Goto done
  invalid:
    StrCpy $1 ""
  done:
  Pop $9
  Pop $8
  Pop $7
  Pop $6
  Pop $5
  Pop $4
  Pop $3
  Pop $2
FunctionEnd

; In: $0 text, $2 position. Out: $3 the decimal number there (up to 9 digits; "" if none),
; $2 moved past it.
Function ${PREFIX}Pep440Number
  Push $R8
  Push $R9
  StrCpy $3 ""
  ${Do}
    StrCpy $R8 $0 1 $2
    StrCmp $R8 "" done
    IntOp $R9 $R8 + 0
    StrCmp $R9 $R8 0 done ; "7" + 0 is "7"; "a" + 0 is "0"
    StrCpy $3 "$3$R8"
    IntOp $2 $2 + 1
  ${Loop}
  done:
  StrLen $R8 $3
  ${If} $R8 > 9
    StrCpy $3 ""
  ${ElseIf} $R8 > 0
    IntOp $3 $3 + 0 ; "007" is 7
  ${EndIf}
  Pop $R9
  Pop $R8
FunctionEnd

; Pushed: first version, then second. Popped: 0 equal, 1 first newer, 2 second newer,
; "" when either is not a version this understands.
Function ${PREFIX}Pep440Compare
  Exch $R1 ; second
  Exch
  Exch $R0 ; first
  Push $0
  Push $1
  Push $2
  Push $3
  Push $4
  StrCpy $0 $R0
  Call ${PREFIX}Pep440Key
  StrCpy $R0 $1
  StrCpy $0 $R1
  Call ${PREFIX}Pep440Key
  StrCpy $R1 $1
  StrCpy $0 ""
  ${If} $R0 != ""
  ${AndIf} $R1 != ""
    StrCpy $0 0
    ${For} $4 1 10
      ${WordFind} $R0 "." "+$4" $2
      ${WordFind} $R1 "." "+$4" $3
      ${If} $2 > $3
        StrCpy $0 1
        ${Break}
      ${ElseIf} $2 < $3
        StrCpy $0 2
        ${Break}
      ${EndIf}
    ${Next}
  ${EndIf}
  StrCpy $R0 $0
  Pop $4
  Pop $3
  Pop $2
  Pop $1
  Pop $0
  Pop $R1
  Exch $R0
FunctionEnd
!macroend
