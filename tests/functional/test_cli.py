"""The command line: tenants, users, members, and loading declarative tenant definitions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from ruihe_saas.app import PROJECT_ROOT
from ruihe_saas.auth.models import Membership, Role, User
from ruihe_saas.auth.services import authenticate
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.services import find_tenant
from tests.factories import UserFactory


def test_tenants_create_and_list(runner, db):
    result = runner.invoke(args=["tenants", "create", "xinyuan", "新苑社区物业"])
    assert result.exit_code == 0, result.output
    assert find_tenant("xinyuan").name == "新苑社区物业"
    assert "xinyuan" in runner.invoke(args=["tenants", "list"]).output


def test_tenants_create_refuses_bad_or_taken_slugs(runner, db):
    assert runner.invoke(args=["tenants", "create", "Bad Slug", "x"]).exit_code != 0
    runner.invoke(args=["tenants", "create", "xinyuan", "新苑"])
    again = runner.invoke(args=["tenants", "create", "xinyuan", "又一个"])
    assert again.exit_code != 0 and "taken" in again.output
    assert find_tenant("xinyuan").name == "新苑"


def test_users_create_and_members_add(runner, db):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Li@Example.test",
            "--password",
            "long-enough-pw",
            "--platform-admin",
        ]
    )
    assert result.exit_code == 0, result.output
    user = authenticate("li@example.test", "long-enough-pw")
    assert user is not None and user.is_platform_admin
    runner.invoke(args=["tenants", "create", "xinyuan", "新苑"])
    result = runner.invoke(args=["members", "add", "xinyuan", "li@example.test", "finance"])
    assert result.exit_code == 0, result.output
    with tenant_context(find_tenant("xinyuan").id):
        assert db.session.scalar(select(Membership.role)) == Role.FINANCE


def test_users_create_refuses_short_passwords(runner, db):
    result = runner.invoke(args=["users", "create", "x@example.test", "--password", "short"])
    assert result.exit_code != 0
    assert db.session.scalar(select(User).where(User.email == "x@example.test")) is None


def test_members_add_to_unknown_tenant_or_with_bad_role(runner, db):
    user = UserFactory()
    assert runner.invoke(args=["members", "add", "nowhere", user.email, "owner"]).exit_code != 0
    runner.invoke(args=["tenants", "create", "xinyuan", "新苑"])
    assert runner.invoke(args=["members", "add", "xinyuan", user.email, "king"]).exit_code != 0


def _counts(db) -> tuple[int, int]:
    users = db.session.scalar(select(func.count()).select_from(User))
    tenant = find_tenant("ruihe")
    with tenant_context(tenant.id):
        members = db.session.scalar(select(func.count()).select_from(Membership))
    return users, members


def test_loading_the_ruihe_definition_is_idempotent(runner, db):
    path = str(PROJECT_ROOT / "tenants" / "ruihe")
    first = runner.invoke(args=["tenants", "load", path])
    assert first.exit_code == 0, first.output
    assert "demo login  owner@ruihe.demo" in first.output
    counts = _counts(db)
    assert counts == (7, 7)
    second = runner.invoke(args=["tenants", "load", path])
    assert second.exit_code == 0, second.output
    assert "created" not in second.output.replace("kept", "")
    assert _counts(db) == counts
    assert authenticate("owner@ruihe.demo", "ruihe-owner-2024") is not None
    assert find_tenant("ruihe").name == "瑞和社区物业"


def test_both_demo_tenants_share_the_platform_user(runner, db):
    for slug in ("ruihe", "nanyuan"):
        result = runner.invoke(args=["tenants", "load", str(PROJECT_ROOT / "tenants" / slug)])
        assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "platform@ruihe.demo"))
    from ruihe_saas.auth.services import memberships_of

    assert sorted((m.tenant.slug, m.role.value) for m in memberships_of(user)) == [
        ("nanyuan", "viewer"),
        ("ruihe", "owner"),
    ]


def test_a_changed_role_in_the_definition_is_applied(runner, db, tmp_path: Path):
    definition = tmp_path / "tenant.toml"
    body = (
        'slug = "xinyuan"\nname = "新苑"\n[[users]]\nemail = "a@example.test"\n'
        'password = "long-enough-pw"\nrole = "{role}"\n'
    )
    definition.write_text(body.format(role="viewer"), encoding="utf-8")
    assert runner.invoke(args=["tenants", "load", str(tmp_path)]).exit_code == 0
    definition.write_text(body.format(role="cashier"), encoding="utf-8")
    result = runner.invoke(args=["tenants", "load", str(tmp_path)])
    assert "now cashier" in result.output
    with tenant_context(find_tenant("xinyuan").id):
        assert db.session.scalar(select(Membership.role)) == Role.CASHIER


@pytest.mark.parametrize(
    "body",
    [
        'slug = "xinyuan"\nname = "新苑"\nestatez = 1\n',  # unknown section
        'slug = "xinyuan"\nname = "新苑"\n[[users]]\nemail = "b@example.test"\n',  # no password
        'slug = "xinyuan"\nname = "新苑"\n[[users]]\nemail = "b@example.test"\n'
        'password = "long-enough-pw"\nrole = "king"\n',
        "slug = \n",  # not TOML
        'slug = "xinyuan"\nname = "新苑"\nstatus = "sleeping"\n',
        'slug = "xinyuan"\nname = "新苑"\n[[users]]\nemail = "b@example.test"\n'
        'pasword = "long-enough-pw"\n',  # a misspelt key is refused, not ignored
    ],
)
def test_bad_definitions_are_refused_and_change_nothing(runner, db, tmp_path, body):
    (tmp_path / "tenant.toml").write_text(body, encoding="utf-8")
    result = runner.invoke(args=["tenants", "load", str(tmp_path)])
    assert result.exit_code != 0
    assert find_tenant("xinyuan") is None
