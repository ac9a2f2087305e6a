"""Reference data that `hub init` loads: organisations, places, sample agreements.

The agreements are SAMPLE data (is_sample=True) with realistic obligations, for
an administrator to edit; their codes are fixed because scripts and partners
refer to them.  Lao names follow shared/GLOSSARY.md (ຳ composed, Lao script only).
"""

from __future__ import annotations

from datetime import date
from typing import NotRequired, TypedDict


class NameSpec(TypedDict):
    valid_from: date
    valid_to: date | None
    name_vi: str
    name_lo: str
    name_en: str
    short_vi: str
    short_lo: str
    short_en: str


class OrganisationSpec(TypedDict):
    code: str
    country: str
    kind: str
    names: list[NameSpec]


#: (obligation kind, its parameters)
ObligationSpec = tuple[str, dict[str, int]]


class AgreementSpec(TypedDict):
    code: str
    kind: str
    parties: list[str]
    signed_on: date | None
    effective_from: date | None
    effective_to: NotRequired[date | None]
    title_vi: str
    title_lo: str
    title_en: str
    obligations: list[ObligationSpec]


MERGER_DAY = date(2025, 7, 1)  # Quảng Bình joined Quảng Trị; Viet Nam dropped districts.

ORGANISATIONS: list[OrganisationSpec] = [
    {
        "code": "QB",
        "country": "VN",
        "kind": "blo",
        "names": [
            {
                "valid_from": date(2000, 1, 1),
                "valid_to": date(2025, 6, 30),
                "name_vi": "Văn phòng liên lạc phòng, chống ma túy và tội phạm qua biên giới "
                "tỉnh Quảng Bình",
                "name_lo": "ຫ້ອງການປະສານງານຊາຍແດນ ແຂວງກວາງບິ່ງ",
                "name_en": "Quảng Bình Provincial Border Liaison Office",
                "short_vi": "BLO Quảng Bình",
                "short_lo": "BLO ກວາງບິ່ງ",
                "short_en": "BLO Quảng Bình",
            },
            {
                "valid_from": MERGER_DAY,
                "valid_to": None,
                "name_vi": "Văn phòng liên lạc phòng, chống ma túy và tội phạm qua biên giới "
                "Quảng Bình (tỉnh Quảng Trị)",
                "name_lo": "ຫ້ອງການປະສານງານຊາຍແດນ ກວາງບິ່ງ (ແຂວງກວາງຈີ)",
                "name_en": "Quảng Bình Border Liaison Office (Quảng Trị province)",
                "short_vi": "BLO Quảng Bình (Quảng Trị)",
                "short_lo": "BLO ກວາງບິ່ງ (ກວາງຈີ)",
                "short_en": "BLO Quảng Bình (Quảng Trị)",
            },
        ],
    },
    {
        "code": "KM",
        "country": "LA",
        "kind": "blo",
        "names": [
            {
                "valid_from": date(2000, 1, 1),
                "valid_to": None,
                "name_vi": "Văn phòng liên lạc qua biên giới tỉnh Khăm Muộn",
                "name_lo": "ຫ້ອງການປະສານງານຊາຍແດນ ແຂວງຄຳມ່ວນ",
                "name_en": "Khammouane Provincial Border Liaison Office",
                "short_vi": "BLO Khăm Muộn",
                "short_lo": "BLO ຄຳມ່ວນ",
                "short_en": "BLO Khammouane",
            }
        ],
    },
    {
        "code": "SV",
        "country": "LA",
        "kind": "blo",
        "names": [
            {
                "valid_from": date(2000, 1, 1),
                "valid_to": None,
                "name_vi": "Văn phòng liên lạc qua biên giới tỉnh Savannakhet",
                "name_lo": "ຫ້ອງການປະສານງານຊາຍແດນ ແຂວງສະຫວັນນະເຂດ",
                "name_en": "Savannakhet Provincial Border Liaison Office",
                "short_vi": "BLO Savannakhet",
                "short_lo": "BLO ສະຫວັນນະເຂດ",
                "short_en": "BLO Savannakhet",
            }
        ],
    },
]

