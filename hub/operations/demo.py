"""Sample cases and exchanges for `hub demo`, recorded through the domain operations.

So the demo data is validated, sealed and audited like real work.  Idempotent:
the first demo case's reference marks that the sample work is there.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from hub.extensions import db
from hub.models import Case, Organisation, User
from hub.models.base import utcnow
from hub.operations import cases, exchanges
from hub.operations.actor import Actor
from hub.operations.cases import CaseInput, SeizureInput, SuspectInput
from hub.operations.exchanges import NewExchange

MARKER = "QB-DEMO-0001"


def _actor(username: str) -> Actor | None:
    user = db.session.scalar(select(User).where(User.username == username))
    return Actor.for_user(user) if user is not None else None


def _exchange(actor: Actor, days_ago: float, **values: Any) -> int:
    defaults = {
        "classification": "confidential",
        "reliability": "B",
        "credibility": 2,
        "handling": "H0",
    }
    sent_at = utcnow() - timedelta(days=days_ago)
    row = exchanges.send(actor, NewExchange(**{**defaults, **values}, sent_at=sent_at))
    return row.id


def load_demo_data() -> dict[str, int]:
    """Add sample work once (needs the demo accounts); returns what was added."""
    # QB's own reference: references are unique per owning organisation (0007).
    qb_id = select(Organisation.id).where(Organisation.code == "QB").scalar_subquery()
    marker = select(Case.id).where(Case.owner_organisation_id == qb_id, Case.reference == MARKER)
    if db.session.scalar(marker) is not None:
        return {"cases": 0, "exchanges": 0}
    qb, km, sv = _actor("qb.officer"), _actor("km.officer"), _actor("sv.officer")
    if qb is None or km is None or sv is None:
        return {"cases": 0, "exchanges": 0}
    today = utcnow().date()

    chalo = cases.create_case(
        qb,
        CaseInput(
            reference=MARKER,
            title="Vận chuyển ma túy đá qua cửa khẩu Cha Lo",
            opened_on=today - timedelta(days=40),
            province="VN-QT",
            border_gate="VN-CHALO",
            place_note="Quốc lộ 12A, km 38",
            organisations=["KM"],
            agreements=["QB-KM-MOU"],
        ),
        seizures=[
            SeizureInput(drug_type="crystal_meth", quantity=Decimal("2.5"), unit="kg"),
            SeizureInput(drug_type="meth_tablets", quantity=Decimal(12000), unit="tablets"),
        ],
        suspects=[
            SuspectInput(
                name="Nguyễn Văn Đức",
                nationality="VN",
                identity_document="044099001234",
            )
        ],
    )
    cases.change_status(qb, chalo.id, "investigating")
    heroin = cases.create_case(
        qb,
        CaseInput(
            reference="QB-DEMO-0002",
            title="Heroin qua đường mòn biên giới Savannakhet",
            opened_on=today - timedelta(days=15),
            province="VN-QT",
            organisations=["SV"],
            agreements=["QB-SV-MOU"],
        ),
        seizures=[SeizureInput(drug_type="heroin", quantity=Decimal("0.75"), unit="kg")],
    )
    km_case = cases.create_case(
        km,
        CaseInput(
            reference="KM-DEMO-0001",
            title="ການລັກລອບຂົນສົ່ງຢາບ້າ ເມືອງບົວລະພາ",
            opened_on=today - timedelta(days=20),
            province="LA-KM",
            district="LA-KM-BLP",
            organisations=["QB"],
            agreements=["QB-KM-MOU"],
        ),
        seizures=[SeizureInput(drug_type="meth_tablets", quantity=Decimal(40000), unit="tablets")],
    )
    made = []
    answered = _exchange(
        qb,
        30,
        agreement="QB-KM-MOU",
        recipient="KM",
        kind="request",
        subject="Xác minh chủ xe tải biển số 73C-123.45",
        body="Đề nghị Văn phòng BLO Khăm Muộn xác minh chủ phương tiện và hành trình.",
        case=chalo.id,
    )
    made.append(answered)
    made.append(
        _exchange(
            km,
            27,
            agreement="QB-KM-MOU",
            recipient="QB",
            kind="response",
            subject="Trả lời: chủ xe tải 73C-123.45",
            body="ລົດຄັນດັ່ງກ່າວ ຈົດທະບຽນຢູ່ແຂວງຄຳມ່ວນ.",
            language="lo",
            in_reply_to=answered,
            case=None,
        )
    )
    made.append(
        _exchange(
            qb,
            12,
            agreement="QB-KM-MOU",
            recipient="KM",
            kind="request",
            subject="Đề nghị cung cấp danh sách đối tượng qua cửa khẩu Na Phao",
            body="Đề nghị cung cấp danh sách người qua lại trong tháng.",
            case=chalo.id,
        )
    )  # overdue: seven days under QB-KM-MOU
    alert = _exchange(
        km,
        5,
        agreement="QB-KM-MOU",
        recipient="QB",
        kind="alert",
        subject="Cảnh báo: nhóm vận chuyển ma túy di chuyển về phía Cha Lo",
        body="ກຸ່ມຂົນສົ່ງຢາເສບຕິດ ກຳລັງເຄື່ອນທີ່ໄປທາງ ຈາລໍ.",
        language="lo",
        handling="H2",
        reliability="A",
        credibility=1,
        case=km_case.id,
    )
    made.append(alert)
    exchanges.acknowledge(qb, alert)
    made.append(
        _exchange(
            qb,
            3,
            agreement="QB-KM-MOU",
            recipient="KM",
            kind="meeting",
            subject="Biên bản giao ban liên lạc quý",
            body="Hai bên thống nhất tăng cường tuần tra chung tại khu vực Cha Lo.",
            classification="restricted",
            handling="H3",
            handling_note="Chỉ sử dụng trong nội bộ hai văn phòng BLO.",
        )
    )
    asked = _exchange(
        qb,
        2,
        agreement="QB-SV-MOU",
        recipient="SV",
        kind="request",
        subject="Xác minh đối tượng trong vụ heroin",
        body="Đề nghị xác minh nhân thân đối tượng.",
        case=heroin.id,
    )
    made.append(asked)
    exchanges.acknowledge(sv, asked)
    made.append(
        _exchange(
            sv,
            1,
            agreement="QB-SV-MOU",
            recipient="QB",
            kind="periodic_report",
            subject="Báo cáo tháng về tình hình ma túy tuyến biên giới",
            body="ລາຍງານປະຈຳເດືອນ.",
            language="lo",
            classification="restricted",
        )
    )
    return {"cases": 3, "exchanges": len(made)}
