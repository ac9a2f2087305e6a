"""No English word on any page a user reaches, in Vietnamese and in Lao.

tests/web/test_i18n_pages.py compares whole pieces of text with the catalog's msgids, so
it cannot see a string that was never marked for translation. This sweep reads the
words themselves: it signs in as each demo user (every role, the three
organisations), switches to vi or lo, and crawls every page reachable by links from
the home page plus every GET page of the URL map, then posts each form back empty
to see its error messages. Of the visible text (text nodes, and the title,
aria-label, placeholder and alt attributes, the value of input buttons, and the
data-text-* attributes our scripts show) it drops
what is legitimately not translated, and fails on

- any remaining Latin-script word that is English: one the code's English strings
  use, or one that cannot be a Vietnamese syllable;
- a date or time written the ISO way (2026-01-31, 2026-01-31T10:00), or a number Babel
  did not write (12000, 2.5 where vi and lo write 12.000, 2,5), instead of the
  reader's pattern;
- any Thai code point (U+0E00-U+0E7F) in a Lao page.

What is dropped, and why:
- machine text: <code>, <pre>, <kbd>, <samp>, and anything marked translate="no";
- the records' own words (user data): case titles, exchange subjects, place notes,
  usernames, organisation and agreement codes, case references, from the database;
- codes and numbers: tokens with a digit, CODE-LIKE-THIS;
- words the reader's own catalog uses (abbreviations its translators kept: PDF, CSV,
  TOTP, BLO...; entries kept as they are: "kg", Vietnamese "Ketamine");
- ALLOWED below: a proper name, a language's own name, file-size symbols; kept short.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from babel.messages.pofile import read_po

from hub.i18n_check import TEMPLATE, TRANSLATIONS
from tests.conftest import Browser

THAI = re.compile("[\u0e00-\u0e7f]")
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}|\b)")
#: 10000 and more written without the locale's grouping (10.000 in vi), or with a point
#: for decimals where vi and lo write a comma: not through Babel.
RAW_NUMBER = re.compile(r"(?<![\w.,/-])(?:\d{5,}|\d+\.\d{1,2})(?![\w.,/-])")
LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]+")
CODE = re.compile(r"^(?=.*[A-Z0-9])[A-Z0-9]+(?:[-_./][A-Za-z0-9]+)+$|.*\d")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdf]|\{\w+\}")
#: Shown as they are in every language: the switcher's own name for English; the
#: province Vietnamese also writes Savannakhet (GLOSSARY); file-size symbols (CLDR
#: writes kB and MB in vi and lo too).
ALLOWED = frozenset({"English", "Savannakhet", "kB", "MB", "GB"})

_ONSET = "ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx]"
VIETNAMESE_SYLLABLE = re.compile(rf"^(?:{_ONSET})?[aeiouy]{{1,3}}(?:ch|nh|ng|[cmnpt])?$")

MACHINE_TAGS = {"code", "pre", "kbd", "samp", "script", "style", "template"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"}
VOID_TAGS |= {"source", "track", "wbr"}
SHOWN_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")
#: Never followed: leaving the session, downloads, and links to machine formats.
SKIP_ENDPOINTS = {
    "static",
    "auth.logout",
    "auth.logout_everywhere",
    "health.healthz",
    "exchanges.attachment",
    "compliance.export_csv",
    "compliance.export_pdf",
    "packages.imported_receipt",
    "audit.checkpoint_file",
}
PER_ENDPOINT = 4  # distinct URLs (other ids, filters, pages) read per endpoint
USERS = ["qb.officer", "km.officer", "sv.officer", "qb.supervisor", "km.supervisor", "admin"]


def _plain(word: str) -> str:
    """Lower case, without accents (đ as d): how a Vietnamese syllable is spelled in ASCII."""
    folded = unicodedata.normalize("NFD", word.lower().replace("đ", "d"))
    return "".join(c for c in folded if not unicodedata.combining(c))


def _has_vietnamese_marks(word: str) -> bool:
    return _plain(word) != word.lower()


def _words_of(text: str) -> set[str]:
    return set(LATIN_WORD.findall(PLACEHOLDER.sub(" ", text)))


def _catalog_words(path) -> tuple[set[str], set[str], set[str]]:
    """Latin words of a catalog: of its msgids, of its msgstrs, and of the entries its
    translators kept as they are ("kg", "Ketamine" in Vietnamese)."""
    with path.open("rb") as handle:
        catalog = read_po(handle)
    ids, strings, kept = set(), set(), set()
    for message in catalog:
        if not message.id:
            continue
        for text in [message.id] if isinstance(message.id, str) else message.id:
            ids |= _words_of(text)
        for text in [message.string] if isinstance(message.string, str) else message.string:
            strings |= _words_of(text or "")
        if message.string == message.id:
            kept |= _words_of(message.string)
    return ids, strings, kept


#: The code's English vocabulary (lower case); common words the catalog may not hold yet.
ENGLISH = {w.lower() for w in _catalog_words(TEMPLATE)[0] if len(w) > 1}
_COMMON = """the a an and or of to in on at for with by from is are was be not no yes this
that these it its you your we our all any more less new old show hide add edit delete remove
save cancel back next previous submit send close open choose browse select file files none
selected upload download search filter sort name date time page user users login logout sign
error warning required optional details record type"""
ENGLISH |= set(_COMMON.split())


def reader_words(lang: str) -> set[str]:
    """Latin words the reader's catalog itself uses: abbreviations its translators kept
    (PDF, TOTP, BLO) and, in Vietnamese, its own syllables ("an", "do"). English words
    it quotes in technical messages ("Content-Type: application/json") do not count:
    on a page they would be a leak."""
    _ids, words, kept = _catalog_words(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po")
    return kept | {
        w
        for w in words
        if w.isupper()
        or w.lower() not in ENGLISH
        or (lang == "vi" and VIETNAMESE_SYLLABLE.match(_plain(w)))
    }


def english_words(text: str, *, accepted: set[str]) -> list[str]:
    """The English words of `text`, after dropping codes, numbers and accepted words."""
    found = []
    for token in text.split():
        token = token.strip(".,;:!?()[]{}«»“”\"'‘’/|·–—")
        if not token or token in accepted or CODE.match(token):
            continue
        for word in LATIN_WORD.findall(token):
            if len(word) < 2 or word in accepted or word in ALLOWED:
                continue
            if _has_vietnamese_marks(word):
                continue
            if word.lower() in ENGLISH or not VIETNAMESE_SYLLABLE.match(_plain(word)):
                found.append(word)
    return found


class _Visible(HTMLParser):
    """Text a reader sees, leaving out machine text; links and same-page forms."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.links: list[str] = []
        self.forms: list[str] = []
        self.lang: str | None = None
        self._stack: list[bool] = []  # per open element: is its content hidden from this check

    def _hidden(self) -> bool:
        return bool(self._stack) and self._stack[-1]

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "form" and a.get("method", "get").lower() == "post":
            self.forms.append(a.get("action", ""))
        hidden = self._hidden() or tag in MACHINE_TAGS or a.get("translate") == "no"
        if not hidden:
            self.pieces += [a[name] for name in SHOWN_ATTRIBUTES if a.get(name)]
            # data-text-*: words our scripts put on the page (static/js).
            self.pieces += [v for k, v in a.items() if k.startswith("data-text-") and v]
            if tag == "input" and a.get("type") in ("submit", "button", "reset"):
                self.pieces.append(a.get("value", ""))
        if tag not in VOID_TAGS:
            self._stack.append(hidden)

    def handle_endtag(self, tag):
        if tag not in VOID_TAGS and self._stack:
            self._stack.pop()

    def handle_data(self, data):
        if not self._hidden():
            self.pieces.append(data)


