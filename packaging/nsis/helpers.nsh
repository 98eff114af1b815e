; Helpers shared by installer.nsi's installer and uninstaller: the log, the command-line
; tokenizer, failing with an exit code, closing or refusing a running app, the admin check.
; `!insertmacro DEFINE_HELPERS "" "<log name>"` defines them for the installer and
; `!insertmacro DEFINE_HELPERS "un." "<log name>"` for the uninstaller (NSIS wants both).
;
; Every log line reads "2025-03-01T09:30:12Z CLINIC\jdoe@WS-042 <text>": UTC time, then who ran
; it where (for SYSTEM deployments the user is the computer account, WS-042$). Lines go to
; %TEMP%\<log name> and, with /LOG=FILE, to FILE as well.

!macro DEFINE_HELPERS PREFIX LOGNAME
; Push a line; it goes to the details view, to %TEMP%\<LOGNAME> and to the /LOG= file.
Function ${PREFIX}LogLine
  Exch $0
  Push $1
  Push $2
  Push $3
  Push $4
  Push $5
  Push $6
  Push $7
  DetailPrint "$0"
  ${If} $LogWho == ""
    ReadEnvStr $1 USERDOMAIN
    ReadEnvStr $2 USERNAME
    ReadEnvStr $3 COMPUTERNAME
    StrCpy $LogWho "$1\$2@$3"
  ${EndIf}
  ${GetTime} "" "LS" $1 $2 $3 $4 $5 $6 $7 ; UTC: day month year weekday hour minute second
  StrCpy $0 "$3-$2-$1T$5:$6:$7Z $LogWho $0$\r$\n"
  StrCpy $1 "$TEMP\${LOGNAME}"
  Call ${PREFIX}AppendToFile
  ${If} $LogFile != ""
    StrCpy $1 $LogFile
    Call ${PREFIX}AppendToFile
  ${EndIf}
  Pop $7
  Pop $6
  Pop $5
  Pop $4
  Pop $3
  Pop $2
  Pop $1
  Pop $0
FunctionEnd