# (code, kind, country, parent code, valid_from, valid_to, successor code, vi, lo, en)
PLACES = [
    (
        "VN-QT",
        "province",
        "VN",
        None,
        None,
        None,
        None,
        "tỉnh Quảng Trị",
        "ແຂວງກວາງຈີ",
        "Quảng Trị province",
    ),
    (
        "VN-QB",
        "province",
        "VN",
        None,
        None,
        date(2025, 6, 30),
        "VN-QT",
        "tỉnh Quảng Bình",
        "ແຂວງກວາງບິ່ງ",
        "Quảng Bình province",
    ),
    (
        "VN-QB-MH",
        "district",
        "VN",
        "VN-QB",
        None,
        date(2025, 6, 30),
        None,
        "huyện Minh Hóa",
        "ເມືອງມິງຫ້ວາ",
        "Minh Hóa district",
    ),
    (
        "VN-QB-MH-DH",
        "commune",
        "VN",
        "VN-QB-MH",
        None,
        date(2025, 6, 30),
        "VN-QT-DH",
        "xã Dân Hóa",
        "ຕາແສງເຢີນຫ້ວາ",
        "Dân Hóa commune",
    ),
    (
        "VN-QT-DH",
        "commune",
        "VN",
        "VN-QT",
        MERGER_DAY,
        None,
        None,
        "xã Dân Hóa",
        "ຕາແສງເຢີນຫ້ວາ",
        "Dân Hóa commune",
    ),
    (
        "VN-CHALO",
        "border_gate",
        "VN",
        "VN-QB",
        None,
        None,
        None,
        "Cửa khẩu quốc tế Cha Lo",
        "ດ່ານສາກົນ ຈາລໍ",
        "Cha Lo international border gate",
    ),
    (
        "VN-LAOBAO",
        "border_gate",
        "VN",
        "VN-QT",
        None,
        None,
        None,
        "Cửa khẩu quốc tế Lao Bảo",
        "ດ່ານສາກົນ ລາວບາວ",
        "Lao Bảo international border gate",
    ),
    (
        "LA-KM",
        "province",
        "LA",
        None,
        None,
        None,
        None,
        "tỉnh Khăm Muộn",
        "ແຂວງຄຳມ່ວນ",
        "Khammouane province",
    ),
    (
        "LA-KM-BLP",
        "district",
        "LA",
        "LA-KM",
        None,
        None,
        None,
        "huyện Bua La Pha",
        "ເມືອງບົວລະພາ",
        "Boualapha district",
    ),
    (
        "LA-KM-THK",
        "district",
        "LA",
        "LA-KM",
        None,
        None,
        None,
        "thành phố Thà Khẹt",
        "ເມືອງທ່າແຂກ",
        "Thakhek district",
    ),
    (
        "LA-KM-NAPHAO",
        "border_gate",
        "LA",
        "LA-KM",
        None,
        None,
        None,
        "Cửa khẩu quốc tế Na Phàu",
        "ດ່ານສາກົນ ນາເພົ້າ",
        "Na Phao international border gate",
    ),
    (
        "LA-SV",
        "province",
        "LA",
        None,
        None,
        None,
        None,
        "tỉnh Savannakhet",
        "ແຂວງສະຫວັນນະເຂດ",
        "Savannakhet province",
    ),
    (
        "LA-SV-XP",
        "district",
        "LA",
        "LA-SV",
        None,
        None,
        None,
        "huyện Xê Pôn",
        "ເມືອງເຊໂປນ",
        "Xépôn district",
    ),
    (
        "LA-SV-DSV",
        "border_gate",
        "LA",
        "LA-SV",
        None,
        None,
        None,
        "Cửa khẩu quốc tế Đen Sa Vẳn",
        "ດ່ານສາກົນ ແດນສະຫວັນ",
        "Dansavanh international border gate",
    ),
]

PROVINCIAL_OBLIGATIONS: list[ObligationSpec] = [
    ("response_time", {"days": 7, "warning_days": 2}),
    ("acknowledge_time", {"hours": 48}),
    ("meeting_interval", {"days": 90}),
    ("periodic_report", {"days": 30}),
]