def read_page(html: str) -> _Visible:
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return parser


def page_problems(html: str, lang: str, *, accepted: set[str], data: list[str]) -> list[str]:
    """What is wrong with one page for a `lang` reader (empty when nothing is)."""
    page = read_page(html)
    problems = [] if page.lang == lang else [f"<html lang={page.lang!r}>"]
    for piece in page.pieces:
        for text in data:  # the records' own words, longest first
            if text in piece:
                piece = piece.replace(text, " ")
        english = english_words(piece, accepted=accepted)
        if english:
            problems.append(f"English {english} in {piece.strip()[:80]!r}")
        if ISO_DATE.search(piece):
            problems.append(f"ISO date in {piece.strip()[:80]!r}")
        if RAW_NUMBER.search(piece):
            problems.append(f"number not formatted for the locale in {piece.strip()[:80]!r}")
        if lang == "lo" and THAI.search(piece):
            problems.append(f"Thai script in {piece.strip()[:80]!r}")
    return problems


# --- the sweep -------------------------------------------------------------------------


@pytest.fixture
def demo_world(app, demo_users):
    """The demo data; returns the URL-map values and the records' own words."""
    from hub.extensions import db
    from hub.models import Agreement, Case, Exchange, Organisation, User
    from hub.operations.demo import load_demo_data

    load_demo_data()
    _more_records()
    values = {
        "case_id": db.session.scalar(db.select(Case.id).order_by(Case.id)),
        "exchange_id": db.session.scalar(
            db.select(Exchange.id).where(Exchange.agreement.has(code="QB-KM-MOU"))
        ),
        "code": "QB-KM-MOU",
        "name": "QB-KM-MOU",
    }
    # Suspects are sealed, so not in a column: the demo's and _more_records' by hand.
    data = {"Bounmy Phommachanh", "044099001234"}
    for column in (Case.title, Case.place_note, Exchange.subject):
        data |= {v for v in db.session.scalars(db.select(column)) if v}
    tokens = set(db.session.scalars(db.select(User.username)))
    tokens |= set(db.session.scalars(db.select(Organisation.code)))
    tokens |= set(db.session.scalars(db.select(Agreement.code)))
    tokens |= set(db.session.scalars(db.select(Case.reference)))
    db.session.commit()
    return values, sorted(data, key=len, reverse=True), tokens


