"""Writes the WiX source of the MSI package for the one-folder bundle (wixl's WiX 3 subset).

    python3 packaging/msi/make_wxs.py BUNDLE_DIR VERSION OUT.wxs [--help-url URL] [--about-url URL]

Run by packaging/build_msi.sh, which then runs `wixl -a x64` in the folder holding OUT.wxs,
with `bundle` (a link to BUNDLE_DIR) and `fhir-writeback.ico` beside it: wixl wants relative
source paths. Standard library only.

The package: per-machine (ALLUSERS=1), 64-bit, into C:\\Program Files\\FHIR Write-back (public
property INSTALLDIR), Start menu shortcut, C:\\ProgramData\\fhir-writeback restricted to
administrators (icacls, deferred, as SYSTEM), and with the public property SITECONFIG=path the
bundled fhir-writeback-cli.exe installs that sites.toml (and the CA bundles it names) there -
refused files fail the installation (1603, everything rolled back; the reason is in
%TEMP%\\fhir-writeback-setup.log). Upgrades: a newer MSI replaces an older one (the UpgradeCode
below never changes); MSI ProductVersion holds only X.Y.Z, so same-X.Y.Z upgrades are allowed
(0.2.0rc1 -> 0.2.0) and the PEP 440 sort key (HKLM\\Software\\fhir-writeback VersionKey) refuses
0.2.0 -> 0.2.0rc1. It refuses to install over the .exe installer's copy, and that one over it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from versions import Version  # packaging/versions.py, a script beside this one

APP_NAME = "FHIR Write-back"
APP_ID = "fhir-writeback"
PUBLISHER = "FHIR Write-back team"
UPGRADE_CODE = "8f2b7d3e-4c1a-4e7b-9a55-1d6c0e3f2a71"  # fixed forever: it ties the versions
GUID_NAMESPACE = uuid.UUID("5b0f6a7e-2f1d-4c3b-8e9a-6d4c2b1a0f93")
APP_EXE = "fhir-writeback.exe"
CLI_EXE = "fhir-writeback-cli.exe"
NSIS_UNINSTALL_KEY = r"Software\Microsoft\Windows\CurrentVersion\Uninstall\fhir-writeback"
MSI_KEY = r"Software\fhir-writeback"
SETUP_LOG = "[TempFolder]fhir-writeback-setup.log"
ADMINS, SYSTEM, USERS = "*S-1-5-32-544", "*S-1-5-18", "*S-1-5-32-545"
LOCK_ACL = (
    f"/inheritance:r /grant:r {ADMINS}:(OI)(CI)F {SYSTEM}:(OI)(CI)F {USERS}:(OI)(CI)RX /T /C /Q"
)


def stable_id(prefix: str, path: str) -> str:
    return prefix + hashlib.sha1(path.encode("utf-8")).hexdigest()[:24].upper()


def stable_guid(path: str) -> str:
    return str(uuid.uuid5(GUID_NAMESPACE, path)).upper()


@dataclass
class Folder:
    relative: str  # "" for the bundle's root
    folders: dict[str, Folder] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def scan(bundle: Path) -> Folder:
    root = Folder("")
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        parts = path.relative_to(bundle).parts
        folder = root
        for i, name in enumerate(parts[:-1]):
            folder = folder.folders.setdefault(name, Folder("/".join(parts[: i + 1])))
        folder.files.append("/".join(parts))
    for required in (APP_EXE, CLI_EXE):
        if required not in root.files:
            raise SystemExit(f"make_wxs: {bundle} has no {required}: not a bundle")
    return root


def file_id(relative: str) -> str:
    return {APP_EXE: "AppExe", CLI_EXE: "CliExe"}.get(relative) or stable_id("f", relative)


def component_xml(relative: str, indent: str) -> str:
    shortcut = ""
    if relative == APP_EXE:
        shortcut = (
            f'\n{indent}    <Shortcut Id="StartMenuShortcut" Directory="ProgramMenuFolder" '
            f'Name="{APP_NAME}" WorkingDirectory="INSTALLDIR" Icon="AppIcon" />\n{indent}  '
        )
    return (
        f'{indent}<Component Id="{stable_id("c", relative)}" Guid="{stable_guid(relative)}" '
        f'Win64="yes">\n'
        f'{indent}  <File Id="{file_id(relative)}" Source={quoteattr("bundle/" + relative)} '
        f'KeyPath="yes">{shortcut}</File>\n'
        f"{indent}</Component>"
    )


def folder_xml(folder: Folder, indent: str, components: list[str]) -> list[str]:
    lines = []
    for relative in folder.files:
        lines.append(component_xml(relative, indent))
        components.append(stable_id("c", relative))
    for name, sub in folder.folders.items():
        lines.append(
            f'{indent}<Directory Id="{stable_id("d", sub.relative)}" Name={quoteattr(name)}>'
        )
        lines += folder_xml(sub, indent + "  ", components)
        lines.append(f"{indent}</Directory>")
    return lines


def wxs(bundle: Path, version: Version, text: str, help_url: str, about_url: str) -> str:
    components: list[str] = []
    files = "\n".join(folder_xml(scan(bundle), " " * 10, components))
    key = version.sort_key()
    links = "".join(
        f'    <Property Id="{name}" Value={quoteattr(url)} />\n'
        for name, url in (("ARPHELPLINK", help_url), ("ARPURLINFOABOUT", about_url))
        if url
    )
    refs = "\n".join(f'      <ComponentRef Id="{c}" />' for c in components)
    msi_version = version.msi_version()
    return f"""<?xml version="1.0" encoding="utf-8"?>
