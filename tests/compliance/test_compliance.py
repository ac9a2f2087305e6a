"""Compliance evaluation against hand-computed fixtures (issue 7)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from hub.compliance import periods
from hub.compliance.evaluate import evaluate
from hub.compliance.rules import REGISTRY, validate_params
from hub.compliance.sql import RESPONSE_INDEX, RESPONSE_MONTH_INDEX, has_index
from hub.errors import Forbidden, NotFound, ValidationFailed
from hub.extensions import db
from hub.models import Agreement, AuditEntry, AuditLog, Organisation
from hub.operations import compliance, obligations
from hub.operations.actor import Actor
from tests.conftest import compliance_row as add

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _request(request):
    """Error messages are lazy strings resolved in the reader's locale: a request is needed."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    with app.test_request_context("/"):
        yield


T0 = datetime(2024, 1, 10, 3, 0, tzinfo=UTC)


def _org(code: str) -> Organisation:
    return db.session.scalar(select(Organisation).where(Organisation.code == code))


def _agreement(code: str = "QB-KM-MOU") -> Agreement:
    return db.session.scalar(select(Agreement).where(Agreement.code == code))


def outcome(report, kind):
    return next(o for o in report.outcomes if o.kind == kind)


def q1_2024():
    return periods.custom(date(2024, 1, 1), date(2024, 3, 31))