def _more_records() -> None:
    """What the demo data lacks, so that its pages are swept too: an attachment, a
    translation, an exported package, a suspect with a birth date, a closed exchange."""
    from datetime import date

    from hub.extensions import db
    from hub.models import Case, Exchange, User
    from hub.operations import attachments, cases, exchanges, packages
    from hub.operations.actor import Actor

    def actor(name: str) -> Actor:
        return Actor.for_user(db.session.scalar(db.select(User).filter_by(username=name)))

    qb, km = actor("qb.officer"), actor("km.officer")
    request = db.session.scalar(
        db.select(Exchange)
        .where(Exchange.agreement.has(code="QB-KM-MOU"), Exchange.kind == "request")
        .order_by(Exchange.id)
    )
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    attachments.add(qb, request.id, filename="bien-ban.pdf", data=pdf)
    exchanges.add_translation(km, request.id, language="lo", body="ຂໍໃຫ້ກວດສອບເຈົ້າຂອງລົດ.")
    packages.export(qb, request.id, "KM")
    case_id = db.session.scalar(db.select(Case.id).order_by(Case.id))
    suspect = cases.SuspectInput(name="Bounmy Phommachanh", date_of_birth=date(1990, 3, 7))
    cases.add_suspect(qb, case_id, cases.SuspectInput(**{**vars(suspect), "nationality": "LA"}))
    exchanges.close(qb, request.id)


def _seeds(app, values: dict) -> list[str]:
    """Every GET page of the URL map whose arguments the demo data can fill."""
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS or "GET" not in rule.methods:
            continue
        if rule.rule.startswith("/api/") or not set(rule.arguments) <= set(values):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(r"<(?:\w+:)?" + name + ">", str(values[name]), path)
        urls.append(path)
    return urls


def _endpoint(app, url: str) -> str | None:
    parts = urlsplit(url)
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(parts.path, method="GET")
    except Exception:  # a POST-only route, a redirect rule, an unknown path
        return None
    return endpoint


