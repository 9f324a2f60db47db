"""The UI speaks Simplified Chinese by default and English on request; the catalogues are
complete. ``make test`` compiles the catalogues first; run directly, this module compiles a
missing or stale ``.mo`` itself, before any request loads (and caches) the translations."""

from __future__ import annotations

from pathlib import Path

import flask_babel
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from ruihe_saas.auth.models import Role
from tests.conftest import csrf_from, login
from tests.factories import PASSWORD, member

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "ruihe_saas" / "translations"
LOCALES = ("zh", "en")
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "_ln": (1, 2)}


def _read(locale: str):
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def _compile_if_needed() -> None:
    for locale in LOCALES:
        po = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with mo.open("wb") as out:
                write_mo(out, _read(locale))


_compile_if_needed()


@pytest.fixture
def client(client):
    """The test client, each request choosing its language afresh, as in production.

    conftest's ``db`` fixture keeps one app context pushed for the whole test, so all of a
    test's requests share ``g``, where Flask-Babel caches the locale and the translations:
    without this a language switch would not show until the next test."""
    send = client.open

    def open_fresh(*args, **kwargs):
        flask_babel.refresh()
        return send(*args, **kwargs)

    client.open = open_fresh
    return client


def _page(response) -> str:
    return response.get_data(as_text=True)


def _switch(client, code: str, next_url: str = "/login"):
    token = csrf_from(client, next_url)
    return client.post(f"/lang/{code}", data={"csrf_token": token, "next": next_url})


def test_login_page_is_chinese_by_default(client):
    response = client.get("/login")
    page = _page(response)
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in page
    assert "<h1>登录</h1>" in page
    assert "瑞和物业云" in page
    assert "邮箱" in page and "密码" in page  # lazy_gettext form labels
    assert "Log in" not in page
    assert ">English</button>" in page


def test_switching_to_english_and_back(client):
    response = _switch(client, "en")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert client.get_cookie("lang").value == "en"

    page = _page(client.get("/login"))
    assert '<html lang="en">' in page
    assert "<h1>Log in</h1>" in page
    assert "Ruihe Property Cloud" in page
    assert "Email" in page and "Password" in page
    assert "登录" not in page
    assert ">中文</button>" in page

    _switch(client, "zh")
    page = _page(client.get("/login"))
    assert '<html lang="zh-CN">' in page
    assert "<h1>登录</h1>" in page


def test_unknown_language_keeps_chinese(client):
    response = _switch(client, "fr")
    assert response.status_code == 302
    assert client.get_cookie("lang") is None
    page = _page(client.get("/login"))
    assert '<html lang="zh-CN">' in page
    assert "<h1>登录</h1>" in page


def test_forged_language_cookie_is_ignored(client):
    client.set_cookie("lang", "fr")
    page = _page(client.get("/login"))
    assert '<html lang="zh-CN">' in page
    assert "<h1>登录</h1>" in page


def test_language_switch_needs_csrf_token(client):
    client.post("/lang/en", data={"next": "/login"})
    assert client.get_cookie("lang") is None
    assert "<h1>登录</h1>" in _page(client.get("/login"))


def test_failed_login_message_is_translated(client):
    owner = member(Role.OWNER)
    response = login(client, owner.user.email, "not-the-password")
    assert response.status_code == 401
    assert "邮箱或密码错误。" in _page(response)


def test_tenant_home_shows_translated_role(client):
    owner = member(Role.OWNER)
    response = login(client, owner.user.email, PASSWORD)
    assert response.status_code == 302

    url = f"/t/{owner.tenant.slug}/"
    page = _page(client.get(url))
    assert "您的角色：负责人" in page
    assert "退出登录" in page and "修改密码" in page
    assert "共 1 名成员" in page

    _switch(client, "en", url)
    page = _page(client.get(url))
    assert "Your role: Owner" in page and "1 member<" in page
    assert "Log out" in page


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_has_no_fuzzy_or_broken_entries(locale):
    catalogue = _read(locale)
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy entries in {locale}: {fuzzy}"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalogue.check()]
    assert not problems, f"placeholder/plural problems in {locale}: {problems}"


def test_every_chinese_message_is_translated():
    catalogue = _read("zh")
    untranslated = [
        m.id
        for m in catalogue
        if m.id and not (all(m.string) if isinstance(m.string, tuple) else m.string.strip())
    ]
    assert not untranslated, f"untranslated zh messages: {untranslated}"


def test_catalogues_cover_every_string_in_the_source():
    """A new ``_()`` string must be extracted into the catalogues (and then translated):
    pybabel extract -F babel.cfg -k _l -o ruihe_saas/translations/messages.pot .
    pybabel update -i ruihe_saas/translations/messages.pot -d ruihe_saas/translations"""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    in_source = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS
        )
    }
    assert "Log in" in in_source and "Owner" in in_source  # the mapping finds both kinds
    for locale in LOCALES:
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in _read(locale) if m.id}
        missing = sorted(in_source - ids)
        assert not missing, f"not in the {locale} catalogue (extract + update): {missing}"