def test_three_requests_answered_after_2_7_9_days(app):
    late = None
    for days in (2, 7, 9):
        row = add("request", T0, answered_at=T0 + days * DAY)
        late = row if days == 9 else late
    report = evaluate(_agreement(), q1_2024(), now=datetime(2024, 6, 1, tzinfo=UTC))
    response = outcome(report, "response_time")
    assert response.figures["answered"] == 3
    assert response.figures["on_time"] == 2
    assert response.figures["late"] == 1
    assert response.figures["on_time_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert response.figures["median_days"] == pytest.approx(7.0)
    # percentile_cont: rank (3 - 1) * 0.9 = 1.8 -> 7 + 0.8 * (9 - 7)
    assert response.figures["p90_days"] == pytest.approx(8.6)
    assert response.figures["longest_days"] == pytest.approx(9.0)
    assert response.state == "breached"
    assert [e.exchange_id for e in response.evidence] == [late.id]
    with force_locale("en"):
        assert response.evidence[0].note() == "2 days late"
    # Only requests count: the meeting obligation is untouched by them.
    assert report.total_exchanges == 3
    # The same figures per month, for the chart against the deadline.
    assert report.response_monthly == {"2024-01": {"median": 7.0, "p90": 8.6, "answered": 3}}
    assert report.count("2024-01", (_org("QB").id, _org("KM").id), "request") == 3


def test_response_percentiles_over_the_period_and_per_month(app):
    # percentile_cont by hand.  January (from the 5th): 1, 2, 4, 8 days -> median at
    # rank 1.5 = 3.0, p90 at rank 2.7 = 4 + 0.7 * 4 = 6.8.  February: 3, 5, 6 ->
    # median 5.0, p90 at rank 1.8 = 5.8.  The period: 1, 2, 3, 4, 5, 6, 8 -> median
    # 4.0, p90 at rank 5.4 = 6 + 0.4 * 2 = 6.8.
    jan, feb = datetime(2024, 1, 10, 3, tzinfo=UTC), datetime(2024, 2, 12, 3, tzinfo=UTC)
    for days in (1, 2, 4, 8):
        add("request", jan, answered_at=jan + days * DAY)
    for days, kind in ((3, "request"), (5, "permission_request"), (6, "request")):
        add(kind, feb, sender="KM", recipient="QB", answered_at=feb + days * DAY)
    # January, but before the period starts: not counted, though in the same month.
    before = datetime(2024, 1, 2, 3, tzinfo=UTC)
    add("request", before, answered_at=before + 30 * DAY)
    add("request", feb)  # unanswered: no response time
    period = periods.custom(date(2024, 1, 5), date(2024, 2, 29))
    report = evaluate(_agreement(), period, now=datetime(2024, 6, 1, tzinfo=UTC))
    response = outcome(report, "response_time")
    assert response.figures["answered"] == 7
    assert response.figures["median_days"] == pytest.approx(4.0)
    assert response.figures["p90_days"] == pytest.approx(6.8)
    assert response.figures["longest_days"] == pytest.approx(8.0)
    assert response.figures["late"] == 1
    assert report.response_monthly == {
        "2024-01": {"median": 3.0, "p90": 6.8, "answered": 4},
        "2024-02": {"median": 5.0, "p90": 5.8, "answered": 3},
    }
    if db.engine.dialect.name == "sqlite":
        # Found by walking the response-time indexes of migration 0004, not by sorting.
        assert has_index(RESPONSE_INDEX)
        assert has_index(RESPONSE_MONTH_INDEX)


def test_unanswered_request_ten_days_old_is_breached(app):
    now = datetime(2024, 3, 20, 9, 0, tzinfo=UTC)
    old = add("request", now - 10 * DAY)
    response = outcome(evaluate(_agreement(), q1_2024(), now=now), "response_time")
    assert response.state == "breached"
    assert response.figures["overdue"] == 1
    assert response.figures["open"] == 1
    assert response.evidence[0].exchange_id == old.id
    assert response.evidence[0].reason == "overdue"
    assert response.evidence[0].amount == pytest.approx(3.0)


def test_unanswered_request_six_days_old_with_two_day_warning_is_at_risk(app):
    now = datetime(2024, 3, 20, 9, 0, tzinfo=UTC)
    soon = add("request", now - 6 * DAY)
    add("request", now - 3 * DAY)  # due in 4 days: neither late nor at risk
    report = evaluate(_agreement(), q1_2024(), now=now)
    response = outcome(report, "response_time")
    assert response.params == {"days": 7, "warning_days": 2}
    assert response.state == "at_risk"
    assert response.figures["due_soon"] == 1
    assert response.figures["overdue"] == 0
    assert [e.exchange_id for e in response.evidence] == [soon.id]
    with force_locale("en"):
        assert response.evidence[0].note() == "unanswered, due in 1 day"
    assert report.overdue == []


def test_meetings_80_and_100_days_apart_give_one_breach(app):
    first = datetime(2024, 1, 5, 2, 0, tzinfo=UTC)
    add("meeting", first)
    add("meeting", first + 80 * DAY)
    third = add("meeting", first + 180 * DAY)
    period = periods.custom(date(2024, 1, 1), (first + 200 * DAY).date())
    meetings = outcome(evaluate(_agreement(), period, now=first + 200 * DAY), "meeting_interval")
    assert meetings.figures["records"] == 3
    assert meetings.figures["gaps_over"] == 1
    assert meetings.figures["longest_gap_days"] == pytest.approx(100.0)
    assert meetings.figures["silent_now"] == 0
    assert meetings.state == "breached"
    assert [e.exchange_id for e in meetings.evidence] == [third.id]


def test_meeting_gap_across_the_period_start_and_silence_at_its_end(app):
    add("meeting", datetime(2023, 11, 1, tzinfo=UTC))  # before the period
    inside = add("meeting", datetime(2024, 2, 15, tzinfo=UTC))  # 106 days later
    period = periods.custom(date(2024, 1, 1), date(2024, 3, 31))
    meetings = outcome(
        evaluate(_agreement(), period, now=datetime(2025, 1, 1, tzinfo=UTC)), "meeting_interval"
    )
    assert meetings.figures["records"] == 1
    assert meetings.figures["gaps_over"] == 1
    assert meetings.evidence[0].exchange_id == inside.id
    # Judged at the period's end (31 March, UTC+7), 45 days after the last meeting.
    assert meetings.figures["days_since_last"] == pytest.approx(45.7, abs=0.1)
    # A later period with no meeting at all: silence since 15 February.
    later = outcome(
        evaluate(_agreement(), periods.quarter(2024, 3), now=datetime(2025, 1, 1, tzinfo=UTC)),
        "meeting_interval",
    )
    assert later.state == "breached"
    assert later.evidence[0].reason == "silence"
    assert later.evidence[0].exchange_id == inside.id


def test_meeting_due_soon_is_at_risk(app):
    add("meeting", datetime(2024, 1, 2, tzinfo=UTC))
    ob = _agreement().obligation("meeting_interval")
    ob.params = {"days": 90, "warning_days": 10}
    db.session.commit()
    meetings = outcome(
        evaluate(_agreement(), q1_2024(), now=datetime(2024, 3, 25, tzinfo=UTC)),
        "meeting_interval",
    )
    assert meetings.state == "at_risk"  # 83 days without a meeting; 90 allowed, 10 warning


def test_periodic_reports_are_judged_per_party(app):
    start = datetime(2024, 1, 3, tzinfo=UTC)
    for n in range(4):  # QB every 25 days
        add("periodic_report", start + 25 * n * DAY, sender="QB", recipient="KM")
    add("periodic_report", start, sender="KM", recipient="QB")
    late = add("periodic_report", start + 45 * DAY, sender="KM", recipient="QB")
    add("periodic_report", start + 70 * DAY, sender="KM", recipient="QB")
    period = periods.custom(date(2024, 1, 1), date(2024, 3, 31))
    reports = outcome(
        evaluate(_agreement(), period, now=datetime(2024, 3, 31, tzinfo=UTC)), "periodic_report"
    )
    assert reports.figures["records"] == 7
    assert reports.figures["gaps_over"] == 1
    assert reports.state == "breached"
    assert reports.evidence[0].exchange_id == late.id
    assert reports.evidence[0].party == "KM"


def test_periodic_report_gap_across_the_period_start_is_per_party(app):
    # KM's last report before the quarter is older than QB's: KM's first report
    # in the quarter is judged against it (56 days > 30), QB's are all in time.
    km = [datetime(2023, 11, 20, tzinfo=UTC)]
    km += [datetime(2024, m, d, tzinfo=UTC) for m, d in ((1, 15), (2, 10), (3, 5))]
    qb = [datetime(2023, 12, 28, tzinfo=UTC)]
    qb += [datetime(2024, m, d, tzinfo=UTC) for m, d in ((1, 20), (2, 15), (3, 10))]
    rows = {when: add("periodic_report", when, sender="KM", recipient="QB") for when in km}
    for when in qb:
        add("periodic_report", when, sender="QB", recipient="KM")
    reports = outcome(
        evaluate(_agreement(), q1_2024(), now=datetime(2024, 3, 31, tzinfo=UTC)),
        "periodic_report",
    )
    assert reports.figures["records"] == 6
    assert reports.figures["gaps_over"] == 1
    assert reports.figures["longest_gap_days"] == pytest.approx(56.0)
    assert reports.state == "breached"
    assert [(e.exchange_id, e.party) for e in reports.evidence] == [(rows[km[1]].id, "KM")]


def test_acknowledgement_hours(app):
    got = add("alert", T0, acknowledged_at=T0 + timedelta(hours=50), status="acknowledged")
    add("alert", T0, sender="KM", recipient="QB", acknowledged_at=T0 + timedelta(hours=3))
    # Answering a request acknowledges it too.
    add("request", T0, sender="KM", recipient="QB", answered_at=T0 + timedelta(hours=20))
    acks = outcome(
        evaluate(_agreement(), q1_2024(), now=datetime(2024, 6, 1, tzinfo=UTC)),
        "acknowledge_time",
    )
    assert acks.figures["total"] == 3
    assert acks.figures["on_time"] == 2
    assert acks.figures["late"] == 1
    assert "median_hours" not in acks.figures
    assert [(e.exchange_id, e.amount) for e in acks.evidence] == [(got.id, pytest.approx(2.0))]


def test_partner_filter_and_monthly_directions(app):
    add("request", T0, agreement="VN-LA-BILATERAL", sender="QB", recipient="KM")
    add("request", T0, agreement="VN-LA-BILATERAL", sender="SV", recipient="QB")
    add("alert", T0 + 40 * DAY, agreement="VN-LA-BILATERAL", sender="SV", recipient="QB")
    agreement = _agreement("VN-LA-BILATERAL")
    now = datetime(2024, 6, 1, tzinfo=UTC)
    everything = evaluate(agreement, q1_2024(), now=now)
    assert everything.total_exchanges == 3
    sv = evaluate(agreement, q1_2024(), partner=_org("SV"), now=now)
    assert sv.total_exchanges == 2
    assert sv.count("2024-02", (_org("SV").id, _org("QB").id), "alert") == 1
    assert sv.months() == ["2024-01", "2024-02", "2024-03"]
    response = outcome(sv, "response_time")
    assert response.figures["total"] == 1
    assert response.figures["overdue"] == 1  # 14 days under the bilateral agreement
    assert [o.exchange_id for o in sv.overdue] == [e.exchange_id for e in response.evidence]


def test_exchanges_between_other_organisations_still_count(app):
    # The monthly series counts the parties' directions in one pass; any other
    # pair (here SV, not a party to QB-KM-MOU) is found and counted too.
    add("alert", T0, sender="QB", recipient="KM")
    add("alert", T0, sender="SV", recipient="QB")
    add("request", T0 + 40 * DAY, sender="QB", recipient="SV")
    report = evaluate(_agreement(), q1_2024(), now=datetime(2024, 6, 1, tzinfo=UTC))
    qb, km, sv = _org("QB").id, _org("KM").id, _org("SV").id
    assert report.monthly == {
        ("2024-01", qb, km, "alert"): 1,
        ("2024-01", sv, qb, "alert"): 1,
        ("2024-02", qb, sv, "request"): 1,
    }
    assert report.total_exchanges == 3
    assert outcome(report, "response_time").figures["total"] == 1
    assert outcome(report, "acknowledge_time").figures["total"] == 3


def test_local_month_is_utc_plus_7(app):
    # 31 January 20:00 UTC is 1 February 03:00 in Vientiane and Hà Nội.
    add("alert", datetime(2024, 1, 31, 20, 0, tzinfo=UTC))
    report = evaluate(_agreement(), q1_2024(), now=datetime(2024, 6, 1, tzinfo=UTC))
    assert {m for (m, *_rest) in report.monthly} == {"2024-02"}


def test_no_exchanges_is_an_honest_empty_report(app):
    report = evaluate(_agreement(), periods.month(2024, 2), now=datetime(2024, 2, 20, tzinfo=UTC))
    assert report.empty
    response = outcome(report, "response_time")
    assert response.state == "met"
    assert response.figures["total"] == 0
    assert response.figures["on_time_rate"] is None
    assert response.figures["median_days"] is None
    assert report.overdue == []
    assert report.overdue_total == 0
    assert report.as_dict()["exchanges"]["monthly"] == []


def test_periods():
    assert periods.quarter(2024, 1) == periods.Period(
        date(2024, 1, 1), date(2024, 3, 31), "quarter"
    )
    assert periods.month(2024, 2).end == date(2024, 2, 29)
    assert periods.programme().start == date(2021, 1, 1)
    assert periods.programme().end == date(2025, 12, 31)
    # ISO week 1 of 2021 starts on Monday 4 January 2021.
    assert periods.iso_week(2021, 1).start == date(2021, 1, 4)
    assert periods.containing("week", date(2021, 1, 3)).start == date(2020, 12, 28)
    p = periods.month(2024, 1)
    assert p.start_utc == datetime(2023, 12, 31, 17, 0, tzinfo=UTC)
    assert p.end_utc == datetime(2024, 1, 31, 17, 0, tzinfo=UTC)
    assert len(periods.programme().months()) == 60


def test_bad_periods_are_named(app):
    with pytest.raises(ValidationFailed) as caught:
        periods.resolve(start="2024-03-01", end="2024-02-01")
    assert "to" in caught.value.errors
    with pytest.raises(ValidationFailed) as caught:
        periods.resolve(start="2024-13-01", end="2024-12-01")
    assert "from" in caught.value.errors
    with pytest.raises(ValidationFailed) as caught:
        periods.resolve(start="01/02/2024", end="")
    assert "from" in caught.value.errors
    with pytest.raises(ValidationFailed):
        periods.resolve(kind="fortnight")


def _actor(user) -> Actor:
    return Actor.for_user(user)


def test_only_party_users_see_an_agreement(app, demo_users):
    report = compliance.review(_actor(demo_users["km.supervisor"]), "QB-KM-MOU", kind="programme")
    assert report.period == periods.programme()
    assert compliance.review(_actor(demo_users["qb.officer"]), "QB-KM-MOU").agreement.code
    with pytest.raises(NotFound):
        compliance.review(_actor(demo_users["sv.supervisor"]), "QB-KM-MOU")
    with pytest.raises(NotFound):
        compliance.review(_actor(demo_users["sv.supervisor"]), "NO-SUCH-AGREEMENT")
    with pytest.raises(ValidationFailed) as caught:
        compliance.review(
            _actor(demo_users["km.supervisor"]),
            "QB-KM-MOU",
            start="2024-05-01",
            end="2024-04-01",
            partner="SV",
        )
    assert set(caught.value.errors) == {"to", "partner"}


def _entries(code: str) -> int:
    log = db.session.scalar(select(AuditLog).where(AuditLog.name == code))
    return db.session.scalar(select(func.count()).where(AuditEntry.log_id == log.id))


def test_admin_edits_obligations_with_validation_and_audit(app, demo_users):
    admin = _actor(demo_users["admin"])
    response = _agreement().obligation("response_time")
    before = _entries("QB-KM-MOU")
    for bad in (
        {"days": 0},
        {"days": -3},
        {"days": "7.5"},
        {"days": "abc"},
        {},
        {"days": 7, "x": 1},
    ):
        with pytest.raises(ValidationFailed):
            obligations.update_obligation(admin, "QB-KM-MOU", response.id, bad)
    with pytest.raises(ValidationFailed) as caught:
        obligations.update_obligation(
            admin, "QB-KM-MOU", response.id, {"days": 7, "warning_days": 9}
        )
    assert "warning_days" in caught.value.errors
    db.session.expire_all()
    assert _agreement().obligation("response_time").params == {"days": 7, "warning_days": 2}
    assert _entries("QB-KM-MOU") == before

    with pytest.raises(Forbidden):
        obligations.update_obligation(
            _actor(demo_users["qb.supervisor"]), "QB-KM-MOU", response.id, {"days": 5}
        )
    changed = obligations.update_obligation(
        admin, "QB-KM-MOU", response.id, {"days": "໑໐", "warning_days": 3}
    )
    assert changed.params == {"days": 10, "warning_days": 3}
    assert changed.version == 2
    assert _entries("QB-KM-MOU") == before + 1
    entry = db.session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert entry.action == "obligation_changed"
    assert entry.target_id == str(response.id)

    with pytest.raises(ValidationFailed):
        obligations.add_obligation(admin, "QB-KM-MOU", "response_time", {"days": 3})
    added = obligations.add_obligation(admin, "UN-1988", "meeting_interval", {"days": 180})
    assert added.active
    assert _entries("UN-1988") >= 2


def test_registry_holds_the_four_kinds_and_validates():
    assert set(REGISTRY) >= {
        "response_time",
        "acknowledge_time",
        "meeting_interval",
        "periodic_report",
    }
    assert validate_params("acknowledge_time", {"hours": "48"}) == ({"hours": 48}, {})
    clean, errors = validate_params("nonsense", {"days": 1})
    assert "kind" in errors
    assert clean == {}


def test_audit_panel_shows_verification_and_latest_checkpoint(app):
    from hub.audit.checkpoints import sign_head
    from tests.support.audit_support import make_hub_key

    make_hub_key(app)

    log = db.session.scalar(select(AuditLog).where(AuditLog.name == "QB-KM-MOU"))
    panel = evaluate(_agreement(), q1_2024()).audit
    assert panel.status == "never"
    log.last_verified_at = datetime(2024, 5, 1, tzinfo=UTC)
    log.last_verified_ok = False
    log.last_verified_message = "entry 0 does not match its hash"
    sign_head(db.session, log.id)
    db.session.commit()
    panel = evaluate(_agreement(), q1_2024()).audit
    assert panel.status == "failed"
    assert panel.verified_message == "entry 0 does not match its hash"
    assert panel.checkpoint_size == log.size
    assert panel.as_dict()["checkpoint"]["size"] == log.size


def test_charts_are_svg_with_text_labels_escaped(app):
    import xml.etree.ElementTree as ET

    from hub.compliance.charts import Series, bar_chart, nice_ticks

    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    svg = str(
        bar_chart(
            title="ບົດລາຍງານ <b>",
            categories=["2024-01", "2024-02"],
            series=[Series(f"ຊະນິດ {n} <script>", [n, 0], "#0b5394") for n in range(8)],
            y_label="Days",
            reference=(7.0, "Deadline: 7 days"),
        )
    )
    root = ET.fromstring(svg)  # noqa: S314 - our own output; well-formed: labels escaped
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "ຊະນິດ 7 <script>" in texts
    assert "Deadline: 7 days" in texts
    assert "2024-02" in texts
    assert "<script>" not in svg
    height = float(root.get("viewBox").split()[3])
    assert height > 280  # the legend needed more than one row
    empty = str(bar_chart(title="t", categories=[], series=[], y_label="n"))
    ET.fromstring(empty)  # noqa: S314