def crawl(app, client, lang: str, values: dict, data: list[str], tokens: set[str]) -> dict:
    """Visit every reachable page; {url: [problems]} for the pages with any."""
    accepted = reader_words(lang) | tokens
    queue, seen, per_endpoint = ["/", *_seeds(app, values)], set(), Counter()
    found: dict[str, list[str]] = {}
    posted = set()
    while queue:
        url = queue.pop(0)
        endpoint = _endpoint(app, url)
        if url in seen or endpoint is None or endpoint in SKIP_ENDPOINTS:
            continue
        if endpoint.startswith("api.") or per_endpoint[endpoint] >= PER_ENDPOINT:
            continue
        seen.add(url)
        per_endpoint[endpoint] += 1
        response = client.get(url)
        assert response.status_code < 500, url
        if response.mimetype != "text/html" or response.status_code >= 300:
            continue
        html = response.get_data(as_text=True)
        problems = page_problems(html, lang, accepted=accepted, data=data)
        if problems:
            found[url] = problems
        page = read_page(html)
        for href in page.links:
            target = urljoin("http://localhost" + url, href)
            parts = urlsplit(target)
            if parts.netloc == "localhost" and parts.path:
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        # A form that posts back to its own page shows its error messages when sent empty.
        same = [action for action in page.forms if action in ("", url.split("?")[0])]
        if same and endpoint not in posted and "csrf_token" in html:
            posted.add(endpoint)
            token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
            response = client.post(url, data={"csrf_token": token.group(1)})
            assert response.status_code < 500, f"POST {url}"
            if response.mimetype == "text/html" and response.status_code < 300:
                body = response.get_data(as_text=True)
                problems = page_problems(body, lang, accepted=accepted, data=data)
                if problems:
                    found[f"POST {url}"] = problems
    assert len(seen) >= 10, sorted(seen)
    return found


def _report(found: dict) -> str:
    return "\n".join(f"{url}:\n  " + "\n  ".join(sorted(set(p))) for url, p in found.items())


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["vi", "lo"])
@pytest.mark.parametrize("username", USERS)
def test_no_english_on_any_page(app, demo_world, username, lang):
    values, data, tokens = demo_world
    client = app.test_client()
    browser = Browser(client)
    assert browser.login(username).status_code in (302, 303)
    client.post("/language", data={"language": lang, "next": "/", "csrf_token": browser.csrf("/")})
    found = crawl(app, client, lang, {**values, "username": username}, data, tokens)
    assert not found, _report(found)


@pytest.mark.parametrize("lang", ["vi", "lo"])
def test_no_english_before_signing_in(app, demo_world, lang):
    """The login page, its second-factor steps and the error pages, for anyone."""
    _values, data, tokens = demo_world
    client = app.test_client()
    client.set_cookie("hub_lang", lang)
    accepted = reader_words(lang) | tokens
    found = {}
    for url in ("/login", "/login/code", "/no-such-page", "/cases"):
        response = client.get(url, follow_redirects=True)
        assert response.status_code < 500, url
        problems = page_problems(
            response.get_data(as_text=True), lang, accepted=accepted, data=data
        )
        if problems:
            found[url] = problems
    response = client.post(
        "/login", data={"username": "qb.officer", "password": "wrong", "csrf_token": _token(client)}
    )
    problems = page_problems(response.get_data(as_text=True), lang, accepted=accepted, data=data)
    if problems:
        found["POST /login"] = problems
    assert not found, _report(found)


