; installer.nsi's steps, in the order the sections run them, and the Rollback that undoes them.
;
;   CheckSiteSwitches    .onInit: the site switches fit together (exit 3), nothing written yet
;   StageBundle          unpack the bundle into "<install folder>.installing"
;   ValidateSiteConfig   the staged fhir-writeback-cli.exe checks the site file (exit 3)
;   SwapInProgramFiles   previous program files to "<install folder>.previous", new ones in
;   WriteUninstallEntry  Programs and Features (the previous values are kept for Rollback)
;   LockSiteConfigDir    C:\ProgramData\fhir-writeback: only administrators may write
;   ProvisionSiteConfig  the installed CLI installs the site file (all or nothing itself)
;   DiscardBackup        the point of no return: the previous program files are deleted
;
; Rollback runs on any failure (FailWith, .onInstFailed) and undoes what the flags say was done.

Var MovedIn          ; "name|name|": the entries moved from the staging folder into $INSTDIR
Var CreatedConfigDir
Var RolledBack
Var OldHelpLink
Var OldAboutUrl

Function CheckSiteSwitches
  ${If} $SiteConfig != ""
    ${If} $FhirBase != ""
    ${OrIf} $ClientId != ""
      ${Fail} ${EXIT_INVALID} "Use either /SITECONFIG= or /FHIRBASE= with /CLIENTID=, not both."
    ${EndIf}
    GetFullPathName $SiteConfig $SiteConfig ; the CLI runs in another folder
    ${If} ${FileExists} "$SiteConfig\*.*"
      ${Fail} ${EXIT_INVALID} "/SITECONFIG=$SiteConfig is a folder: give the path of the sites.toml file itself."
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
    StrCpy $0 "$FhirBase$ClientId$SiteName$SiteId"
    StrCpy $1 0
    ${Do}
      StrCpy $2 $0 1 $1
      ${IfThen} $2 == "" ${|} ${ExitDo} ${|}
      ${If} $2 == '"'
        ${Fail} ${EXIT_INVALID} "/FHIRBASE= /CLIENTID= /SITENAME= /SITEID= cannot contain double quotes."
      ${EndIf}
      IntOp $1 $1 + 1
    ${Loop}
  ${EndIf}
FunctionEnd

; $2: a list "a|b|". Out: $0 its first item ("" when empty), $2 the rest.
Function PopItem
  Push $4
  Push $5
  StrCpy $4 0
  ${Do}
    StrCpy $5 $2 1 $4
    ${If} $5 == ""
      StrCpy $0 $2
      StrCpy $2 ""
      ${ExitDo}
    ${ElseIf} $5 == "|"
      StrCpy $0 $2 $4
      IntOp $4 $4 + 1
      StrCpy $2 $2 "" $4
      ${ExitDo}
    ${EndIf}
    IntOp $4 $4 + 1
  ${Loop}
  Pop $5
  Pop $4
FunctionEnd

Function StageBundle
  StrCpy $StageDir "$INSTDIR.installing"
  ${If} ${FileExists} "$StageDir\*.*"
    ${Log} "Removing $StageDir, left over from an interrupted installation."
    RMDir /r "$StageDir"
  ${EndIf}
  ${If} ${FileExists} "$INSTDIR.previous\*.*"
    ${Log} "Removing $INSTDIR.previous, left over from an interrupted installation."
    RMDir /r "$INSTDIR.previous"
  ${EndIf}
  ClearErrors
  SetOutPath "$StageDir"
  ${If} ${Errors}
    ${Fail} ${EXIT_WRITE_FAILED} "Could not create $StageDir to unpack the program files."
  ${EndIf}
  File /r "${BUNDLE_DIR}\*.*" ; AllowSkipFiles off: a failed write aborts (.onInstFailed)
  InitPluginsDir
  SetOutPath "$PLUGINSDIR" ; a folder that is some process's current one cannot be renamed
  ${Log} "Program files unpacked into $StageDir."
FunctionEnd

