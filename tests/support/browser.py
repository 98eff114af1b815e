"""A scripted browser for sign-in tests: ``BROWSER="python tests/support/browser.py %s"``.

It GETs the authorization URL with httpx, follows redirects, fills in and posts the login and
consent forms it meets (generic HTML form handling: text fields get the login name, password
fields a password, selects/radios the matching or first option), and finally GETs the
loopback redirect, like a person with a real browser would.

Environment variables steer it:

    SCRIPTED_BROWSER_MODE      login (default) | deny | wrong-state | wrong-iss | no-redirect
                               | ignore
    SCRIPTED_BROWSER_LOGIN     login name / user to choose (default prac-1)
    SCRIPTED_BROWSER_PATIENT   patient to choose where the login page offers one (optional)
    SCRIPTED_BROWSER_PASSWORD  (default "any-password")
    SCRIPTED_BROWSER_LOG       file to append JSON lines to: each page visited and, last,
                               {"final": <status>, "text": <page text of the redirect>}

Exit status 0 when it did what the mode asks (even when the EHR refused), 2 otherwise.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

DENY = re.compile(r"deny|cancel|abort|reject|decline|no\b", re.I)
MAX_STEPS = 30


@dataclass
class Form:
    action: str
    method: str
    fields: list[dict[str, str]] = field(default_factory=list)  # inputs, in order
    selects: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    buttons: list[dict[str, str]] = field(default_factory=list)


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[tuple[str, str]] = []
        self.meta_refresh: str | None = None
        self._form: Form | None = None
        self._select: str | None = None
        self._button: dict[str, str] | None = None
        self._link: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(a.get("action", ""), (a.get("method") or "get").lower())
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image"):
                self._form.buttons.append(
                    {
                        "name": a.get("name", ""),
                        "value": a.get("value", ""),
                        "text": a.get("value", ""),
                    }
                )
            else:
                self._form.fields.append({**a, "type": kind})
        elif tag == "button" and self._form is not None:
            if a.get("type", "submit").lower() == "submit":
                self._button = {"name": a.get("name", ""), "value": a.get("value", ""), "text": ""}
                self._form.buttons.append(self._button)
        elif tag == "select" and self._form is not None:
            self._select = a.get("name", "")
            self._form.selects[self._select] = []
        elif tag == "option" and self._form is not None and self._select is not None:
            self._form.selects[self._select].append((a.get("value", ""), "selected" in a))
        elif tag == "a" and "href" in a:
            self._link = [a["href"], ""]
        elif tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            m = re.search(r"url=(.+)", a.get("content", ""), re.I)
            if m:
                self.meta_refresh = m.group(1).strip("'\" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "button":
            self._button = None
        elif tag == "a" and self._link is not None:
            self.links.append((self._link[0], self._link[1].strip()))
            self._link = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._button is not None:
            self._button["text"] += data.strip()
        if self._link is not None:
            self._link[1] += data


def log(entry: dict[str, object]) -> None:
    path = os.environ.get("SCRIPTED_BROWSER_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")


def is_deny(button: dict[str, str]) -> bool:
    return any(DENY.search(button.get(k, "")) for k in ("name", "value", "text"))


def fill(form: Form, login: str, password: str, patient: str | None) -> dict[str, str]:
    data: dict[str, str] = {}
    radios: dict[str, list[tuple[str, bool]]] = {}
    for f in form.fields:
        name, kind, value = f.get("name", ""), f["type"], f.get("value", "")
        if not name:
            continue
        if kind == "hidden":
            data[name] = value
        elif kind == "password":
            data[name] = password
        elif kind == "radio":
            radios.setdefault(name, []).append((value, "checked" in f))
        elif kind == "checkbox":
            if "checked" in f:
                data[name] = value or "on"
        else:
            wanted = patient if patient and "patient" in name.lower() else login
            data[name] = value or wanted
    for name, options in [*radios.items(), *form.selects.items()]:
        wanted = patient if patient and "patient" in name.lower() else login
        values = [v for v, _ in options]
        chosen = next((v for v in values if v == wanted), None)
        chosen = chosen or next((v for v in values if wanted and wanted in v), None)
        chosen = chosen or next((v for v, on in options if on), None)
        chosen = chosen or (values[0] if values else "")
        data[name] = chosen
    return data


def tamper(url: str, key: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query[key] = "https://attacker.invalid" if key == "iss" else secrets.token_urlsafe(32)
    return urlunsplit(parts._replace(query=urlencode(query)))


Step = tuple[str, str, dict[str, str] | None]  # method, url, form data


def run(authorize_url: str) -> int:
    mode = os.environ.get("SCRIPTED_BROWSER_MODE", "login")
    login = os.environ.get("SCRIPTED_BROWSER_LOGIN", "prac-1")
    patient = os.environ.get("SCRIPTED_BROWSER_PATIENT") or None
    password = os.environ.get("SCRIPTED_BROWSER_PASSWORD", "any-password")
    if mode == "ignore":
        log({"mode": mode})
        return 0
    redirect_uri = dict(parse_qsl(urlsplit(authorize_url).query)).get("redirect_uri", "")
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        method, url, data = "GET", authorize_url, None
        for _ in range(MAX_STEPS):
            if redirect_uri and url.split("?")[0] == redirect_uri:
                return arrive(client, url, mode)
            response = client.request(method, url, data=data)
            log({"method": method, "url": url.split("?")[0], "status": response.status_code})
            if response.is_redirect:
                method, url, data = "GET", urljoin(url, response.headers["location"]), None
                continue
            page = PageParser()
            page.feed(response.text)
            if page.meta_refresh:
                method, url, data = "GET", urljoin(url, page.meta_refresh), None
                continue
            step = next_step(page, url, mode, (login, password, patient))
            if step is None:
                text = " ".join("".join(page.text).split())[:500]
                log({"stuck": response.status_code, "text": text})
                return 0 if mode == "no-redirect" else 2
            method, url, data = step
    log({"gave_up": MAX_STEPS})
    return 2


def arrive(client: httpx.Client, url: str, mode: str) -> int:
    """At the app's redirect URI: follow it (or tamper with it, or withhold it)."""
    if mode == "no-redirect":
        log({"mode": mode, "redirect_withheld": True})
        return 0
    if mode == "wrong-state":
        url = tamper(url, "state")
    elif mode == "wrong-iss":
        url = tamper(url, "iss")
    response = client.get(url)
    page = PageParser()
    page.feed(response.text)
    log({"final": response.status_code, "text": " ".join("".join(page.text).split())})
    return 0


