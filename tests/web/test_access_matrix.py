"""Who may do what: every role of every organisation against every id-taking route.

Table-driven: each Route names who may use it; the pages' routes are appended
to ROUTES the same way (face="page").  A cell is one of
  ok        authorised (any answer but 403/404; 422/409 are fine: the body may be refused later)
  forbidden 403 (sees the record, may not do this)
  hidden    404 (cannot tell the record exists)
Records: an exchange QB -> KM under QB-KM-MOU, and a case owned by QB with KM involved.
Savannakhet and administrators see neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from hub.cli.setup import DEMO_ACCOUNTS

ROLES = [(name, org, role) for name, org, role, _lang in DEMO_ACCOUNTS]
PARTIES = {"QB", "KM"}  # of both records


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # {exchange} and {case} are filled with the records' ids
    rule: Callable[[str, str], str]  # (org, role) for a party of the record -> ok/forbidden
    face: str = "api"
    body: dict | None = field(default=None, hash=False)
    multipart: bool = False


def readers(org: str, role: str) -> str:
    return "ok"


def officers(org: str, role: str) -> str:
    return "ok" if role == "officer" else "forbidden"


def officers_of(owner: str) -> Callable[[str, str], str]:
    def rule(org: str, role: str) -> str:
        return "ok" if role == "officer" and org == owner else "forbidden"

    rule.__name__ = f"officers_of_{owner}"
    return rule


ROUTES: list[Route] = [
    Route("get exchange", "GET", "/api/v1/exchanges/{exchange}", readers),
    Route("acknowledge", "POST", "/api/v1/exchanges/{exchange}/acknowledge", officers_of("KM")),
    Route("close request", "POST", "/api/v1/exchanges/{exchange}/close", officers_of("QB")),
    Route("link case", "PUT", "/api/v1/exchanges/{exchange}/case", officers, body={"case": None}),
    Route(
        "translate",
        "POST",
        "/api/v1/exchanges/{exchange}/translations",
        officers,
        body={"language": "xx", "body": "x"},
    ),
    Route(
        "forward",
        "POST",
        "/api/v1/exchanges/{exchange}/forward",
        officers,
        body={"agreement": "NO-SUCH", "recipient": "SV"},
    ),
    Route("court use", "POST", "/api/v1/exchanges/{exchange}/court-use", officers),
    Route(
        "attach",
        "POST",
        "/api/v1/exchanges/{exchange}/attachments",
        officers_of("QB"),
        body={"file": b"MZ-not-allowed"},
        multipart=True,
    ),
    Route("attachment", "GET", "/api/v1/exchanges/{exchange}/attachments/{attachment}", readers),
    Route("get case", "GET", "/api/v1/cases/{case}", readers),
    Route("edit case", "PATCH", "/api/v1/cases/{case}", officers_of("QB"), body={"title": ""}),
    Route(
        "case status",
        "POST",
        "/api/v1/cases/{case}/status",
        officers_of("QB"),
        body={"status": "prosecuted"},
    ),
    Route(
        "add seizure",
        "POST",
        "/api/v1/cases/{case}/seizures",
        officers,
        body={"drug_type": "heroin", "quantity": "0", "unit": "kg"},
    ),
    Route("add suspect", "POST", "/api/v1/cases/{case}/suspects", officers, body={"name": ""}),
    # The pages: the same rules through the other face (session cookie, CSRF token).
    Route("page exchange", "GET", "/exchanges/{exchange}", readers, face="page"),
    Route(
        "page attachment",
        "GET",
        "/exchanges/{exchange}/attachments/{attachment}",
        readers,
        face="page",
    ),
    Route(
        "page acknowledge",
        "POST",
        "/exchanges/{exchange}/acknowledge",
        officers_of("KM"),
        face="page",
        body={},
    ),
    Route(
        "page translate",
        "POST",
        "/exchanges/{exchange}/translations",
        officers,
        face="page",
        body={"language": "xx", "body": ""},
    ),
    Route("page case", "GET", "/cases/{case}", readers, face="page"),
    Route(
        "page case status",
        "POST",
        "/cases/{case}/status",
        officers_of("QB"),
        face="page",
        body={"status": "prosecuted"},
    ),
    Route(
        "page add seizure",
        "POST",
        "/cases/{case}/seizures",
        officers,
        face="page",
        body={"drug_type": "heroin", "quantity": "", "unit": "kg"},
    ),
    Route(
        "page add suspect",
        "POST",
        "/cases/{case}/suspects",
        officers,
        face="page",
        body={"name": ""},
    ),
]


def expected(route: Route, org: str, role: str) -> str:
    if route.face == "page" and route.method != "GET" and role != "officer":
        # The pages gate writes by role before looking the record up: the same 403
        # for any id, so it reveals nothing either.
        return "forbidden"
    if role == "admin" or org not in PARTIES:
        return "hidden"
    return route.rule(org, role)


def outcome(status: int) -> str:
    assert status < 500
    return {403: "forbidden", 404: "hidden"}.get(status, "ok")


@pytest.fixture
def records(client, demo_users, api_token):
    import io

    qb = api_token("qb.officer")
    case = client.post(
        "/api/v1/cases", json={"title": "Ma trận", "organisations": ["KM"]}, headers=qb
    ).json
    exchange = client.post(
        "/api/v1/exchanges",
        json={
            "agreement": "QB-KM-MOU",
            "recipient": "KM",
            "kind": "request",
            "subject": "Ma trận quyền",
            "body": "x",
            "classification": "restricted",
            "reliability": "C",
            "credibility": 3,
            "handling": "H0",
            "case": case["id"],
        },
        headers=qb,
    ).json
    attachment = client.post(
        f"/api/v1/exchanges/{exchange['id']}/attachments",
        data={"file": (io.BytesIO(b"plain text"), "a.txt")},
        headers=qb,
        content_type="multipart/form-data",
    ).json
    return {"exchange": exchange["id"], "case": case["id"], "attachment": attachment["id"]}


def _call(client, route: Route, headers: dict, ids: dict):
    import io

    path = route.path.format(**ids)
    if route.multipart:
        data = {k: (io.BytesIO(v), "x.exe") for k, v in route.body.items()}
        return client.open(
            path,
            method=route.method,
            data=data,
            headers=headers,
            content_type="multipart/form-data",
        )
    kwargs = {"json": route.body} if route.body is not None else {}
    return client.open(path, method=route.method, headers=headers, **kwargs)


def _page_call(app, route: Route, name: str, ids: dict):
    # A fresh app context per browser: requests reuse the one pushed around them,
    # and its `g` caches the CSRF token of whoever came before.
    with app.app_context():
        return _page_request(app, route, name, ids)


def _page_request(app, route: Route, name: str, ids: dict):
    from tests.conftest import Browser

    browser = Browser(app.test_client())
    login = browser.login(name)
    assert login.status_code == 302, (name, login.status_code, login.get_data(as_text=True)[-800:])
    path = route.path.format(**ids)
    if route.method == "GET":
        return browser.client.get(path)
    import re

    home = browser.client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', home)
    assert token, (name, browser.client.get("/").status_code, home[:300])
    data = {**(route.body or {}), "csrf_token": token.group(1)}
    return browser.client.open(path, method=route.method, data=data)


@pytest.mark.parametrize("face", ["api", "page"])
def test_access_matrix(app, client, records, api_token, face):
    tokens = {name: api_token(name) for name, _org, _role in ROLES}
    wrong = []
    for route in ROUTES:
        if route.face != face:
            continue
        for name, org, role in ROLES:
            if face == "api":
                response = _call(client, route, tokens[name], records)
            else:
                response = _page_call(app, route, name, records)
            got, want = outcome(response.status_code), expected(route, org, role)
            if got != want:
                wrong.append(f"{route.name} as {name}: {response.status_code} ({got}), want {want}")
    assert not wrong, "\n".join(wrong)


def test_matrix_can_fail(client, records, api_token):
    """The matrix is not vacuous: a rule that wrongly lets Savannakhet in is caught."""
    response = client.get(
        f"/api/v1/exchanges/{records['exchange']}", headers=api_token("sv.officer")
    )
    assert outcome(response.status_code) == "hidden"
    assert outcome(response.status_code) != "ok"


@pytest.mark.parametrize("path", ["/api/v1/exchanges", "/api/v1/cases"])
def test_only_officers_create(client, records, api_token, path):
    for name, _org, role in ROLES:
        response = client.post(path, json={"nonsense": True}, headers=api_token(name))
        assert response.status_code == (422 if role == "officer" else 403), name


def test_lists_hold_only_own_records(client, records, api_token):
    for name, org, role in ROLES:
        headers = api_token(name)
        exchanges = client.get("/api/v1/exchanges", headers=headers).json["items"]
        cases = client.get("/api/v1/cases", headers=headers).json["items"]
        visible = role != "admin" and org in PARTIES
        assert bool(exchanges) == visible, name
        assert bool(cases) == visible, name


def test_an_agreement_not_ones_own_answers_as_an_unknown_one(client, records, api_token):
    """No existence oracle: for every role, filtering by an agreement the organisation
    is not party to answers exactly as filtering by one that does not exist."""
    for name, org, _role in ROLES:
        headers = api_token(name)
        path = "/api/v1/exchanges"
        unknown = client.get(f"{path}?agreement=NO-SUCH-AGREEMENT", headers=headers)
        other = "QB-KM-MOU" if org == "SV" else "QB-SV-MOU" if org == "KM" else "NO-SUCH-2"
        foreign = client.get(f"{path}?agreement={other}", headers=headers)
        assert unknown.status_code == foreign.status_code == 422, name
        assert unknown.json["errors"] == foreign.json["errors"], name
