"""Version strings for the Windows packages, from the PEP 440 version in pyproject.toml.

    python3 packaging/versions.py check VERSION         exit 1 unless VERSION is canonical
    python3 packaging/versions.py file-version VERSION  1.2.3rc1 -> 1.2.3.0 (Windows resources)
    python3 packaging/versions.py msi-version VERSION   1.2.3rc1 -> 1.2.3 (MSI ProductVersion)
    python3 packaging/versions.py sort-key VERSION      fixed-width key, ordered as PEP 440

Standard library only: the build scripts run it with any python3, on Linux and on the Windows
runner. The installers accept only canonical versions (as ``packaging.version`` prints them)
without epoch or local part: N(.N)* with at most 4 numbers, then aN|bN|rcN, .postN, .devN.
The NSIS installer compares them with packaging/nsis/pep440.nsh; the MSI, whose
ProductVersion holds only the release numbers, compares the sort key (a string comparison in
a launch condition), so 0.2.0rc1 -> 0.2.0 upgrades and 0.2.0 -> 0.2.0rc1 is refused.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

CANONICAL = re.compile(
    r"^(?P<release>\d+(?:\.\d+){0,3})"
    r"(?:(?P<pre_kind>a|b|rc)(?P<pre>\d+))?"
    r"(?:\.post(?P<post>\d+))?"
    r"(?:\.dev(?P<dev>\d+))?$"
)
PRE_KINDS = {"a": 1, "b": 2, "rc": 3}
DEV_ONLY, FINAL = 0, 4


class VersionError(ValueError):
    pass


@dataclass(frozen=True)
class Version:
    release: tuple[int, ...]
    pre_kind: int  # 0 a .devN with no pre/post release, 1 a, 2 b, 3 rc, 4 none
    pre: int
    post: int | None
    dev: int | None

    @classmethod
    def parse(cls, text: str) -> Version:
        match = CANONICAL.match(text)
        if match is None:
            raise VersionError(
                f"{text!r} is not a canonical PEP 440 version this packaging supports: "
                "N.N.N with at most 4 numbers, optionally aN, bN or rcN, .postN, .devN "
                "(no epoch, no local part, no '-' or '_'), e.g. 1.2.0rc1"
            )
        release = tuple(int(n) for n in match["release"].split("."))
        post = int(match["post"]) if match["post"] is not None else None
        dev = int(match["dev"]) if match["dev"] is not None else None
        if match["pre_kind"]:
            pre_kind, pre = PRE_KINDS[match["pre_kind"]], int(match["pre"])
        else:
            pre_kind, pre = (DEV_ONLY if post is None and dev is not None else FINAL), 0
        if any(n > 65535 for n in release):
            raise VersionError(f"{text!r}: release numbers above 65535 do not fit Windows")
        return cls(release, pre_kind, pre, post, dev)

    def file_version(self) -> str:
        """Four numbers for VIProductVersion (pre-release parts are dropped)."""
        return ".".join(str(n) for n in (*self.release, 0, 0, 0)[:4])

    def msi_version(self) -> str:
        """MSI ProductVersion: major.minor.build, the first three release numbers."""
        major, minor, build = (*self.release, 0, 0)[:3]
        if major > 255 or minor > 255:
            raise VersionError("an MSI ProductVersion allows at most 255.255.65535")
        return f"{major}.{minor}.{build}"

    def msi_version_after(self) -> str:
        """The next MSI ProductVersion: an exclusive upper bound that includes this one
        (wixl cannot write IncludeMaximum, and same-X.Y.Z packages must upgrade each other)."""
        major, minor, build = (int(n) for n in self.msi_version().split("."))
        return f"{major}.{minor}.{build + 1}"

    def sort_key(self) -> str:
        """Fixed width, so that comparing the strings compares the versions (PEP 440)."""
        release = (*self.release, 0, 0, 0)[:4]
        parts = [f"{n:05d}" for n in release]
        parts.append(f"{self.pre_kind}{self.pre:09d}")
        parts.append(f"{0 if self.post is None else 1}{self.post or 0:09d}")
        parts.append(f"{1 if self.dev is None else 0}{self.dev or 0:09d}")
        return ".".join(parts)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"check", "file-version", "msi-version", "sort-key"}:
        print(__doc__, file=sys.stderr)
        return 2
    command, text = argv
    try:
        version = Version.parse(text)
        if command == "file-version":
            print(version.file_version())
        elif command == "msi-version":
            print(version.msi_version())
        elif command == "sort-key":
            print(version.sort_key())
    except VersionError as exc:
        print(f"version: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
