"""`fhir-writeback sites validate|install`: what the installers and clinic IT run on a sites.toml."""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import certifi
import pytest

from app.main import main as app_main
from app.smart.sites import load_sites

GOOD = """default_site = "north"

[sites.north]
display_name = "North Clinic EHR"
fhir_base = "https://ehr.north.example.org/fhir/R4"
client_id = "fhir-writeback"
"""


def run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = app_main(["sites", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def with_ca(folder: Path, ca_value: str, ca_file: str | None = None) -> Path:
    if ca_file is not None:
        (folder / ca_file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(certifi.where(), folder / ca_file)
    return write(folder / "sites.toml", GOOD + f'ca_bundle = "{ca_value}"\n')


def test_a_valid_file_is_accepted_and_summarised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "sites.toml", GOOD)
    code, out, err = run("validate", str(file), capsys=capsys)
    assert (code, err) == (0, "")
    assert "valid. 1 site(s): north (https://ehr.north.example.org/fhir/R4)" in out
    assert "default site: north" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not UTF-8 text", id="binary"),
        pytest.param(
            GOOD.replace("North", "N\xf6rth").encode("latin-1"), "is not UTF-8 text", id="latin-1"
        ),
        pytest.param(b"[sites.north\n", "not valid TOML", id="not-toml"),
        pytest.param(
            GOOD.replace("https://", "http://").encode(), "must use https://", id="plain-http"
        ),
        pytest.param(b'default_site = "x"\n', "names the site 'x'", id="unknown-default"),
        pytest.param(b"# nothing yet\n", "defines no site", id="no-site"),
    ],
)
def test_an_unusable_file_is_refused_with_exit_3_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    file = tmp_path / "sites.toml"
    file.write_bytes(content)
    code, out, err = run("validate", str(file), capsys=capsys)
    assert code == 3, out + err
    assert err.startswith("fhir-writeback sites validate: refused: ")
    assert expected in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "share").mkdir()
    code, _, err = run("validate", str(tmp_path / "share"), capsys=capsys)
    assert code == 3
    assert "is a folder; give the path of the sites.toml file itself" in err


def test_a_missing_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run("validate", str(tmp_path / "nowhere.toml"), capsys=capsys)
    assert code == 3
    assert "does not exist" in err


def test_a_missing_ca_bundle_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = with_ca(tmp_path, "clinic-root-ca.pem")
    code, _, err = run("validate", str(file), capsys=capsys)
    assert code == 3
    assert "key 'sites.north.ca_bundle'" in err and "does not exist" in err


def test_a_relative_ca_bundle_outside_the_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copyfile(certifi.where(), tmp_path / "ca.pem")
    file = with_ca(tmp_path / "it", "../ca.pem")
    code, _, err = run("validate", str(file), capsys=capsys)
    assert code == 3
    assert "lies outside the file's folder" in err


def test_install_copies_the_file_and_its_ca_bundles_and_keeps_a_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = with_ca(tmp_path / "share", "certs/clinic-root-ca.pem", "certs/clinic-root-ca.pem")
    target = tmp_path / "ProgramData" / "fhir-writeback"
    write(target / "sites.toml", "# the previous file\n")

    code, out, err = run("install", str(source), "--target-dir", str(target), capsys=capsys)

    assert (code, err) == (0, "")
    assert "CA bundle certs/clinic-root-ca.pem is copied along" in out.replace("\\", "/")
    assert (target / "sites.toml").read_text(encoding="utf-8") == source.read_text("utf-8")
    assert (target / "certs" / "clinic-root-ca.pem").read_bytes() == Path(
        certifi.where()
    ).read_bytes()
    assert (target / "sites.toml.bak").read_text(encoding="utf-8") == "# the previous file\n"
    installed = load_sites(target / "sites.toml").find("north")
    assert installed is not None and installed.ca_bundle == target / "certs/clinic-root-ca.pem"
    assert sorted(p.name for p in target.iterdir()) == ["certs", "sites.toml", "sites.toml.bak"]