; /FHIRBASE=: the staged CLI writes the file ("sites new" validates it). /SITECONFIG=: the
; staged CLI validates it. Either way nothing is installed yet when it is refused (exit 3).
Function ValidateSiteConfig
  ${If} $FhirBase != ""
    StrCpy $SiteConfig "$PLUGINSDIR\sites.toml"
    StrCpy $0 '"$StageDir\${CLI_EXE}" sites new "--fhir-base=$FhirBase" "--client-id=$ClientId" "--display-name=$SiteName" "--site-id=$SiteId" "--output=$SiteConfig"'
  ${ElseIf} $SiteConfig != ""
    StrCpy $0 '"$StageDir\${CLI_EXE}" sites validate "$SiteConfig"'
  ${Else}
    Return
  ${EndIf}
  Call RunLogged
  ${If} $0 == 0
    ${Log} "Site configuration accepted by ${CLI_EXE} sites validate."
  ${ElseIf} $0 == ${EXIT_SITE_REFUSED}
    ${WordFind} $1 "$\r" "+1" $1
    ${WordFind} $1 "$\n" "+1" $1
    ${Fail} ${EXIT_INVALID} "The site configuration was refused, nothing was installed: $1"
  ${Else}
    ${Fail} ${EXIT_WRITE_FAILED} "Could not check the site configuration: the bundled ${CLI_EXE} exited with $0 (its output is in the log)."
  ${EndIf}
FunctionEnd

; Moves $0 (a name in $INSTDIR) into $BackupDir, if it is there.
Function SetAside
  ${If} ${FileExists} "$INSTDIR\$0"
    ClearErrors
    Rename "$INSTDIR\$0" "$BackupDir\$0"
    ${If} ${Errors}
      ${Fail} ${EXIT_WRITE_FAILED} "Could not move the previous $INSTDIR\$0 aside (is a file in it open?)."
    ${EndIf}
  ${EndIf}
FunctionEnd

Function SwapInProgramFiles
  ${IfNot} ${FileExists} "$INSTDIR\*.*"
    ClearErrors
    CreateDirectory "$INSTDIR"
    ${If} ${Errors}
      ${Fail} ${EXIT_WRITE_FAILED} "Could not create $INSTDIR."
    ${EndIf}
    StrCpy $CreatedInstDir 1
  ${EndIf}
  StrCpy $BackupDir "$INSTDIR.previous"
  CreateDirectory "$BackupDir"
  ; The staging folder's entries: read them all before moving any.
  StrCpy $MovedIn ""
  StrCpy $2 ""
  FindFirst $3 $0 "$StageDir\*"
  ${DoWhile} $0 != ""
    ${If} $0 != "."
    ${AndIf} $0 != ".."
      StrCpy $2 "$2$0|"
    ${EndIf}
    FindNext $3 $0
  ${Loop}
  FindClose $3
  StrCpy $0 "${UNINSTALLER}"
  Call SetAside
  StrCpy $0 "${UNINSTALL_HELPER}"
  Call SetAside
  StrCpy $SwappedIn 1
  ${Do}
    Call PopItem
    ${IfThen} $0 == "" ${|} ${ExitDo} ${|}
    Call SetAside
    ClearErrors
    Rename "$StageDir\$0" "$INSTDIR\$0"
    ${If} ${Errors}
      ${Fail} ${EXIT_WRITE_FAILED} "Could not move the new $0 into $INSTDIR."
    ${EndIf}
    StrCpy $MovedIn "$MovedIn$0|"
  ${Loop}
  ClearErrors
  ${Log} "Program files moved into $INSTDIR (the previous ones wait in $BackupDir until the end)."
FunctionEnd

Function WriteUninstallEntry
  ${If} $InstalledVersion != ""
    ReadRegDWORD $OldEstimatedSize HKLM "${UNINST_KEY}" "EstimatedSize"
    ReadRegStr $OldInstallDate HKLM "${UNINST_KEY}" "InstallDate"
    ReadRegDWORD $OldVersionMajor HKLM "${UNINST_KEY}" "VersionMajor"
    ReadRegDWORD $OldVersionMinor HKLM "${UNINST_KEY}" "VersionMinor"
    ReadRegStr $OldHelpLink HKLM "${UNINST_KEY}" "HelpLink"
    ReadRegStr $OldAboutUrl HKLM "${UNINST_KEY}" "URLInfoAbout"
  ${EndIf}
  StrCpy $WroteRegistry 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  ${GetTime} "" "L" $1 $2 $3 $4 $5 $6 $7 ; local date: day month year ...
  ClearErrors
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegDWORD HKLM "${UNINST_KEY}" "VersionMajor" ${VERSION_MAJOR}
  WriteRegDWORD HKLM "${UNINST_KEY}" "VersionMinor" ${VERSION_MINOR}
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallDate" "$3$2$1"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\${UNINSTALLER}"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\${UNINSTALLER}" /S'
  WriteRegStr HKLM "${UNINST_KEY}" "SiteConfigDir" "$SiteConfigDir"
  !ifdef HELP_URL
    WriteRegStr HKLM "${UNINST_KEY}" "HelpLink" "${HELP_URL}"
  !endif
  !ifdef ABOUT_URL
    WriteRegStr HKLM "${UNINST_KEY}" "URLInfoAbout" "${ABOUT_URL}"
  !endif
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "EstimatedSize" $0
  ${If} ${Errors}
    ${Fail} ${EXIT_WRITE_FAILED} "Could not write the Programs and Features entry HKLM\${UNINST_KEY}."
  ${EndIf}
  ${Log} "Add/Remove Programs entry written (HKLM\${UNINST_KEY}, $0 KB)."
