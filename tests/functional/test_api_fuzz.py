"""Property-based fuzzing of the JSON API from its own OpenAPI document (schemathesis).

Every operation of ``/api/v1/openapi.json`` becomes one pytest test (``[METHOD /path]``) that
sends a bounded, derandomized set of generated requests, valid and invalid ones, to the app
in-process through WSGI (no network). No response may be a 5xx, and every response must
conform to the document: documented status code, content type and body.

Per test: a tenant whose owner is also a platform admin (with a bearer token), a viewer, a
user outside the tenant and a finished job, committed to the ``db`` fixture's transaction.
Every request carries the owner's token; generated values are partly replaced by real ones
(``_aim``) so that requests get past "unknown tenant/member/user" to the handlers. Each
request runs in a SAVEPOINT rolled back right after it (``_rolled_back``): what one request
created, changed or revoked (tenants, members, the token itself) is gone for the next one.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ruihe_saas.estates.services import buildings_of, create_parking, list_households
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer
from tests.estate_factories import estate_with_households
from tests.factories import PASSWORD, TenantFactory, UserFactory, member

OPENAPI_PATH = "/api/v1/openapi.json"

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20240611,
        "generation": {
            "mode": "all",  # schema-valid requests and invalid ones (which must get a 4xx)
            "max-examples": 20,  # per operation, fuzzing phase (+ the coverage phase's cases)
            "deterministic": True,  # Hypothesis `derandomize=True`: the same cases every run
            "database": "none",  # no .hypothesis directory, no replay of earlier failures
            # Every request carries our bearer token (below); generated credentials would
            # only ever reach the 401 branch.
            "with-security-parameters": False,
        },
    }
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Built-in checks left out on purpose:
# - positive_data_acceptance / negative_data_rejection: ``_aim`` rewrites generated values
#   after generation (a "negative" value may become a valid one and vice versa), and an
#   unknown tenant, member or user rightly answers 404 to schema-valid data.
# - ignored_auth / missing_required_header: every request is authenticated on purpose; these
#   checks also re-send probes through the schema's own transport, not our fixture's app.
# - use_after_free / ensure_resource_availability: stateful-phase checks (no stateful phase).
# - response_headers_conformance, unsupported_method, allow_header_conformance,
#   max_response_time: outside this test's contract (no documented response headers).


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _served_openapi_document() -> dict:
    """The document exactly as the app serves it, read at collection time.

    Schemathesis needs the operations when pytest collects this module, before the session
    ``app`` fixture exists; a throwaway app (its instance directory in a temporary one, no
    database access) serves the same document. Requests go to the fixture's ``app``.
    """
    from ruihe_saas import create_app

    with tempfile.TemporaryDirectory() as instance, _environ(RUIHE_INSTANCE_PATH=instance):
        docs_app = create_app({"TESTING": True, "SERVER_NAME": None})
        response = docs_app.test_client().get(OPENAPI_PATH)
    assert response.status_code == 200, response.status
    return response.get_json()


# Loaded without an app attached: every request names the fixture's app (``call(app=...)``).
schema = schemathesis.openapi.from_dict(_served_openapi_document(), config=CONFIG)


@dataclass(frozen=True)
class FuzzTarget:
    token: str
    tenant_slug: str
    member_ids: tuple[str, ...]  # the viewer first: deleting or demoting it succeeds
    job_id: str
    owner_email: str
    outsider_email: str  # a user who is not a member of the tenant
    estate_ids: tuple[str, ...]  # an estate in partial caretaking (with evidence), an empty one
    building_ids: tuple[str, ...]
    household_ids: tuple[str, ...]
    space_ids: tuple[str, ...]
    transition_ids: tuple[str, ...]
    billing_ids: dict  # schedule_id, run_id, bill_id, line_id, payment_id, refund_id → real


@pytest.fixture
def fuzz_target(app, db, client) -> FuzzTarget:
    """A tenant, its owner (also a platform admin) with a token, a viewer, an outsider, a job,
    and estates with buildings, households, a parking space and a handover transition."""
    from ruihe_saas.auth.models import Role
    from ruihe_saas.auth.services import issue_token

    tenant = TenantFactory()
    owner = member(Role.OWNER, tenant=tenant, is_platform_admin=True)
    viewer = member(Role.VIEWER, tenant=tenant)
    outsider = UserFactory()
    token = issue_token(owner.user, days=1)
    slug, owner_email, outsider_email = tenant.slug, owner.user.email, outsider.email
    member_ids = (str(viewer.id), str(owner.id))
    estate, empty_estate, transition = _estates(tenant.id)
    estate_ids = (str(estate.id), str(empty_estate.id))
    with tenant_context(tenant.id):
        buildings = tuple(str(b.id) for b in buildings_of(estate))
        households = tuple(str(h.id) for h in list_households(estate, 1, 5).items)
        space = create_parking(estate, {"number": "P-1", "household_id": households[0]})
        space_ids = (str(space.id),)
    billing_ids = _billing(estate)
    # Into the test's transaction: a failing request's rollback must not take it away.
    db.session.commit()
    accepted = client.post(f"/api/v1/t/{slug}/members/roster-report", headers=bearer(token))
    assert accepted.status_code == 202, accepted.get_json()
    return FuzzTarget(
        token=token,
        tenant_slug=slug,
        member_ids=member_ids,
        job_id=accepted.get_json()["job_id"],
        owner_email=owner_email,
        outsider_email=outsider_email,
        estate_ids=estate_ids,
        building_ids=buildings,
        household_ids=households,
        space_ids=space_ids,
        transition_ids=(str(transition.id),),
        billing_ids=billing_ids,
    )


def _billing(estate) -> dict:
    """A fee schedule, a real billing run of July 2024 and its bills, a desk payment with its
    receipt and a refund of part of it."""
    from sqlalchemy import select

    from ruihe_saas.billing.models import Bill, BillLine
    from ruihe_saas.billing.runs import execute_billing_run, start_billing_run
    from ruihe_saas.extensions import db
    from ruihe_saas.payments.desk import record_desk_payment
    from ruihe_saas.refunds.services import refund_payment
    from tests.billing_factories import simple_schedule

    schedule = simple_schedule(estate, stages="partial_caretaking")
    with tenant_context(estate.tenant_id):
        run = start_billing_run(estate.id, "2024-07", False)
        db.session.flush()
        execute_billing_run(run.id)
        bill = db.session.scalars(select(Bill)).first()
        line = db.session.scalars(select(BillLine)).first()
        payment, _ = record_desk_payment(bill.household_id, "30.00", "cash")
        refund = refund_payment(payment.id, "1.00", "多收退回")
        account, entry = _ledger(estate)
    return {
        "schedule_id": (str(schedule.id),),
        "run_id": (str(run.id),),
        "bill_id": (str(bill.id),),
        "line_id": (str(line.id),),
        "payment_id": (str(payment.id),),
        "refund_id": (str(refund.id),),
        "account_id": (str(account.id),),
        "entry_id": (str(entry.id),),
        "period": ("2024-07",),
    }


def _ledger(estate):
    """An added account and a manual expense entry (inside the estate's tenant)."""
    from datetime import date

    from ruihe_saas.ledger.accounts import add_account
    from ruihe_saas.ledger.entries import record_expense
    from ruihe_saas.ledger.services import ensure_chart

    ensure_chart()
    account = add_account("6409", "安保", "expense")
    entry = record_expense(
        estate_id=estate.id,
        account_id=account.id,
        amount="88.00",
        entry_date=date(2024, 7, 5),
        reference="FP-1",
    )
    return account, entry


def _estates(tenant_id):
    """An estate in partial caretaking with buildings and households, and an empty one."""
    from datetime import date

    from ruihe_saas.handover.services import record_transition

    estate = estate_with_households(tenant_id, "FUZZ", buildings=2, rooms=2)
    empty = estate_with_households(tenant_id, "EMPTY", buildings=0, rooms=0)
    with tenant_context(tenant_id):
        transition = record_transition(
            estate,
            "partial_caretaking",
            date(2024, 1, 1),
            agreement={
                "counterparty": "主管单位",
                "services": ["cleaning"],
                "start_date": date(2024, 1, 1),
                "term_months": 12,
            },
        )
    return estate, empty, transition


@pytest.fixture
def generous_login_limit(app):
    """POST /auth/tokens answers 429 after 5 failed logins a minute; the fuzzer sends more.

    The 429 is documented, but it would hide the handler: raise the limit for this test only.
    """
    previous = app.config["RUIHE_LOGIN_LIMIT"]
    app.config["RUIHE_LOGIN_LIMIT"] = "100000 per minute"
    yield
    app.config["RUIHE_LOGIN_LIMIT"] = previous


def _stable_pick(value: object, choices: int) -> int:
    """A choice derived from the generated value itself, so a given case always gets it."""
    return zlib.crc32(repr(value).encode()) % choices


def _replace_some(container: dict, name: str, known: tuple[str, ...]) -> None:
    """Replace the generated ``name`` by one of ``known``, or keep it (one chance in n+1)."""
    if name in container:
        choice = _stable_pick(container[name], len(known) + 1)
        if choice < len(known):
            container[name] = known[choice]


def _aim(case, target: FuzzTarget) -> None:
    """Point most requests at the fixture's tenant, members, job and users."""
    params = case.path_parameters
    if params and "tenant_slug" in params and _stable_pick(params["tenant_slug"], 5):
        params["tenant_slug"] = target.tenant_slug  # 4 in 5; the others: an unknown tenant
    if params:
        _replace_some(params, "member_id", target.member_ids)
        _replace_some(params, "job_id", (target.job_id,))
        _replace_some(params, "estate_id", target.estate_ids)
        _replace_some(params, "building_id", target.building_ids)
        _replace_some(params, "household_id", target.household_ids)
        _replace_some(params, "space_id", target.space_ids)
        _replace_some(params, "transition_id", target.transition_ids)
        for name, known in target.billing_ids.items():
            _replace_some(params, name, known)
    if isinstance(case.body, dict):
        _replace_some(case.body, "email", (target.owner_email, target.outsider_email))
        _replace_some(case.body, "owner_email", (target.outsider_email, target.owner_email))
        _replace_some(case.body, "password", (PASSWORD,))
        _replace_some(case.body, "slug", ("fuzzed-tenant",))
        _replace_some(case.body, "building_id", target.building_ids)
        _replace_some(case.body, "household_id", target.household_ids)
        _replace_some(case.body, "reverses_id", target.transition_ids)


def _targets_unknown_tenant(case, target: FuzzTarget) -> bool:
    slug = (case.path_parameters or {}).get("tenant_slug", target.tenant_slug)
    # Requests with another method (coverage-phase probes) are answered by routing: 405.
    return slug != target.tenant_slug and case.method.upper() == case.operation.method.upper()


@contextmanager
def _rolled_back(db) -> Iterator[None]:
    """Run one request inside a SAVEPOINT of the test's transaction, then roll it back."""
    db.session.remove()
    connection = db.session.get_bind()  # the ``db`` fixture binds the session to a connection
    savepoint = connection.begin_nested()
    try:
        yield
    finally:
        db.session.remove()
        savepoint.rollback()


@schema.parametrize()
# The function-scoped fixtures are shared by an operation's examples on purpose: each example
# runs in its own rolled-back SAVEPOINT (``_rolled_back``), so none sees another's changes.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_conforms_to_its_openapi_document(case, app, db, fuzz_target, generous_login_limit):
    _aim(case, fuzz_target)
    with _rolled_back(db):
        response = case.call_and_validate(app=app, headers=bearer(fuzz_target.token), checks=CHECKS)
    if _targets_unknown_tenant(case, fuzz_target):
        # A tenant's existence is never revealed: an unknown slug is a plain 404 JSON error.
        assert response.status_code == 404, (case.formatted_path, response.text)
        assert response.json()["error"]["code"] == "not_found", response.text