; Appends $0 to the file $1 (UTF-8 would need a plugin: the log is written as ANSI text).
; A log that exists but cannot be opened is held by someone else for a moment (a virus scanner,
; a step's own process closing it): tried again for up to 2 s, so no line is lost. A log that
; cannot be made (its folder missing) is not waited for.
Function ${PREFIX}AppendToFile
  Push $2
  Push $3
  StrCpy $3 0
  ${Do}
    ClearErrors
    FileOpen $2 $1 a
    ${IfNot} ${Errors}
      FileSeek $2 0 END
      FileWrite $2 $0
      FileClose $2
      ${ExitDo}
    ${EndIf}
    IntOp $3 $3 + 1
    ${IfThen} $3 >= 40 ${|} ${ExitDo} ${|}
    ${IfNot} ${FileExists} "$1"
      ${ExitDo}
    ${EndIf}
    Sleep 50
  ${Loop}
  ClearErrors
  Pop $3
  Pop $2
FunctionEnd

; Logs each line of $0 (a command's output), indented.
Function ${PREFIX}LogOutput
  Push $0
  Push $1
  Push $2
  Push $3
  StrCpy $1 0
  StrCpy $3 ""
  ${Do}
    StrCpy $2 $0 1 $1
    ${If} $2 == ""
    ${OrIf} $2 == "$\n"
      ${If} $3 != ""
        Push "  | $3"
        Call ${PREFIX}LogLine
      ${EndIf}
      StrCpy $3 ""
      ${IfThen} $2 == "" ${|} ${ExitDo} ${|}
    ${ElseIf} $2 != "$\r"
      StrCpy $3 "$3$2"
    ${EndIf}
    IntOp $1 $1 + 1
  ${Loop}
  Pop $3
  Pop $2
  Pop $1
  Pop $0
FunctionEnd

; Runs the command line $0 hidden, logging it and its output. Out: $0 exit code ("error" when
; it could not be started), $1 its output.
Function ${PREFIX}RunLogged
  Push "Running: $0"
  Call ${PREFIX}LogLine
  nsExec::ExecToStack $0
  Pop $0
  Pop $1
  Push $0
  StrCpy $0 $1
  Call ${PREFIX}LogOutput
  Pop $0
  Push "  (exit code $0)"
  Call ${PREFIX}LogLine
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

; /LOG=FILE: remember it and check that it can be written. $R3: the value.
Function ${PREFIX}UseLogFile
  ClearErrors
  FileOpen $0 $R3 a
  ${If} ${Errors}
    Push ${EXIT_INVALID}
    Push "/LOG=$R3: the log file cannot be written (give a full path in a folder that exists)."
    Call ${PREFIX}FailWith
  ${EndIf}
  FileClose $0
  StrCpy $LogFile $R3
FunctionEnd

; Exit with code $0 (pushed second) and message (pushed first) after logging it. The message
; box is shown only when the installer is interactive. The installer first undoes what it did.
Function ${PREFIX}FailWith
  Exch $0   ; message
  Exch
  Exch $1   ; exit code
  Push "ERROR: $0"
  Call ${PREFIX}LogLine
  !if "${PREFIX}" == ""
    Call Rollback
  !endif
  Push "Exit code $1."
  Call ${PREFIX}LogLine
  MessageBox MB_ICONSTOP "$0" /SD IDOK
  SetErrorLevel $1
  Quit
FunctionEnd

; $0: "" when neither program file is in use, else the first one that is. A running .exe
; cannot be opened for writing (renaming would succeed, so it is no test).
Function ${PREFIX}FindAppInUse
  StrCpy $0 "$INSTDIR\${APP_EXE}"
  Call ${PREFIX}IsFileInUse
  ${IfThen} $0 != "" ${|} Return ${|}
  StrCpy $0 "$INSTDIR\${CLI_EXE}"
  Call ${PREFIX}IsFileInUse
FunctionEnd

; $0: a file. Out: $0 unchanged when it exists and cannot be opened for writing, else "".
Function ${PREFIX}IsFileInUse
  Push $1
  ${If} ${FileExists} $0
    ClearErrors
    FileOpen $1 $0 a
    ${IfNot} ${Errors}
      FileClose $1
      StrCpy $0 ""
    ${EndIf}
  ${Else}
    StrCpy $0 ""
  ${EndIf}
  ClearErrors
  Pop $1
FunctionEnd

; Ends both programs: $2 "" to ask them to close (WM_CLOSE), "/F " to force them.
Function ${PREFIX}TaskKill
  StrCpy $0 '"$SYSDIR\taskkill.exe" $2/IM "${APP_EXE}"'
  Call ${PREFIX}RunLogged
  StrCpy $0 '"$SYSDIR\taskkill.exe" $2/IM "${CLI_EXE}"'
  Call ${PREFIX}RunLogged
FunctionEnd

; Polls for up to $1 tenths of a second until no program file is in use. Out: $0 as above.
Function ${PREFIX}WaitUntilClosed
  ${Do}
    Call ${PREFIX}FindAppInUse
    ${If} $0 == ""
    ${OrIf} $1 <= 0
      ${ExitDo}
    ${EndIf}
    Sleep 100
    IntOp $1 $1 - 1
  ${Loop}
FunctionEnd

; The app must not run while its files are replaced or removed. Without /CLOSEAPP: exit 1618
; (retry later; deployment tools retry it on their own). With /CLOSEAPP: ask it to close
; (taskkill without /F sends WM_CLOSE: the app saves and quits), wait, then end it (taskkill
; /F: drafts are autosaved within a second and the outbox is durable). $AppClosed: 1 if closed.
Function ${PREFIX}CloseOrRefuseIfRunning
  StrCpy $AppClosed 0
  ${Do}
    Call ${PREFIX}FindAppInUse
    ${IfThen} $0 == "" ${|} Return ${|}
    ${If} $CloseApp == 1
      ${ExitDo}
    ${EndIf}
    MessageBox MB_RETRYCANCEL|MB_ICONEXCLAMATION "${APP_NAME} is running ($0 is in use). Close it (unsent notes stay safe in the outbox), then press Retry." /SD IDCANCEL IDRETRY retry
    Push ${EXIT_RETRY_LATER}
    Push "${APP_NAME} is running on this computer ($0 is in use). Nothing was changed. Ask users to close it, or run again later or with /CLOSEAPP (exit code 1618: deployment tools retry later on their own)."
    Call ${PREFIX}FailWith
    retry:
  ${Loop}
  Push "${APP_NAME} is running ($0 is in use): closing it (/CLOSEAPP)."
  Call ${PREFIX}LogLine
  StrCpy $2 ""
  Call ${PREFIX}TaskKill
  StrCpy $1 100 ; 10 s to save and quit
  Call ${PREFIX}WaitUntilClosed
  ${If} $0 != ""
    StrCpy $2 "/F "
    Call ${PREFIX}TaskKill
    StrCpy $1 100
    Call ${PREFIX}WaitUntilClosed
  ${EndIf}
  ${If} $0 != ""
    Push ${EXIT_RETRY_LATER}
    Push "${APP_NAME} could not be closed ($0 is still in use). Nothing was changed. Run this again later."
    Call ${PREFIX}FailWith
  ${EndIf}
  StrCpy $AppClosed 1
  Push "${APP_NAME} was closed."
  Call ${PREFIX}LogLine
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