def test_install_refuses_an_invalid_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "sites.toml", GOOD.replace("https://", "http://"))
    target = tmp_path / "target"
    code, _, err = run("install", str(source), "--target-dir", str(target), capsys=capsys)
    assert code == 3 and "must use https://" in err
    assert not target.exists()


def test_install_is_all_or_nothing_when_a_write_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = with_ca(tmp_path / "share", "clinic-root-ca.pem", "clinic-root-ca.pem")
    target = tmp_path / "target"
    write(target / "sites.toml", "# the previous file\n")
    (target / "clinic-root-ca.pem").mkdir()  # a folder where the CA file should go

    code, out, err = run("install", str(source), "--target-dir", str(target), capsys=capsys)

    assert code == 1, out + err
    assert err.startswith("fhir-writeback sites install: could not write")
    assert (target / "sites.toml").read_text(encoding="utf-8") == "# the previous file\n"
    assert sorted(p.name for p in target.iterdir()) == ["clinic-root-ca.pem", "sites.toml"]


def test_the_command_is_reachable_through_the_cli_module(tmp_path: Path) -> None:
    from app.cli import main as cli_main

    out, err = io.StringIO(), io.StringIO()
    code = cli_main(["sites", "validate", str(write(tmp_path / "s.toml", GOOD))], out=out, err=err)
    assert code == 0 and "valid." in out.getvalue()


def test_install_puts_every_previous_file_back_when_a_rename_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = with_ca(tmp_path / "share", "clinic-root-ca.pem", "clinic-root-ca.pem")
    target = tmp_path / "target"
    write(target / "sites.toml", "# the previous file\n")
    write(target / "clinic-root-ca.pem", "previous CA\n")
    real_replace = os.replace

    def failing_replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "sites.toml" and Path(src).name.endswith(".new"):
            raise PermissionError(13, "Access is denied", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr("app.cli_sites.os.replace", failing_replace)
    code, out, err = run("install", str(source), "--target-dir", str(target), capsys=capsys)

    assert code == 1, out + err
    assert "could not write" in err and "Access is denied" in err
    assert (target / "sites.toml").read_text(encoding="utf-8") == "# the previous file\n"
    assert (target / "clinic-root-ca.pem").read_text(encoding="utf-8") == "previous CA\n"
    assert sorted(p.name for p in target.iterdir()) == ["clinic-root-ca.pem", "sites.toml"]


def test_new_writes_a_one_site_file_the_app_reads_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "sites.toml"
    code, out, err = run(
        "new",
        "--fhir-base=https://ehr.example.org/fhir/R4",
        '--client-id=clinic "app"',
        "--display-name=Clínica São José",
        "--site-id=main.clinic",
        f"--output={out_file}",
        capsys=capsys,
    )
    assert (code, err) == (0, ""), out
    catalog = load_sites(out_file)
    site = catalog.default
    assert site is not None
    assert (site.id, site.display_name, site.fhir_base, site.client_id) == (
        "main.clinic",
        "Clínica São José",
        "https://ehr.example.org/fhir/R4",
        'clinic "app"',
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--fhir-base=http://ehr.example.org/fhir", "--client-id=x"], "must use https://"),
        (["--fhir-base=https://ehr.example.org", "--client-id=x", "--site-id=a b"], "site id"),
    ],
)
def test_new_refuses_what_the_app_would_refuse_and_leaves_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    out_file = tmp_path / "sites.toml"
    code, _, err = run("new", *argv, f"--output={out_file}", capsys=capsys)
    assert code == 3 and expected in err
    assert not out_file.exists()


def test_log_appends_the_output_in_the_installers_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path / "sites.toml", GOOD.replace("https://", "http://"))
    log = write(tmp_path / "setup.log", "earlier line\n")
    code, _, err = run("validate", str(bad), f"--log={log}", capsys=capsys)
    assert code == 3 and "must use https://" in err
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "earlier line"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \S+@\S+   \| fhir-writeback sites validate: refused: .*"
        r"must use https://.*",
        lines[1],
    ), lines[1]
    assert lines[2].endswith("| (fhir-writeback sites: exit code 3)")
