"""Catalogs complete and honest, the locale policy, and library messages in vi and lo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from flask_babel import force_locale, get_locale, gettext
from flask_babel.speaklater import LazyString
from werkzeug.datastructures import MultiDict

from hub import i18n, i18n_check
from hub.i18n import LANG_COOKIE, compile_catalogs, select_locale
from hub.i18n_library import FormTranslations, wtforms_plural_messages

THAI = re.compile("[\u0e00-\u0e7f]")
LAO = re.compile("[\u0e80-\u0eff]")


def _html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True))
    assert match, "no <html lang> on the page"
    return match.group(1)


# --- the catalogs ---------------------------------------------------------------------


def test_catalogs_are_complete_current_and_clean():
    """The same check as `python -m hub.i18n_check`: CI fails while anything is missing."""
    problems = i18n_check.check_all()
    assert not problems, "\n".join(str(p) for p in problems[:40])


def _catalog(locale: str, entries: list[tuple], obsolete: list[str] = ()) -> Catalog:
    catalog = Catalog(locale=locale)
    for entry in entries:
        msgid, msgstr, *flags = entry
        catalog.add(msgid, msgstr, flags=flags)
    for msgid in obsolete:
        catalog.obsolete[msgid] = catalog.add(msgid, "x")
        del catalog[msgid]
    return catalog


def _write(root: Path, locale: str, catalog: Catalog) -> None:
    path = root / locale / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog)


@pytest.mark.parametrize(
    ("msgid", "msgstr", "flags", "complaint"),
    [
        ("Save", "", [], "untranslated"),
        ("Save", "ບັນທຶກ", ["fuzzy"], "fuzzy"),
        ("Page %(n)s", "ໜ້າ", ["python-format"], "%-placeholders differ"),
        ("Page %(n)s", "ໜ້າ %(m)s", ["python-format"], "%-placeholders differ"),
        ("Must be {min}.", "ຕ້ອງ {max}.", [], "{}-fields differ"),
        ("Save", "บันทึก", [], "Thai script in Lao"),  # Thai, not Lao
        ("Number", "ເລກທ\u0ecd\u0eb2", [], "ໍ + າ instead of the composed ຳ"),
        (
            ("%(count)s day", "%(count)s days"),
            ("ມື້",),
            ["python-format"],
            "%-placeholders differ",
        ),
    ],
)
def test_the_check_finds_each_kind_of_fault(tmp_path, msgid, msgstr, flags, complaint):
    template = Catalog()
    template.add(msgid, "")
    _write(tmp_path, "lo", _catalog("lo", [(msgid, msgstr, *flags)]))
    problems = i18n_check.check_catalog("lo", template, root=tmp_path)
    assert any(complaint in p.what for p in problems), problems


def test_the_check_finds_obsolete_missing_and_extra_entries(tmp_path):
    template = Catalog()
    template.add("Save", "")
    template.add("Cancel", "")
    _write(tmp_path, "vi", _catalog("vi", [("Save", "Lưu"), ("Old", "Cũ")], obsolete=["Gone"]))
    found = {p.what for p in i18n_check.check_catalog("vi", template, root=tmp_path)}
    assert "obsolete entry (#~): remove it" in found
    assert "missing from the catalog (run update)" in found
    assert "not in the template (run update)" in found


def test_the_check_passes_a_clean_plural_carrying_every_placeholder(tmp_path):
    template = Catalog()
    template.add(("%(count)s day", "%(count)s days"), ("", ""), flags=["python-format"])
    _write(
        tmp_path,
        "vi",
        _catalog("vi", [(("%(count)s day", "%(count)s days"), ("%(count)s ngày",))]),
    )
    assert i18n_check.check_catalog("vi", template, root=tmp_path) == []


def test_a_stale_template_is_reported(tmp_path):
    """A string in the code that the committed template lacks fails the check."""
    with i18n_check.TEMPLATE.open("rb") as handle:
        template = read_po(handle)
    dropped = next(m for m in template if m.id and isinstance(m.id, str))
    template.delete(dropped.id, context=dropped.context)
    template.add("A string the code never had", "")
    stale = tmp_path / "messages.pot"
    with stale.open("wb") as handle:
        write_po(handle, template)
    problems = i18n_check.stale_template(stale)
    whats = {(p.msgid, p.what.split(" (")[0]) for p in problems}
    assert (dropped.id, "in the code but not in the template") in whats
    assert ("A string the code never had", "in the template but gone from the code") in whats


def test_lao_catalog_is_lao_script_nfc_with_composed_am():
    path = i18n_check.TRANSLATIONS / "lo" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="lo")
    strings = [
        s for m in catalog if m.id for s in ([m.string] if isinstance(m.string, str) else m.string)
    ]
    assert strings
    assert not [s for s in strings if THAI.search(s)]
    assert not [s for s in strings if unicodedata.normalize("NFC", s) != s]
    assert not [s for s in strings if "\u0ecd\u0eb2" in s]
    # Almost every entry is written in Lao (units and codes like "kg" are the exception).
    assert sum(1 for s in strings if LAO.search(s)) > 0.9 * len(strings)


def test_both_catalogs_have_one_plural_form():
    for locale in ("vi", "lo"):
        path = i18n_check.TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            assert read_po(handle, locale=locale).num_plurals == 1


# --- compiling at start-up ------------------------------------------------------------


def test_catalogs_compile_at_start_up_and_a_missing_one_stops_the_hub(app, tmp_path, monkeypatch):
    assert set(app.config["HUB_LOCALES_COMPILED"]) >= {"vi", "lo"}
    assert (Path(app.instance_path) / "translations/lo/LC_MESSAGES/messages.mo").exists()

    source = tmp_path / "src"
    shutil.copytree(i18n.translations_source() / "vi", source / "vi")
    assert compile_catalogs(source, tmp_path / "out") == ["vi"]

    class Stub:
        instance_path = str(tmp_path / "inst")
        config: dict = {}

    monkeypatch.setattr(i18n, "translations_source", lambda: source)
    with pytest.raises(i18n.CatalogMissing, match="lo"):
        i18n.init_app(Stub(), None)


def test_an_installed_hub_finds_catalogs_packaged_beside_it(tmp_path, monkeypatch):
    """A wheel carries translations/ as hub/translations (see pyproject.toml)."""
    packaged = tmp_path / "site-packages" / "hub"
    (packaged / "translations" / "vi").mkdir(parents=True)
    monkeypatch.setattr(i18n, "PROJECT_ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(i18n, "__file__", str(packaged / "i18n.py"))
    assert i18n.translations_source() == packaged / "translations"


@pytest.mark.slow
def test_the_wheel_carries_the_catalogs_and_an_installed_hub_compiles_them(tmp_path):
    """Build the wheel offline, install it into a bare folder, start a hub from it."""
    root = i18n_check.ROOT
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), "."],
        cwd=root,
        check=True,
        timeout=300,
    )
    wheel = next((tmp_path / "dist").glob("blo_hub-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "hub/translations/vi/LC_MESSAGES/messages.po" in names
    assert "hub/translations/lo/LC_MESSAGES/messages.po" in names
    # pyproject.toml lists the packages by hand; a package it forgets would be missing here.
    packages = {p.parent.relative_to(root).as_posix() for p in (root / "hub").rglob("__init__.py")}
    assert {f"{package}/__init__.py" for package in packages} <= names

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    probe = (
        "import hub, hub.i18n as i; from hub import create_app; "
        "app = create_app(); "
        "print(hub.__file__); print(i.translations_source()); "
        "print(sorted(app.config['HUB_LOCALES_COMPILED']))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "HUB_INSTANCE_PATH": str(tmp_path / "instance"),
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite3'}",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert out[0].startswith(str(site))  # the installed copy, not the checkout
    assert out[1] == str(site / "hub" / "translations")
    assert out[2] == "['lo', 'vi']"
    assert (tmp_path / "instance/translations/lo/LC_MESSAGES/messages.mo").exists()


# --- the locale policy ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "vi"),  # nothing known: the hub's home language
        ("lo-LA,lo;q=0.9", "lo"),
        ("en-US,en;q=0.9", "en"),
        ("vi-VN", "vi"),
        ("LO", "lo"),
        ("fr-FR,th;q=0.8", "vi"),  # no language we have
        ("*", "vi"),
        ("vi;q=0, lo;q=0.4", "lo"),  # q=0 means "not this one"
        (";;;,,q=x", "vi"),  # garbled
        ("\u00ff\u00fe lo", "vi"),
        ("lo;q=abc, en;q=0.5", "en"),
        ("lo;q=1e999, vi;q=0.1", "vi"),  # an out-of-range quality is not a preference
        ("x-" * 4000 + "lo", "vi"),  # absurdly long
    ],
)
def test_accept_language_chooses_or_falls_back_quietly(client, header, expected):
    headers = {"Accept-Language": header} if header is not None else {}
    response = client.get("/login", headers=headers)
    assert response.status_code == 200
    assert _html_lang(response) == expected


def test_switcher_cookie_beats_accept_language_and_bad_values_are_ignored(client):
    client.set_cookie(LANG_COOKIE, "lo")
    assert _html_lang(client.get("/login", headers={"Accept-Language": "vi"})) == "lo"
    client.set_cookie(LANG_COOKIE, "xx-<script>")
    response = client.get("/login", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert _html_lang(response) == "en"


def test_switcher_remembers_a_choice_and_refuses_an_unknown_one(client, browser):
    token = browser.csrf("/login")
    response = client.post(
        "/language", data={"language": "lo", "next": "/login", "csrf_token": token}
    )
    assert response.status_code == 302
    assert _html_lang(client.get("/login", headers={"Accept-Language": "vi"})) == "lo"

    response = client.post(
        "/language",
        data={"language": "klingon", "next": "/login", "csrf_token": browser.csrf("/login")},
    )
    assert response.status_code == 302  # back where they were, with a message; never a 500
    page = client.get("/login")
    assert _html_lang(page) == "lo"  # the earlier choice stands
    assert "ບໍ່ມີພາສານີ້." in page.get_data(as_text=True)


def test_saved_preference_beats_the_cookie_and_is_saved_by_the_switcher(
    app, client, browser, demo_users
):
    from hub.extensions import db
    from hub.models import User

    browser.login("km.officer")  # saved preference: lo
    client.set_cookie(LANG_COOKIE, "vi")
    assert _html_lang(client.get("/", headers={"Accept-Language": "en"})) == "lo"

    client.post("/language", data={"language": "vi", "next": "/", "csrf_token": browser.csrf("/")})
    db.session.expire_all()
    assert db.session.scalar(db.select(User.language).filter_by(username="km.officer")) == "vi"
    client.delete_cookie(LANG_COOKIE)
    assert _html_lang(client.get("/", headers={"Accept-Language": "lo"})) == "vi"


@pytest.mark.parametrize(
    ("username", "org", "expected"), [("km.nopref", "KM", "lo"), ("qb.nopref", "QB", "vi")]
)
def test_organisation_country_is_the_last_resort(
    client, browser, make_user, username, org, expected
):
    make_user(username, org=org, language=None)
    browser.login(username)
    response = client.get("/")  # the test client sends no Accept-Language
    assert response.status_code == 200
    assert _html_lang(response) == expected
    # A bare "*" says nothing about the reader either.
    assert _html_lang(client.get("/", headers={"Accept-Language": "*"})) == expected


def test_a_preference_we_have_no_catalog_for_falls_through(app, client, browser, make_user):
    from hub.extensions import db

    user = make_user("sv.thai", org="SV", language="lo")
    user.language = "th"  # e.g. left by an older version, or set in the database by hand
    db.session.commit()
    browser.login("sv.thai")
    response = client.get("/", headers={"Accept-Language": "th-TH, fr"})
    assert response.status_code == 200
    assert _html_lang(response) == "lo"  # on to the organisation's country (Laos)


def test_select_locale_outside_a_login_uses_the_default(app):
    with app.test_request_context("/", headers={"Accept-Language": "garbage;;q="}):
        assert select_locale() == "vi"


# --- what the reader sees --------------------------------------------------------------


def test_login_page_in_lao_is_lao_and_in_vietnamese_is_vietnamese(client):
    lo = client.get("/login", headers={"Accept-Language": "lo"}).get_data(as_text=True)
    assert "ເຂົ້າສູ່ລະບົບ" in lo
    assert "ຊື່ຜູ້ໃຊ້" in lo
    assert "ລະຫັດຜ່ານ" in lo
    assert not THAI.search(lo)
    assert "Log in" not in lo
    assert "Username" not in lo
    vi = client.get("/login", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert "Đăng nhập" in vi
    assert "Tên đăng nhập" in vi
    assert "Mật khẩu" in vi


def test_wtforms_messages_come_from_our_catalog(app):
    from hub.web.forms import LoginForm

    for locale, required in (("lo", "ຕ້ອງໃສ່ຂໍ້ມູນຊ່ອງນີ້."), ("vi", "Trường này là bắt buộc.")):
        with app.test_request_context("/login", headers={"Accept-Language": locale}):
            app.preprocess_request()
            form = LoginForm(formdata=MultiDict({"username": ""}), meta={"csrf": False})
            assert not form.validate()
            assert form.errors["username"] == [required]


def test_wtforms_counted_messages_carry_the_number(app):
    with app.test_request_context("/"), force_locale("lo"):
        messages = wtforms_plural_messages(64)
        assert all("64" in m and LAO.search(m) for m in messages)
        assert (
            FormTranslations().ngettext(
                "Field cannot be longer than %(max)d character.",
                "Field cannot be longer than %(max)d characters.",
                3,
            )
            == "ຊ່ອງນີ້ຕ້ອງບໍ່ເກີນ %(max)d ຕົວອັກສອນ."
        )


def _walk_fields(field):
    yield field
    for attr in ("inner", "key_field", "value_field"):
        child = getattr(field, attr, None)
        if child is not None:
            yield from _walk_fields(child)


def _english_messages(schema_class) -> list[str]:
    """The messages of one input schema that marshmallow would print in English."""
    from marshmallow import fields, validate

    schema = schema_class()
    found = [
        f"schema {k}" for k, m in schema.error_messages.items() if not isinstance(m, LazyString)
    ]
    for name, declared in schema.fields.items():
        for field in _walk_fields(declared):
            for key, message in field.error_messages.items():
                # Only (Aware|Naive)DateTime raise it; a Date merely inherits it.
                unreachable = key == "invalid_awareness" and not isinstance(field, fields.DateTime)
                if not unreachable and not isinstance(message, LazyString):
                    found.append(f"{name}: {key} {message!r}")
            for validator in field.validators:
                error = getattr(validator, "error", None)
                if isinstance(validator, validate.Validator) and isinstance(error, str):
                    found.append(f"{name}: {validator!r}")
    return found


def test_api_input_schemas_replace_every_marshmallow_message():
    """marshmallow's English defaults must not reach an API client: every input schema's
    messages (fields, validators, schema-level) are translatable strings."""
    from hub.api import schemas

    bases = [
        obj
        for obj in vars(schemas).values()
        if isinstance(obj, type) and issubclass(obj, schemas.BaseSchema)
    ]
    assert len(bases) > 3
    leaks = [f"{cls.__name__}.{leak}" for cls in bases for leak in _english_messages(cls)]
    assert not leaks, "\n".join(leaks)


def test_translated_messages_render_in_each_language(app):
    with app.test_request_context("/"):
        for locale, expected in (("vi", "Không tìm thấy."), ("lo", "ບໍ່ພົບ."), ("en", "Not found.")):
            with force_locale(locale):
                assert str(get_locale()) == locale
                assert gettext("Not found.") == expected


@pytest.mark.parametrize(
    ("locale", "size", "shown"),
    [
        ("vi", 45, "45 B"),  # CLDR says "byte" in vi and lo: the symbol instead
        ("lo", 999, "999 B"),
        ("vi", 12_345, "12,3 kB"),
        ("lo", 2_500_000, "2,5 MB"),
        ("en", 12_345, "12.3 kB"),
        ("en", None, ""),
    ],
)
def test_file_sizes_are_written_as_the_locale_writes_numbers(app, locale, size, shown):
    template = app.jinja_env.from_string("{{ size|filesizeformat }}")
    with app.test_request_context("/"), force_locale(locale):
        assert template.render(size=size) == shown


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "Not found."),
        ({"LANG": "vi_VN.UTF-8"}, "Không tìm thấy."),
        ({"LANGUAGE": "lo", "LANG": "vi_VN.UTF-8"}, "ບໍ່ພົບ."),
        ({"LANG": "th_TH.UTF-8"}, "Not found."),
        ({"LANG": "@@garbage@@"}, "Not found."),
    ],
)
def test_outside_a_request_the_shell_locale_decides(app, monkeypatch, env, expected):
    """The `hub` command prints lazy messages too; there is no request to ask."""
    from flask_babel import lazy_gettext

    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with app.app_context():  # a fresh context: nothing cached from earlier requests
        assert str(lazy_gettext("Not found.")) == expected


# --- dates typed into forms ------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "day"),
    [("21/3/2025", "2025-03-21"), ("01.12.2024", "2024-12-01"), (" 2025-03-21 ", "2025-03-21")],
)
def test_a_typed_day_is_read_day_first_or_iso(typed, day):
    assert i18n.parse_input_date(typed).isoformat() == day


@pytest.mark.parametrize("typed", ["3/21/2025", "31/02/2024", "21/3/25", "2025/03/21", "2.5", ""])
def test_a_typed_day_that_is_not_one_is_refused(typed):
    with pytest.raises(ValueError):  # noqa: PT011 - the forms turn it into their message
        i18n.parse_input_date(typed)


def test_a_typed_time_needs_its_clock():
    assert i18n.parse_input_datetime("3/11/2025 8:15").isoformat() == "2025-11-03T08:15:00"
    assert i18n.parse_input_datetime("2025-11-03T08:15").isoformat() == "2025-11-03T08:15:00"
    for typed in ("3/11/2025", "3/11/2025 24:00", "3/11/2025 8h15"):
        with pytest.raises(ValueError):  # noqa: PT011
            i18n.parse_input_datetime(typed)
