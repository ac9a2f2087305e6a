"""A package signed by a known partner is still hostile input: every field it carries
passes the rules local input passes (text hygiene, ranges, time bounds, media types
sniffed from the bytes, file names, sizes) before anything is stored, and a refusal
names the field.

Hub A holds QB's keys, hub B holds KM's; each trusts the other's public keys. The
hostile packages are really sealed and signed with QB's keys on hub A (not tampered
after signing), so hub B's signature checks pass and only its input rules stand
between the package and its tables.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import lazy_gettext as _l

from hub import app_keyring
from hub.crypto.package import export_package
from hub.crypto.sealing import canonical_json
from hub.crypto.sealing import seal as seal_envelope
from hub.errors import OperationError
from hub.extensions import db
from hub.models import Attachment, Exchange
from hub.operations import attachments, package_updates, packages, payloads
from hub.operations.actor import SYSTEM
from hub.operations.packages import INDEX_FORMAT, INDEX_RECORD_TYPE, INDEX_VERSION
from tests.operations import test_packages
from tests.operations.test_packages import counts, on

AGREEMENT = "QB-KM-MOU"
# The two-hub fixtures of test_packages (hub A: QB's keys, hub B: KM's).
other_hub = test_packages.other_hub
two_hubs = test_packages.two_hubs
_request = test_packages._request


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _binding(record_type: str, record_id: str) -> dict:
    return {
        "record_type": record_type,
        "record_id": record_id,
        "agreement": AGREEMENT,
        "sender": "QB",
        "recipient": "KM",
    }


def _seal(value: bytes, record_type: str, record_id: str, readers=("KM", "QB")):
    """``value`` sealed by QB (on hub A, with its real keys) for ``readers``."""
    version, key = app_keyring.signing_key("QB")
    return seal_envelope(
        value,
        binding=_binding(record_type, record_id),
        readers={org: app_keyring.public_enc(org) for org in readers},
        signer=("QB", version, key),
    )


def qb_package(items: list, *, exchanges: list[dict], updates: list[dict] | None = None) -> str:
    """The one shape of every hostile package: QB signs a bundle index naming
    ``exchanges`` (and ``updates``) for KM and exports it with the sealed ``items``."""
    document: dict = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "exchanges": exchanges}
    if updates is not None:
        document["updates"] = updates
    index_item = _seal(
        canonical_json(document),
        INDEX_RECORD_TYPE,
        payloads.global_record_id(uuid.uuid4()),
        readers=("KM",),
    )
    version, key = app_keyring.signing_key("QB")
    return export_package([index_item, *items], recipient="KM", exporter=("QB", version, key))


def hostile(
    entry: dict | None = None,
    *,
    attachment: tuple[dict, bytes] | None = None,
    att_entry: dict | None = None,
    body: dict | None = None,
    ref: str | None = None,
) -> str:
    """A package from QB with one exchange for KM.

    `entry` overrides fields of the bundle index's exchange entry; `attachment`
    is (header, bytes) of one attached file, `att_entry` overrides its index entry.
    """
    ref = ref or payloads.global_record_id(f"hostile-{uuid.uuid4().hex}")
    content = {"body": "Kiểm tra phương tiện", "fields": {}, "language": "vi"}
    content.update(body or {})
    body_item = _seal(canonical_json(content), "exchange", ref)
    items = [body_item]
    sent = datetime.now(UTC) - timedelta(days=1)
    index = {
        "ref": ref,
        "in_reply_to": None,
        "agreement": AGREEMENT,
        "sender": "QB",
        "recipient": "KM",
        "kind": "request",
        "classification": "confidential",
        "handling": "H0",
        "handling_note": "",
        "onward_sharing_permitted": False,
        "court_use_permitted": False,
        "reliability": "B",
        "credibility": 2,
        "subject": "Vehicle checks at Cha Lo",
        "language": "vi",
        "sent_at": _time(sent),
        "due_at": _time(sent + timedelta(days=7)),
        "item": body_item.digest,
        "attachments": [],
    }
    index.update(entry or {})
    if attachment is not None:
        header, data = attachment
        att = _seal(canonical_json(header) + b"\n" + data, "attachment", f"{ref}/att")
        items.append(att)
        index["attachments"] = [
            {"media_type": header.get("media_type"), "size": len(data), "item": att.digest}
            | (att_entry or {})
        ]
    return qb_package(items, exchanges=[index])


def refused(hub, text: str) -> str:
    """Import `text` on `hub`: it must be refused with nothing stored; the message."""
    with on(hub):
        before = counts() | {"Attachment": db.session.query(Attachment).count()}
        with pytest.raises(OperationError) as caught:
            packages.import_package(SYSTEM, text)
        db.session.rollback()
        after = counts() | {"Attachment": db.session.query(Attachment).count()}
        assert after == before
        return str(caught.value.message)


def test_a_well_formed_hostile_package_is_accepted(two_hubs):
    """The builder itself is sound: its package goes in (so the refusals below are the rules')."""
    _hub_a, hub_b = two_hubs
    text = hostile(
        attachment=({"filename": "n.txt", "media_type": "text/plain", "size": 3}, b"ok\n")
    )
    with on(hub_b):
        result = packages.import_package(SYSTEM, text)
        row = db.session.get(Exchange, result.exchange_ids[0])
        assert row.subject == "Vehicle checks at Cha Lo"
        assert row.attachments[0].media_type == "text/plain"


HTML = b"<html><script>alert(document.cookie)</script></html>"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"credibility": 99}, "credibility"),
        ({"credibility": "abc"}, "credibility"),
        ({"credibility": True}, "credibility"),
        ({"language": "zz<>"}, "language"),
        ({"subject": "Xe\x00 tải\x07 \u202egpj.exe"}, "subject"),
        ({"subject": "inv\u202egpj.exe"}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"handling_note": "bell\x07"}, "handling_note"),
        ({"sent_at": "2099-01-01T00:00:00Z"}, "sent_at"),
        ({"sent_at": "0001-01-01T00:00:00Z"}, "sent_at"),
        ({"sent_at": "yesterday"}, "sent_at"),
        ({"due_at": "2000-01-01T00:00:00Z"}, "due_at"),
        ({"due_at": "9999-12-31T00:00:00Z"}, "due_at"),
        ({"kind": "gossip"}, "kind"),
        ({"reliability": "Z"}, "reliability"),
        ({"handling": "H3", "handling_note": ""}, "handling_note"),
        ({"onward_sharing_permitted": "yes"}, "onward_sharing_permitted"),
    ],
)
def test_index_fields_pass_the_local_rules(two_hubs, entry, field):
    _hub_a, hub_b = two_hubs
    message = refused(hub_b, hostile(entry))
    assert field in message