AGREEMENTS: list[AgreementSpec] = [
    {
        "code": "QB-KM-MOU",
        "kind": "memorandum",
        "parties": ["QB", "KM"],
        "signed_on": date(2019, 11, 12),
        "effective_from": date(2020, 1, 1),
        "title_vi": "Bản ghi nhớ hợp tác phòng, chống ma túy và tội phạm qua biên giới giữa "
        "tỉnh Quảng Bình và tỉnh Khăm Muộn (mẫu)",
        "title_lo": "ບົດບັນທຶກຄວາມເຂົ້າໃຈ ວ່າດ້ວຍການຮ່ວມມືຕ້ານຢາເສບຕິດ ແລະ ອາຊະຍາກຳຂ້າມຊາຍແດນ "
        "ລະຫວ່າງ ແຂວງກວາງບິ່ງ ແລະ ແຂວງຄຳມ່ວນ (ຕົວຢ່າງ)",
        "title_en": "Quảng Bình–Khammouane memorandum on cooperation against drugs and "
        "cross-border crime (sample)",
        "obligations": PROVINCIAL_OBLIGATIONS,
    },
    {
        "code": "QB-SV-MOU",
        "kind": "memorandum",
        "parties": ["QB", "SV"],
        "signed_on": date(2020, 6, 18),
        "effective_from": date(2020, 7, 1),
        "title_vi": "Bản ghi nhớ hợp tác phòng, chống ma túy và tội phạm qua biên giới giữa "
        "tỉnh Quảng Bình và tỉnh Savannakhet (mẫu)",
        "title_lo": "ບົດບັນທຶກຄວາມເຂົ້າໃຈ ວ່າດ້ວຍການຮ່ວມມືຕ້ານຢາເສບຕິດ ແລະ ອາຊະຍາກຳຂ້າມຊາຍແດນ "
        "ລະຫວ່າງ ແຂວງກວາງບິ່ງ ແລະ ແຂວງສະຫວັນນະເຂດ (ຕົວຢ່າງ)",
        "title_en": "Quảng Bình–Savannakhet memorandum on cooperation against drugs and "
        "cross-border crime (sample)",
        "obligations": PROVINCIAL_OBLIGATIONS,
    },
    {
        "code": "VN-LA-BILATERAL",
        "kind": "bilateral",
        "parties": ["QB", "KM", "SV"],
        "signed_on": None,
        "effective_from": None,
        "title_vi": "Hiệp định hợp tác Việt Nam – Lào về phòng, chống ma túy (mẫu)",
        "title_lo": "ສັນຍາຮ່ວມມື ຫວຽດນາມ – ລາວ ວ່າດ້ວຍການຕ້ານຢາເສບຕິດ (ຕົວຢ່າງ)",
        "title_en": "Việt Nam–Laos bilateral drug-control cooperation agreement (sample)",
        "obligations": [("response_time", {"days": 14, "warning_days": 3})],
    },
    {
        "code": "UN-1988",
        "kind": "convention",
        "parties": ["QB", "KM", "SV"],
        "signed_on": date(1988, 12, 20),
        "effective_from": date(1990, 11, 11),
        "title_vi": "Công ước của Liên hợp quốc về chống buôn bán bất hợp pháp các chất ma túy "
        "và chất hướng thần năm 1988 (mẫu)",
        "title_lo": "ສົນທິສັນຍາສະຫະປະຊາຊາດ ວ່າດ້ວຍການຕ້ານການຄ້າຂາຍຢາເສບຕິດ ແລະ "
        "ສານອອກລິດຕໍ່ຈິດປະສາດ ທີ່ຜິດກົດໝາຍ ປີ 1988 (ຕົວຢ່າງ)",
        "title_en": "1988 United Nations Convention against Illicit Traffic in Narcotic Drugs "
        "and Psychotropic Substances (sample)",
        "obligations": [],
    },
    {
        "code": "MEKONG-MOU-1993",
        "kind": "memorandum",
        "parties": ["QB", "KM", "SV"],
        "signed_on": date(1993, 10, 21),
        "effective_from": date(1993, 10, 21),
        "title_vi": "Bản ghi nhớ Tiểu vùng Mê Kông về kiểm soát ma túy năm 1993 (mẫu)",
        "title_lo": "ບົດບັນທຶກຄວາມເຂົ້າໃຈ ອະນຸພາກພື້ນແມ່ນ້ຳຂອງ ວ່າດ້ວຍການຄວບຄຸມຢາເສບຕິດ ປີ 1993 (ຕົວຢ່າງ)",
        "title_en": "1993 Mekong Memorandum of Understanding on Drug Control (sample)",
        "obligations": [],
    },
    {
        "code": "PLAN-42-2023",
        "kind": "plan",
        "parties": ["QB", "KM", "SV"],
        "signed_on": date(2023, 3, 17),
        "effective_from": date(2021, 1, 1),
        "effective_to": date(2025, 12, 31),
        "title_vi": "Kế hoạch số 42/KH-BCĐ ngày 17/3/2023 thực hiện Chương trình phòng, chống "
        "ma túy giai đoạn 2021–2025 (mẫu)",
        "title_lo": "ແຜນການ ເລກທີ 42/KH-BCĐ ລົງວັນທີ 17/3/2023 ປະຕິບັດແຜນງານຕ້ານຢາເສບຕິດ "
        "ໄລຍະ 2021–2025 (ຕົວຢ່າງ)",
        "title_en": "Plan 42/KH-BCĐ of 17 March 2023 implementing the 2021–2025 drug-control "
        "programme (sample)",
        "obligations": [("periodic_report", {"days": 90})],
    },
]