FunctionEnd

; Only administrators and SYSTEM may change C:\ProgramData\fhir-writeback (users may read):
; a standard user must not be able to plant a sites.toml or CA file that applies to everyone.
; Owner first, so a file a user put there before cannot be opened up again by its owner.
Function LockSiteConfigDir
  ${IfNot} ${FileExists} "$SiteConfigDir\*.*"
    ClearErrors
    CreateDirectory "$SiteConfigDir"
    ${If} ${Errors}
      ${Fail} ${EXIT_WRITE_FAILED} "Could not create the folder $SiteConfigDir."
    ${EndIf}
    StrCpy $CreatedConfigDir 1
  ${EndIf}
  StrCpy $0 '"$SYSDIR\icacls.exe" "$SiteConfigDir" /setowner *S-1-5-32-544 /T /C /Q'
  Call RunLogged
  ${If} $0 == 0
    StrCpy $0 '"$SYSDIR\icacls.exe" "$SiteConfigDir" /inheritance:r /grant:r *S-1-5-32-544:(OI)(CI)F *S-1-5-18:(OI)(CI)F *S-1-5-32-545:(OI)(CI)RX /T /C /Q'
    Call RunLogged
  ${EndIf}
  ${If} $0 != 0
    ${Fail} ${EXIT_WRITE_FAILED} "Could not restrict $SiteConfigDir to administrators (icacls exited with $0)."
  ${EndIf}
  ${Log} "Permissions of $SiteConfigDir: administrators and SYSTEM change, users read."
FunctionEnd

Function ProvisionSiteConfig
  ${If} $SiteConfig == ""
    ${If} ${FileExists} "$SiteConfigDir\sites.toml"
      ${Log} "Site configuration kept: $SiteConfigDir\sites.toml"
    ${Else}
      ${Log} "No site configuration given: the app will offer the embedded sandbox EHR until one is provided."
    ${EndIf}
    Return
  ${EndIf}
  StrCpy $0 '"$INSTDIR\${CLI_EXE}" sites install "$SiteConfig" "--target-dir=$SiteConfigDir"'
  Call RunLogged
  ${If} $0 != 0
    ${Fail} ${EXIT_WRITE_FAILED} "Could not install the site configuration into $SiteConfigDir (${CLI_EXE} exited with $0; its output is in the log)."
  ${EndIf}
  ${If} $FhirBase != ""
    ${Log} "Site configuration written to $SiteConfigDir\sites.toml (site $SiteId, fhir_base $FhirBase, client_id $ClientId)."
  ${Else}
    ${Log} "Site configuration installed from $SiteConfig to $SiteConfigDir\sites.toml."
  ${EndIf}
FunctionEnd

Function DiscardBackup
  RMDir /r "$BackupDir"
  StrCpy $BackupDir ""
  RMDir "$StageDir"
  StrCpy $StageDir ""
FunctionEnd