def test_a_body_with_control_characters_is_refused(two_hubs):
    _hub_a, hub_b = two_hubs
    assert "body" in refused(hub_b, hostile(body={"body": "line\x00\u202e"}))


def test_fields_nested_too_deep_in_the_body_are_refused(two_hubs):
    _hub_a, hub_b = two_hubs
    deep: dict = {}
    for _ in range(20):
        deep = {"a": deep}
    assert "fields" in refused(hub_b, hostile(body={"fields": deep}))
    for _ in range(200):
        deep = {"a": deep}
    assert "body" in refused(hub_b, hostile(body={"fields": deep}))


@pytest.mark.parametrize(
    ("header", "data", "att_entry", "field"),
    [
        # The defect: typed text/html, a path for a name, served back as text/html.
        (
            {"filename": "../../evil.html", "media_type": "text/html", "size": len(HTML)},
            HTML,
            {},
            "filename",
        ),
        (
            {"filename": "evil.html", "media_type": "text/html", "size": len(HTML)},
            HTML,
            {},
            "media_type",
        ),
        # Bytes that are a PNG, declared as a PDF.
        (
            {"filename": "a.pdf", "media_type": "application/pdf", "size": 8},
            b"\x89PNG\r\n\x1a\n",
            {},
            "media_type",
        ),
        (
            {"filename": "a.txt", "media_type": "text/plain", "size": 3},
            b"ok\n",
            {"size": -5},
            "size",
        ),
        (
            {"filename": "a.txt", "media_type": "text/plain", "size": 3},
            b"ok\n",
            {"size": "abc"},
            "size",
        ),
        (
            {"filename": "inv\u202etxt.exe", "media_type": "text/plain", "size": 3},
            b"ok\n",
            {},
            "filename",
        ),
        ({"filename": "", "media_type": "text/plain", "size": 3}, b"ok\n", {}, "filename"),
        ({"filename": "a.txt", "media_type": "text/plain", "size": 0}, b"", {}, "file"),
    ],
)
def test_attachments_pass_the_local_rules(two_hubs, header, data, att_entry, field):
    _hub_a, hub_b = two_hubs
    message = refused(hub_b, hostile(attachment=(header, data), att_entry=att_entry))
    assert field in message