def _token(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


@pytest.mark.parametrize(
    ("lang", "born", "country"),
    [("vi", "07/03/1990", "Lào"), ("lo", "7/3/1990", "ລາວ")],
)
def test_a_suspect_reads_in_the_reader_language(app, demo_world, lang, born, country):
    """Date of birth in the locale's pattern, nationality as the reader's country name
    (the payload keeps the ISO date and the ISO 3166 code)."""
    from datetime import date

    from hub.extensions import db
    from hub.models import User
    from hub.operations import cases
    from hub.operations.actor import Actor

    values, data, tokens = demo_world
    qb = Actor.for_user(db.session.scalar(db.select(User).filter_by(username="qb.officer")))
    suspect = cases.SuspectInput(
        name="Bounmy Phommachanh", date_of_birth=date(1990, 3, 7), nationality="LA"
    )
    cases.add_suspect(qb, values["case_id"], suspect)
    client = app.test_client()
    browser = Browser(client)
    browser.login("qb.officer")
    client.post("/language", data={"language": lang, "next": "/", "csrf_token": browser.csrf("/")})
    html = client.get(f"/cases/{values['case_id']}").get_data(as_text=True)
    section = html[html.index('id="suspects"') :]
    row = section[section.index("Bounmy Phommachanh") :].split("</tr>")[0]
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[:2] == [born, country], row
    assert "1990-03-07" not in html
    problems = page_problems(
        html, lang, accepted=reader_words(lang) | tokens, data=[*data, "Bounmy Phommachanh"]
    )
    assert not problems, problems


@pytest.mark.parametrize(
    ("lang", "failed"),
    [("vi", "Xác thực thất bại tại mục 2"), ("lo", "ການກວດສອບລົ້ມເຫຼວຢູ່ລາຍການທີ 2")],
)
def test_a_failed_verification_reads_in_the_reader_language(app, demo_world, lang, failed):
    """What verify found is told in the reader's language; its own line stays beside it
    as machine text (<code lang="en">), as `hub audit verify` prints it."""
    from hub.extensions import db
    from hub.models import AuditLog
    from tests.support.audit_support import tamper

    _values, data, tokens = demo_world
    log_id = db.session.scalar(db.select(AuditLog.id).where(AuditLog.name == "QB-KM-MOU"))
    db.session.commit()
    tamper(app, 'DELETE FROM audit_entries WHERE log_id = :l AND "index" = 2', l=log_id)
    client = app.test_client()
    browser = Browser(client)
    browser.login("qb.supervisor")
    client.post("/language", data={"language": lang, "next": "/", "csrf_token": browser.csrf("/")})
    token = browser.csrf("/audit/QB-KM-MOU")
    client.post("/audit/QB-KM-MOU/verify", data={"csrf_token": token})
    html = client.get("/audit/QB-KM-MOU").get_data(as_text=True)
    assert failed in html
    assert '<code lang="en" translate="no">audit log QB-KM-MOU: entry is missing' in html
    problems = page_problems(html, lang, accepted=reader_words(lang) | tokens, data=data)
    assert not problems, problems


# --- the check itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang", "english"),
    [
        ("Choose Files", "vi", ["Choose", "Files"]),
        ("No file chosen", "lo", ["No", "file", "chosen"]),
        ("ຊື່ຜູ້ໃຊ້ Username", "lo", ["Username"]),
        ("Nhật ký kiểm tra exchange 1", "vi", ["exchange"]),
        ("Quảng Bình · QB-KM-MOU · 2,5 kg · H1", "vi", []),
        ("Nguyễn Văn Đức, qb.officer", "lo", []),
        ("Cha Lo, Na Phao", "lo", []),
        ("Tệp PDF và CSV", "vi", []),
    ],
)
def test_the_check_tells_english_from_the_rest(text, lang, english):
    accepted = reader_words(lang) | {"qb.officer"}
    assert english_words(text, accepted=accepted) == english


def test_the_check_reads_attributes_and_leaves_machine_text():
    html = (
        '<html lang="lo"><body><button title="Remove">x</button>'
        '<input type="submit" value="Save"><input type="text" value="free text">'
        '<code>hub audit verify</code><span translate="no">Savannakhet Gate</span>'
        "<p>ສົ່ງແລ້ວ 2026-01-31</p><p>ส่ง</p></body></html>"
    )
    problems = page_problems(html, "lo", accepted=reader_words("lo"), data=[])
    assert problems == [
        "English ['Remove'] in 'Remove'",
        "English ['Save'] in 'Save'",
        "ISO date in 'ສົ່ງແລ້ວ 2026-01-31'",
        "Thai script in 'ส่ง'",
    ]
    wrong = page_problems(html.replace('lang="lo"', 'lang="vi"'), "lo", accepted=set(), data=[])
    assert wrong[0] == "<html lang='vi'>"


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("12000 viên", True),
        ("2.5 kg", True),
        ("12.000 viên", False),
        ("2,5 kg", False),
        ("QB-DEMO-0001 · 73C-123.45", False),
        ("Trang 2 / 14", False),
    ],
)
def test_the_check_sees_numbers_babel_did_not_write(text, raw):
    html = f'<html lang="vi"><body><p>{text}</p></body></html>'
    problems = page_problems(html, "vi", accepted=reader_words("vi"), data=[])
    assert bool(problems) is raw, problems


