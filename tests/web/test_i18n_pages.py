"""Every page of the hub, for each kind of user, in Vietnamese and in Lao: no English
string a user would read, no Thai script, the right <html lang>, never a 500.

The pages are found from the URL map (so a new page is swept without editing this
file) and filled in with the demo data's records; downloads (CSV, PDF, attachments,
packages) and the API are covered elsewhere.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from hub.i18n_check import english_source_strings
from tests.conftest import Browser

THAI = re.compile("[\u0e00-\u0e7f]")
SKIP_ENDPOINTS = {
    "static",
    "health.healthz",  # machine-readable JSON
    "exchanges.attachment",  # a download
    "exchanges.respond",  # a redirect to exchanges.new
    "compliance.export_csv",  # downloads: checked by the compliance tests
    "compliance.export_pdf",
    "packages.imported_receipt",
}
SHOWN_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")


class _Text(HTMLParser):
    """Every piece of text a reader sees (text, labels in attributes), and <html lang>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.lang: str | None = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "html":
            self.lang = attributes.get("lang")
        if tag in ("script", "style"):
            self._skip += 1
        self.pieces += [attributes[a] for a in SHOWN_ATTRIBUTES if attributes.get(a)]
        if tag == "input" and attributes.get("type") in ("submit", "button"):
            self.pieces.append(attributes.get("value") or "")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.pieces.append(data)


def _pieces(html: str) -> tuple[str | None, set[str]]:
    parser = _Text()
    parser.feed(html)
    found = set()
    for piece in parser.pieces:
        for part in re.split(r"\s+·\s+|\n", piece):
            part = part.strip().rstrip(":").strip()
            if part:
                found.add(part)
    return parser.lang, found


def _url(rule, values: dict) -> str | None:
    if rule.endpoint in SKIP_ENDPOINTS or "GET" not in rule.methods:
        return None
    if rule.rule.startswith("/api/"):
        return None
    if not set(rule.arguments) <= set(values):
        return None
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(r"<(?:\w+:)?" + name + ">", str(values[name]), path)
    return path


@pytest.fixture
def demo_world(app, demo_users):
    from hub.extensions import db
    from hub.models import Case, Exchange
    from hub.operations.demo import load_demo_data

    load_demo_data()
    values = {
        "case_id": db.session.scalar(db.select(Case.id).order_by(Case.id)),
        "exchange_id": db.session.scalar(
            db.select(Exchange.id).where(Exchange.agreement.has(code="QB-KM-MOU"))
        ),
        "code": "QB-KM-MOU",
    }
    db.session.commit()
    return values


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["vi", "lo"])
@pytest.mark.parametrize("username", ["qb.officer", "km.officer", "qb.supervisor", "admin"])
def test_every_page_is_in_the_reader_language(app, demo_world, lang, username):
    client = app.test_client()
    browser = Browser(client)
    assert browser.login(username).status_code in (302, 303)
    client.post("/language", data={"language": lang, "next": "/", "csrf_token": browser.csrf("/")})
    values = {**demo_world, "username": username}
    english = english_source_strings(lang)
    visited, problems = [], []
    for rule in app.url_map.iter_rules():
        url = _url(rule, values)
        if url is None:
            continue
        response = client.get(url)
        visited.append(url)
        assert response.status_code != 500, url
        if response.mimetype != "text/html" or response.status_code in (301, 302, 303):
            continue
        page_lang, pieces = _pieces(response.get_data(as_text=True))
        if page_lang != lang:
            problems.append(f"{url}: <html lang={page_lang!r}>")
        leaked = sorted(pieces & english)
        if leaked:
            problems.append(f"{url}: English {leaked}")
        thai = [p for p in pieces if THAI.search(p)]
        if lang == "lo" and thai:
            problems.append(f"{url}: Thai script {thai[:3]}")
    assert len(visited) >= 8, visited
    assert not problems, "\n".join(problems)


def test_the_sweep_would_see_an_english_page():
    html = '<html lang="en"><nav aria-label="Main"><a href="/">Home</a></nav><h1>Cases</h1>'
    lang, pieces = _pieces(html + "<script>var Home = 1;</script><p>Quảng Bình</p></html>")
    assert lang == "en"
    assert pieces & english_source_strings("vi") == {"Main", "Home", "Cases"}
    assert pieces & english_source_strings("lo") == {"Main", "Home", "Cases"}