def test_an_html_attachment_is_never_served_as_html(two_hubs):
    """Even had it been stored, the download answers with a sniffed, allowed type."""
    _hub_a, hub_b = two_hubs
    text = hostile(
        attachment=(
            {"filename": "../../evil.html", "media_type": "text/html", "size": len(HTML)},
            HTML,
        )
    )
    with on(hub_b):
        with pytest.raises(OperationError):
            packages.import_package(SYSTEM, text)
        db.session.rollback()
        assert db.session.query(Attachment).filter_by(media_type="text/html").count() == 0


def test_attachment_types_come_from_the_shared_allow_list():
    assert "text/html" not in attachments.ALLOWED


@pytest.mark.parametrize(
    "entry",
    [{"credibility": "abc"}, {"sent_at": "2099-01-01T00:00:00Z"}],
)
def test_the_cli_refuses_in_one_line_without_a_traceback(two_hubs, tmp_path, entry):
    _hub_a, hub_b = two_hubs
    path = tmp_path / "hostile.bhpkg.json"
    path.write_text(hostile(entry), encoding="utf-8")
    with on(hub_b):
        before = counts()
        result = hub_b.test_cli_runner().invoke(args=["package", "import", str(path)])
        assert result.exit_code != 0
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1, result.output
        assert lines[0].startswith("hub: ")
        field = next(iter(entry))
        assert field in lines[0]
        assert counts() == before
        assert not (tmp_path / "hostile.bhpkg.json.receipt.json").exists()


def test_the_cli_line_is_translated(two_hubs, tmp_path):
    _hub_a, hub_b = two_hubs
    path = tmp_path / "hostile.bhpkg.json"
    path.write_text(hostile({"credibility": 99}), encoding="utf-8")
    with hub_b.test_request_context(headers={"Accept-Language": "vi"}):
        expected = str(_l("Choose one of: %(choices)s.", choices="1, 2, 3, 4, 5, 6"))
        result = hub_b.test_cli_runner().invoke(args=["package", "import", str(path)])
        db.session.remove()
    assert expected != "Choose one of: 1, 2, 3, 4, 5, 6."
    assert result.exit_code != 0
    [line] = [line for line in result.output.splitlines() if line.strip()]
    assert expected in line


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, '{"a":' * 5_000 + "1" + "}" * 5_000, '{"format": 1, "format": 2}'],
    ids=["100000 brackets", "5000 objects", "duplicate key"],
)
def test_a_deep_or_ambiguous_package_is_refused_cleanly(app, text, tmp_path):
    before = counts()
    with pytest.raises(OperationError) as caught:
        packages.import_package(SYSTEM, text)
    assert "format and version" in str(caught.value.message)
    assert counts() == before
    path = tmp_path / "deep.json"
    path.write_text(text, encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["package", "import", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1


def hostile_update(gid: str, header: dict, data: bytes, **update) -> str:
    """A package from QB updating exchange `gid` (held by KM) with one attached file."""
    att = _seal(
        canonical_json(header) + b"\n" + data,
        "attachment",
        f"{gid}/att-{uuid.uuid4().hex[:8]}",
    )
    change = {
        "type": "attachment",
        "exchange": gid,
        "at": _time(datetime.now(UTC) - timedelta(hours=1)),
        "item": att.digest,
        "media_type": header.get("media_type"),
        "size": len(data),
    } | update
    return qb_package([att], exchanges=[], updates=[change])


@pytest.mark.parametrize(
    ("header", "data", "update", "field"),
    [
        (
            {"filename": "../../evil.html", "media_type": "text/html", "size": len(HTML)},
            HTML,
            {},
            "updates[0]",
        ),
        (
            {"filename": "n.txt", "media_type": "text/plain", "size": 3},
            b"ok\n",
            {"size": -5},
            "size",
        ),
        (
            {"filename": "n.txt", "media_type": "text/plain", "size": 3},
            b"ok\n",
            {"at": "2099-01-01T00:00:00Z"},
            "updates[0].at",
        ),
    ],
)
def test_updates_pass_the_local_rules_too(two_hubs, header, data, update, field):
    """Updates to an exchange the partner already holds (an attached file, a time) are
    checked like the exchange itself: nothing stored, the field named."""
    _hub_a, hub_b = two_hubs
    first = hostile(ref=payloads.global_record_id(uuid.uuid4().int % 10**12))
    with on(hub_b):
        result = packages.import_package(SYSTEM, first)
        gid = package_updates.origin_id(db.session.get(Exchange, result.exchange_ids[0]))
    assert field in refused(hub_b, hostile_update(gid, header, data, **update))