@pytest.mark.parametrize("lang", ["vi", "lo"])
@pytest.mark.parametrize(
    ("action", "target", "details"),
    [
        (
            "obligation_changed",
            ("obligation", 3),
            {
                "kind": "response_time",
                "before": {"params": {"days": 30, "warning_days": 5}, "active": True},
                "after": {"params": {"days": 20}, "active": False},
                "version": 2,
            },
        ),
        ("user_changed", ("user", 4), {"role": ["officer", "supervisor"], "organisation": ["QB"]}),
        ("case_updated", ("case", 1), {"changed": ["title", "border_gate", "agreements"]}),
        ("case_status_changed", ("case", 1), {"from": "open", "to": "investigating"}),
        (
            "compliance_exported",
            ("agreement", "QB-KM-MOU"),
            {"format": "pdf", "from": "2025-01-01", "to": "2025-03-31", "bytes": 48213},
        ),
        (
            "payload_open_failed",
            ("exchange_translation", 7),
            {"payload": 12, "sha256": "ab" * 32, "reason": "tampered"},
        ),
        ("totp_roles_set", ("setting", "totp_required_roles"), {"roles": ["admin"]}),
        ("login_failed", ("user", "unknown"), {"locked": False}),
        ("reference_data_loaded", ("hub", "reference"), {"places": 14, "agreements": 6}),
        ("keys_created", ("keyring", "-"), {"keys": ["QB/enc-v1:" + "0f" * 16]}),
    ],
)
def test_every_kind_of_audit_detail_reads_in_the_reader_language(
    app, lang, action, target, details
):
    """Each entry's record and details as the log page shows them: labels, dates and
    numbers in the reader's language; digests and fingerprints as machine text."""
    from flask_babel import force_locale

    from hub.web import audit_labels as shown

    with app.test_request_context("/"), force_locale(lang):
        html = f"<html lang={lang}><body><p>{shown.target_label(*target)}</p>"
        html += f"<p>{shown.detail_list(details, action=action)}</p></body></html>"
    problems = page_problems(html, lang, accepted=reader_words(lang) | {"QB"}, data=[])
    assert not problems, html


def test_every_audit_action_detail_key_and_record_type_in_the_code_has_a_label():
    """A new operation's action, detail keys and record types get labels before they
    reach the log page (found in the code: audit.record(...) calls and the dicts they
    are given, and the record types sealed content is bound to)."""
    import ast
    from pathlib import Path

    import hub
    from hub.web import audit_labels
    from hub.web.audit import ACTIONS

    keys, types, actions = set(), set(), set()
    for path in Path(hub.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    # sealed content is audited under its record_type when opened
                    bound = kw.arg in ("target_type", "record_type")
                    if bound and isinstance(kw.value, ast.Constant):
                        types.add(kw.value.value)
                if getattr(node.func, "attr", None) == "record" and node.args:
                    first = node.args[0]
                    shapes = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
                    actions |= {a.value for a in shapes if isinstance(a, ast.Constant)}
                for kw in node.keywords:
                    if getattr(node.func, "attr", None) != "record" or kw.arg != "details":
                        continue
                    if isinstance(kw.value, ast.Dict):
                        keys |= {k.value for k in kw.value.keys if isinstance(k, ast.Constant)}
            named = isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) in ("details", "added", "before") for t in node.targets
            )
            if named and isinstance(node.value, ast.Dict):
                keys |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    assert len(keys) > 40, keys  # the scan still finds them
    assert len(actions) > 40, actions
    assert sorted(actions - set(ACTIONS)) == []
    assert sorted(keys - set(audit_labels.DETAIL_KEYS)) == []
    assert sorted(types - set(audit_labels.TARGET_TYPES)) == []
