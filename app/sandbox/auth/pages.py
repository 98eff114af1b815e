"""The HTML pages of the sign-in: login, consent, and the error page shown instead of a redirect.

Plain server-rendered HTML, usable with a keyboard and a screen reader, no scripts. Every value
is escaped. The OAuth request travels from page to page as hidden fields and is validated again
by Authlib on every POST, so a tampered field changes nothing that was not checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from app.sandbox.auth.records import LoginUser
from app.sandbox.auth.scopes import describe
from app.sandbox.contracts import DirectoryEntry

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; padding: 0 1rem;
       line-height: 1.5; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.5rem; }
fieldset { border: 1px solid #888; border-radius: .3rem; margin: 1rem 0; padding: .5rem 1rem; }
label { display: block; margin: .25rem 0; }
select, button { font-size: 1rem; padding: .4rem .8rem; margin: .25rem .5rem .25rem 0; }
button:focus, select:focus { outline: 3px solid #1a5fb4; outline-offset: 2px; }
.alert { border-left: 4px solid #a51d2d; padding: .5rem 1rem; background: #fbeaea; }
.note { color: #444; font-size: .9rem; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)} - Sandbox EHR</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _hidden(params: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in params)


def _options(entries: list[DirectoryEntry], selected: str | None) -> str:
    out = []
    for entry in entries:
        mark = " selected" if entry.id == selected else ""
        detail = f" ({entry.detail})" if entry.detail else ""
        out.append(
            f'<option value="{_e(entry.id)}"{mark}>{_e(entry.display)}{_e(detail)}'
            f" - {_e(entry.id)}</option>"
        )
    return "\n".join(out)


def login_page(
    *,
    action: str,
    params: list[tuple[str, str]],
    client_name: str,
    practitioners: list[DirectoryEntry],
    patients: list[DirectoryEntry],
    patient_picker: bool,
    selected_login: str | None = None,
    selected_patient: str | None = None,
    error: str | None = None,
) -> str:
    alert = f'<p class="alert" role="alert">{_e(error)}</p>' if error else ""
    picker = ""
    if patient_picker:
        picker = (
            "<fieldset>\n<legend>Patient in context</legend>\n"
            '<label for="patient">The app asked for a patient. Which patient?'
            " (ignored when a patient signs in: they are the patient)</label>\n"
            f'<select id="patient" name="patient">\n{_options(patients, selected_patient)}\n'
            "</select>\n</fieldset>"
        )
    body = f"""<h1>Sign in to the sandbox EHR</h1>
<p><strong>{_e(client_name)}</strong> wants to access the sandbox EHR on your behalf.</p>
{alert}
<form method="post" action="{_e(action)}">
{_hidden(params)}
<fieldset>
<legend>Who are you?</legend>
<label for="login">User (no password: this is a sandbox with synthetic data)</label>
<select id="login" name="login">
<optgroup label="Practitioners">
{_options(practitioners, selected_login)}
</optgroup>
<optgroup label="Patients">
{_options(patients, selected_login)}
</optgroup>
</select>
</fieldset>
{picker}
<button type="submit">Continue</button>
</form>
<p class="note">Synthetic test data only. Never enter real patient information here.</p>"""
    return _page("Sign in", body)


def consent_page(
    *,
    action: str,
    params: list[tuple[str, str]],
    client_name: str,
    user: LoginUser,
    patient_display: str | None,
    granted: list[str],
    dropped: list[str],
) -> str:
    context = ""
    if user.patient:
        enc = f", encounter {_e(user.encounter)}" if user.encounter else ", no encounter"
        context = f"<p>Patient in context: <strong>{_e(patient_display)}</strong>{enc}.</p>"
    items = "\n".join(f"<li>{_e(describe(s))} <code>{_e(s)}</code></li>" for s in granted)
    not_granted = ""
    if dropped:
        listed = ", ".join(f"<code>{_e(s)}</code>" for s in dropped)
        not_granted = f"<p>Not granted (unknown or not allowed for this user): {listed}</p>"
    body = f"""<h1>Allow access?</h1>
<p>Signed in as <strong>{_e(user.display)}</strong> ({_e(user.fhir_user)}).</p>
{context}
<p><strong>{_e(client_name)}</strong> asks to:</p>
<ul>
{items}
</ul>
{not_granted}
<form method="post" action="{_e(action)}">
{_hidden(params)}
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
<p class="note">Allowed once, this app is not asked again for these permissions.</p>"""
    return _page("Allow access", body)


def error_page(title: str, message: str, advice: str) -> str:
    body = f"""<h1>{_e(title)}</h1>
<p class="alert" role="alert">{_e(message)}</p>
<p>{_e(advice)}</p>"""
    return _page(title, body)