def next_step(
    page: PageParser, url: str, mode: str, who: tuple[str, str, str | None]
) -> Step | None:
    """The request a person would make on this page: fill and submit its form (or deny)."""
    login, password, patient = who
    forms = [f for f in page.forms if f.method == "post"] or page.forms
    if not forms:
        return None
    form = forms[0]
    target = urljoin(url, form.action or url)
    if mode == "deny":
        deny = next((b for f in forms for b in f.buttons if is_deny(b)), None)
        if deny is not None:
            payload = fill(form, login, password, patient)
            if deny.get("name"):
                payload[deny["name"]] = deny.get("value", "")
            return "POST", target, payload
        link = next((h for h, t in page.links if DENY.search(h) or DENY.search(t)), None)
        if link is not None:
            return "GET", urljoin(url, link), None
    payload = fill(form, login, password, patient)
    allow = next((b for b in form.buttons if not is_deny(b)), None)
    if allow is not None and allow.get("name"):
        payload[allow["name"]] = allow.get("value", "")
    if form.method == "post":
        return "POST", target, payload
    return "GET", f"{target.split('?')[0]}?{urlencode(payload)}", None


if __name__ == "__main__":
    try:
        sys.exit(run(sys.argv[1]))
    except Exception as exc:
        log({"crash": f"{type(exc).__name__}: {exc}"})
        print(f"scripted browser: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