; Puts back what this run changed. Safe to call at any point, once.
Function Rollback
  ${IfThen} $RolledBack == 1 ${|} Return ${|}
  StrCpy $RolledBack 1
  SetOutPath "$TEMP" ; a folder that is the current one cannot be removed
  ${If} $WroteRegistry == 1
    ${If} $InstalledVersion == ""
      DeleteRegKey HKLM "${UNINST_KEY}"
    ${Else}
      WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "$InstalledVersion"
      Push "EstimatedSize"
      Push $OldEstimatedSize
      Call RestoreDword
      Push "VersionMajor"
      Push $OldVersionMajor
      Call RestoreDword
      Push "VersionMinor"
      Push $OldVersionMinor
      Call RestoreDword
      Push "InstallDate"
      Push $OldInstallDate
      Call RestoreString
      Push "HelpLink"
      Push $OldHelpLink
      Call RestoreString
      Push "URLInfoAbout"
      Push $OldAboutUrl
      Call RestoreString
    ${EndIf}
  ${EndIf}
  ${If} $CreatedDesktop == 1
    Delete "$DESKTOP\${SHORTCUT}"
  ${EndIf}
  ${If} $CreatedStartMenu == 1
    Delete "$SMPROGRAMS\${SHORTCUT}"
  ${EndIf}
  ${If} $SwappedIn == 1
    Delete "$INSTDIR\${UNINSTALLER}"
    Delete "$INSTDIR\${UNINSTALL_HELPER}"
    StrCpy $2 $MovedIn
    ${Do}
      Call PopItem
      ${IfThen} $0 == "" ${|} ${ExitDo} ${|}
      RMDir /r "$INSTDIR\$0"
      Delete "$INSTDIR\$0"
    ${Loop}
  ${EndIf}
  ${If} $BackupDir != ""
    FindFirst $3 $0 "$BackupDir\*"
    StrCpy $2 ""
    ${DoWhile} $0 != ""
      ${If} $0 != "."
      ${AndIf} $0 != ".."
        StrCpy $2 "$2$0|"
      ${EndIf}
      FindNext $3 $0
    ${Loop}
    FindClose $3
    ${Do}
      Call PopItem
      ${IfThen} $0 == "" ${|} ${ExitDo} ${|}
      Rename "$BackupDir\$0" "$INSTDIR\$0"
    ${Loop}
    RMDir "$BackupDir"
  ${EndIf}
  ${If} $CreatedInstDir == 1
    RMDir "$INSTDIR"
  ${EndIf}
  ${If} $StageDir != ""
    RMDir /r "$StageDir"
  ${EndIf}
  ${If} $CreatedConfigDir == 1
    RMDir "$SiteConfigDir"
  ${EndIf}
  ClearErrors
  ${If} $InstalledVersion == ""
    ${Log} "Rolled back: nothing of ${APP_NAME} ${VERSION} is left installed."
  ${Else}
    ${Log} "Rolled back: ${APP_NAME} $InstalledVersion is installed as it was."
  ${EndIf}
FunctionEnd

; Pushed: value name, then its previous DWORD ("" when it had none).
Function RestoreDword
  Exch $1
  Exch
  Exch $0
  ${If} $1 == ""
    DeleteRegValue HKLM "${UNINST_KEY}" $0
  ${Else}
    WriteRegDWORD HKLM "${UNINST_KEY}" $0 $1
  ${EndIf}
  Pop $0
  Pop $1
FunctionEnd

Function RestoreString
  Exch $1
  Exch
  Exch $0
  ${If} $1 == ""
    DeleteRegValue HKLM "${UNINST_KEY}" $0
  ${Else}
    WriteRegStr HKLM "${UNINST_KEY}" $0 $1
  ${EndIf}
  Pop $0
  Pop $1
FunctionEnd

; --- uninstaller ---------------------------------------------------------------------------

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

; uninstall.exe (packaging/nsis/uninstall-launcher.nsi) is running: it waits for this helper to
; return the exit code. Windows cannot delete a running program but can move it, so it goes to
; %TEMP% (deleted at the next restart) and the install folder can go now. If it cannot be moved
; (another drive), it and the folder are removed at the next restart: exit 3010.
Function un.RemoveLauncher
  ClearErrors
  Delete "$INSTDIR\${UNINSTALLER}"
  ${IfNot} ${FileExists} "$INSTDIR\${UNINSTALLER}"
    Return
  ${EndIf}
  ${GetTime} "" "LS" $1 $2 $3 $4 $5 $6 $7
  StrCpy $0 "$TEMP\~${APP_ID}-uninstall-$3$2$1$5$6$7.exe"
  ClearErrors
  Rename "$INSTDIR\${UNINSTALLER}" "$0"
  ${IfNot} ${Errors}
    Delete /REBOOTOK "$0"
    SetRebootFlag false ; only the copy in %TEMP% waits for a restart: nothing to report
    Return
  ${EndIf}
  Delete /REBOOTOK "$INSTDIR\${UNINSTALLER}"
  RMDir /REBOOTOK "$INSTDIR"
  ${UnLog} "$INSTDIR\${UNINSTALLER} is in use and could not be moved: it is removed at the next restart."
FunctionEnd