<!-- Generated by packaging/msi/make_wxs.py for {APP_NAME} {text}: do not edit. -->
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="{APP_NAME}" Language="1033" Version="{msi_version}"
           Manufacturer="{PUBLISHER}" UpgradeCode="{UPGRADE_CODE}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine"
             Manufacturer="{PUBLISHER}" Description="{APP_NAME} {text}"
             Comments="Per-machine. Public property SITECONFIG=path installs a sites.toml." />
    <Media Id="1" Cabinet="app.cab" EmbedCab="yes" />

    <Upgrade Id="{UPGRADE_CODE}">
      <UpgradeVersion Minimum="{msi_version}" IncludeMinimum="no" OnlyDetect="yes"
                      Property="NEWERFOUND" />
      <UpgradeVersion Minimum="0.0.0" Maximum="{version.msi_version_after()}" IncludeMinimum="yes"
                      IncludeMaximum="no" Property="OLDERFOUND" />
    </Upgrade>
    <Property Id="INSTALLEDVERSION">
      <RegistrySearch Id="InstalledVersion" Root="HKLM" Key="{MSI_KEY}" Name="Version"
                      Type="raw" Win64="yes" />
    </Property>
    <Property Id="INSTALLEDVERSIONKEY">
      <RegistrySearch Id="InstalledVersionKey" Root="HKLM" Key="{MSI_KEY}" Name="VersionKey"
                      Type="raw" Win64="yes" />
    </Property>
    <Property Id="EXEINSTALLEDVERSION">
      <RegistrySearch Id="ExeInstalled" Root="HKLM" Key="{NSIS_UNINSTALL_KEY}"
                      Name="DisplayVersion" Type="raw" Win64="yes" />
    </Property>
    <Condition Message="{APP_NAME} needs 64-bit Windows.">VersionNT64</Condition>
    <Condition Message="A newer version of {APP_NAME} is installed. Nothing was changed.">NOT NEWERFOUND</Condition>
    <Condition Message="{APP_NAME} [INSTALLEDVERSION] is installed, which is newer than {text}. Nothing was changed.">Installed OR NOT INSTALLEDVERSIONKEY OR INSTALLEDVERSIONKEY &lt;= "{key}"</Condition>
    <Condition Message="{APP_NAME} [EXEINSTALLEDVERSION] is installed with the .exe installer on this computer. Keep deploying that, or uninstall it first (uninstall.exe /S), then install this MSI.">Installed OR NOT EXEINSTALLEDVERSION</Condition>

    <Icon Id="AppIcon" SourceFile="fhir-writeback.ico" />
    <Property Id="ARPPRODUCTICON" Value="AppIcon" />
    <Property Id="ARPNOMODIFY" Value="1" />
{links}
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="{APP_NAME}">
{files}
          <Component Id="Registration" Guid="{stable_guid("registration")}" Win64="yes">
            <RegistryValue Root="HKLM" Key="{MSI_KEY}" Name="InstalledBy" Type="string"
                           Value="msi" KeyPath="yes" />
            <RegistryValue Root="HKLM" Key="{MSI_KEY}" Name="Version" Type="string"
                           Value="{text}" />
            <RegistryValue Root="HKLM" Key="{MSI_KEY}" Name="VersionKey" Type="string"
                           Value="{key}" />
            <RegistryValue Root="HKLM" Key="{MSI_KEY}" Name="InstallLocation" Type="string"
                           Value="[INSTALLDIR]" />
          </Component>
        </Directory>
      </Directory>
      <Directory Id="ProgramMenuFolder" />
      <Directory Id="CommonAppDataFolder">
        <Directory Id="SITECONFIGDIR" Name="{APP_ID}">
          <Component Id="SiteConfigFolder" Guid="{stable_guid("site-config-folder")}" Win64="yes">
            <CreateFolder />
            <RemoveFolder Id="RemoveSiteConfigFolder" On="uninstall" />
            <RegistryValue Root="HKLM" Key="{MSI_KEY}" Name="SiteConfigDir" Type="string"
                           Value="[SITECONFIGDIR]" KeyPath="yes" />
          </Component>
        </Directory>
      </Directory>
    </Directory>

    <Feature Id="Application" Title="{APP_NAME}" Level="1">
{refs}
      <ComponentRef Id="Registration" />
      <ComponentRef Id="SiteConfigFolder" />
    </Feature>

    <CustomAction Id="FindIcacls" Property="ICACLS" Value="[System64Folder]icacls.exe" />
    <CustomAction Id="FindCmd" Property="CMD" Value="[System64Folder]cmd.exe" />
    <CustomAction Id="LockSiteConfigOwner" Property="ICACLS" Execute="deferred" Impersonate="no"
                  Return="check" ExeCommand='"[SITECONFIGDIR]." /setowner {ADMINS} /T /C /Q' />
    <CustomAction Id="LockSiteConfigAcl" Property="ICACLS" Execute="deferred" Impersonate="no"
                  Return="check" ExeCommand='"[SITECONFIGDIR]." {LOCK_ACL}' />
    <CustomAction Id="InstallSiteConfig" FileKey="CliExe" Execute="deferred" Impersonate="no"
                  Return="check"
                  ExeCommand='sites install "[SITECONFIG]" "--target-dir=[SITECONFIGDIR]." "--log={SETUP_LOG}"' />
    <CustomAction Id="RemoveSiteConfig" Property="CMD" Execute="deferred" Impersonate="no"
                  Return="ignore"
                  ExeCommand='/c del /f /q "[SITECONFIGDIR]sites.toml" "[SITECONFIGDIR]sites.toml.bak"' />
    <!-- Sequence numbers, not After=: wixl 0.101 puts After= custom actions at the end. -->
    <InstallExecuteSequence>
      <FindRelatedProducts Before="LaunchConditions" />
      <Custom Action="FindIcacls" Sequence="1001" />
      <Custom Action="FindCmd" Sequence="1002" />
      <RemoveExistingProducts After="InstallValidate" />
      <Custom Action="RemoveSiteConfig" Sequence="3550">REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE</Custom>
      <Custom Action="LockSiteConfigOwner" Sequence="3710">NOT REMOVE</Custom>
      <Custom Action="LockSiteConfigAcl" Sequence="3720">NOT REMOVE</Custom>
      <Custom Action="InstallSiteConfig" Sequence="4010">SITECONFIG AND NOT REMOVE</Custom>
    </InstallExecuteSequence>
  </Product>
</Wix>
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("version")
    parser.add_argument("out", type=Path)
    parser.add_argument("--help-url", default="")
    parser.add_argument("--about-url", default="")
    args = parser.parse_args()
    version = Version.parse(args.version)
    text = wxs(args.bundle, version, args.version, args.help_url, args.about_url)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
