"""The smallest loopback stand-in for Stripe's Checkout Sessions API (localstripe has none).

``StripeStandIn`` serves, on a free 127.0.0.1 port in a thread:

- ``POST /v1/checkout/sessions`` → a session like Stripe's (``cs_test_…``, ``url``,
  ``status`` open, ``amount_total`` …); the same ``Idempotency-Key`` gets the same answer.
- ``GET /v1/checkout/sessions/<id>`` → that session (404 JSON error if unknown).
- ``GET /checkout/<id>`` → a small HTML page "Stand-in checkout" (where ``url`` points), so
  a browser test can land on it.
- ``GET /v1/payouts`` (filters ``status``, ``arrival_date[gte]``, ``created[gte]``,
  ``limit``, ``starting_after``; newest first), ``GET /v1/payouts/<id>`` and
  ``GET /v1/balance_transactions?payout=…`` (paginated the same way; ``expand[]=data.source``
  gives each transaction's charge, refund or payout object instead of its id) → the payouts
  and balance transactions ``add_payout`` made, per account: a request with
  ``Stripe-Account`` sees only that connected account's, one without only the platform's.

Every request is recorded (method, path, headers, form-decoded body) for the tests to
assert the exact request our code sends. ``fail_next(status, error)`` makes the next API
call answer with a Stripe-style error.

Use the ``stripe_standin`` fixture (import ``standin_fixture, standin_server_fixture`` into
the test module) or ``with StripeStandIn() as standin: …``.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, str]  # flat form fields as sent: "line_items[0][price_data][currency]"
    raw_body: str = ""

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class StripeStandIn:
    host: str = "127.0.0.1"
    requests: list[Recorded] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    refunds: list[dict] = field(default_factory=list)
    payouts: list[tuple[str | None, dict]] = field(default_factory=list)  # (account, payout)
    balance_transactions: list[tuple[str | None, dict]] = field(default_factory=list)
    _by_key: dict[str, tuple[int, dict]] = field(default_factory=dict)
    _failures: list[tuple[int, dict, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _record(self) -> Recorded:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                query = self.path.partition("?")[2]
                fields = dict(parse_qsl(raw or query, keep_blank_values=True))
                recorded = Recorded(
                    method=self.command,
                    path=self.path.partition("?")[0],
                    headers={k: v for k, v in self.headers.items()},
                    body=fields,
                    raw_body=raw or query,
                )
                with standin._lock:
                    standin.requests.append(recorded)
                return recorded

            def _send(self, status: int, body, content_type="application/json"):
                data = (json.dumps(body) if not isinstance(body, str) else body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_standin")
                if status >= 400:  # a stand-in failure is final: no client retries
                    self.send_header("Stripe-Should-Retry", "false")
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                recorded = self._record()
                status, body = standin._answer(recorded)
                self._send(status, body)

            def do_GET(self):
                path = self.path.partition("?")[0]
                match = re.fullmatch(r"/checkout/([A-Za-z0-9_]+)", path)
                if match:
                    session = standin.sessions.get(match.group(1))
                    if session is None:
                        self._send(404, "<h1>Unknown session</h1>", "text/html; charset=utf-8")
                        return
                    self._send(
                        200,
                        "<!doctype html><title>Stand-in checkout</title>"
                        f"<h1>Stand-in checkout</h1><p id='session'>{session['id']}</p>"
                        f"<p id='amount'>{session['amount_total']} {session['currency']}</p>",
                        "text/html; charset=utf-8",
                    )
                    return
                recorded = self._record()
                status, body = standin._answer(recorded)
                self._send(status, body)

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self.port = self._server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> StripeStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StripeStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.sessions.clear()
            self.events.clear()
            self.refunds.clear()
            self.payouts.clear()
            self.balance_transactions.clear()
            self._by_key.clear()
            self._failures.clear()

    def fail_next(self, status: int = 500, error: dict | None = None, path: str | None = None):
        """The next API request (to ``path``, if given) answers ``status`` with a
        Stripe-style error body."""
        self._failures.append(
            (
                status,
                {"error": error or {"type": "api_error", "message": "stand-in failure"}},
                path,
            )
        )

    # -- what tests read -----------------------------------------------------------------

    def creates(self) -> list[Recorded]:
        return [
            r for r in self.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"
        ]

    def complete(self, session_id: str, payment_intent: str | None = None) -> dict:
        """Mark a session paid (what Stripe would show after the resident pays)."""
        session = self.sessions[session_id]
        session.update(
            status="complete",
            payment_status="paid",
            payment_intent=payment_intent or f"pi_test_{secrets.token_hex(8)}",
        )
        return session

    # -- answering -----------------------------------------------------------------------

    def _answer(self, recorded: Recorded) -> tuple[int, dict]:
        with self._lock:
            for index, (status, body, path) in enumerate(self._failures):
                if path is None or path == recorded.path:
                    del self._failures[index]
                    return status, body
            if recorded.method == "POST" and recorded.path == "/v1/checkout/sessions":
                key = recorded.header("Idempotency-Key")
                if key and key in self._by_key:
                    return self._by_key[key]
                answer = (200, self._create_session(recorded))
                if key:
                    self._by_key[key] = answer
                return answer
            match = re.fullmatch(r"/v1/checkout/sessions/([A-Za-z0-9_]+)", recorded.path)
            if recorded.method == "GET" and match:
                session = self.sessions.get(match.group(1))
                if session is not None:
                    return 200, session
                return 404, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": f"No such checkout.session: '{match.group(1)}'",
                    }
                }
            if recorded.method == "POST" and recorded.path == "/v1/refunds":
                key = recorded.header("Idempotency-Key")
                if key and key in self._by_key:
                    return self._by_key[key]
                answer = (200, self._create_refund(recorded))
                if key:
                    self._by_key[key] = answer
                return answer
            if recorded.method == "GET" and recorded.path == "/v1/refunds":
                charge = recorded.body.get("charge")
                rows = [r for r in self.refunds if not charge or r.get("charge") == charge]
                return 200, {"object": "list", "data": rows, "has_more": False}
            if recorded.method == "GET" and recorded.path == "/v1/events":
                return 200, self._list_events(recorded)
            if recorded.method == "GET" and recorded.path.startswith("/v1/payouts"):
                return self._payouts(recorded)
            if recorded.method == "GET" and recorded.path == "/v1/balance_transactions":
                return 200, self._balance_transactions(recorded)
            return 404, {
                "error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}
            }

    def _create_refund(self, recorded: Recorded) -> dict:
        body = recorded.body
        refund = {
            "id": f"re_test_{secrets.token_hex(8)}",
            "charge": body.get("charge") or f"ch_for_{body.get('payment_intent')}",
            "object": "refund",
            "amount": int(body.get("amount") or 0),
            "currency": "cny",
            "payment_intent": body.get("payment_intent"),
            "status": "succeeded",
            "metadata": {
                k[len("metadata[") : -1]: v for k, v in body.items() if k.startswith("metadata[")
            },
        }
        self.refunds.append(refund)
        return refund

    def add_event(self, event_type: str, obj: dict, created: int | None = None) -> dict:
        """An event for ``GET /v1/events`` (listed newest first, like Stripe)."""
        event = {
            "id": f"evt_test_{secrets.token_hex(8)}",
            "object": "event",
            "type": event_type,
            "created": int(created if created is not None else time.time()),
            "data": {"object": obj},
            "livemode": False,
        }
        with self._lock:
            self.events.append(event)
        return event

    def _list_events(self, recorded: Recorded) -> dict:
        query = recorded.body
        gte = int(query.get("created[gte]") or 0)
        types = {v for k, v in query.items() if k.startswith("types[") or k == "type"}
        limit = int(query.get("limit") or 10)
        rows = sorted(
            (e for e in self.events if e["created"] >= gte and (not types or e["type"] in types)),
            key=lambda e: e["created"],
            reverse=True,
        )
        after = query.get("starting_after")
        if after:
            ids = [e["id"] for e in rows]
            rows = rows[ids.index(after) + 1 :] if after in ids else []
        page = rows[:limit]
        return {
            "object": "list",
            "url": "/v1/events",
            "data": page,
            "has_more": len(rows) > limit,
        }

    # -- payouts -------------------------------------------------------------------------

    def add_payout(
        self,
        amount: int,
        fees: tuple[int, ...] = (),
        *,
        account: str | None = None,
        status: str = "paid",
        currency: str = "cny",
        arrival_date: int | None = None,
        refunds: tuple = (),
        charges: tuple[tuple[int, int, str | None], ...] = (),
        others: tuple[tuple[str, int, int], ...] = (),
        payout_id: str | None = None,
        **extra,
    ) -> dict:
        """A payout of ``amount`` (fen) from ``account`` (None: the platform's), with the
        balance transactions it settles:

        - ``charges``: ``(amount, fee, payment_intent)`` charges;
        - ``refunds``: refunds, each an amount, ``(amount, payment_intent)`` or ``(amount,
          payment_intent, refund_id)``;
        - ``others``: ``(type, amount, fee)`` transactions of other types (``adjustment`` …);
        - ``fees``: one more charge per fee, of a payment intent nobody knows, their amounts
          making up the rest (so the transactions' net adds up to ``amount``; without
          ``fees`` the rest is left out, as if the list missed something);

        and the payout's own balance transaction. Each transaction's ``source`` is the
        charge, refund or payout object when the request expands ``data.source``, else its
        id."""
        now = int(time.time())
        payout = {
            "id": payout_id or f"po_test_{secrets.token_hex(8)}",
            "object": "payout",
            "amount": amount,
            "currency": currency,
            "status": status,
            "arrival_date": arrival_date if arrival_date is not None else now - now % 86400,
            "created": now - 2 * 86400,
            "automatic": True,
            "livemode": False,
            **extra,
        }
        refunds = tuple((r,) if isinstance(r, int) else tuple(r) for r in refunds)
        rest = (
            amount
            + sum(fees)
            + sum(r[0] for r in refunds)
            - sum(charged - fee for charged, fee, _ in charges)
            - sum(charged - fee for _, charged, fee in others)
        )
        spread = [rest // max(len(fees), 1)] * len(fees)
        if spread:
            spread[-1] += rest - sum(spread)
        made = list(charges) + [
            (charged, fee, f"pi_standin_{secrets.token_hex(8)}")
            for charged, fee in zip(spread, fees, strict=True)
        ]
        rows = []
        for charged, fee, intent in made:
            charge_id = f"ch_test_{secrets.token_hex(8)}"
            source = {
                "id": charge_id,
                "object": "charge",
                "amount": charged,
                "payment_intent": intent,
            }
            rows.append(
                {
                    "type": "charge",
                    "amount": charged,
                    "fee": fee,
                    "net": charged - fee,
                    "_source": source,
                }
            )
        for refund in refunds:
            refunded, intent, refund_id = (*refund, None, None)[:3]
            source = {
                "id": refund_id or f"re_test_{secrets.token_hex(8)}",
                "object": "refund",
                "amount": refunded,
                "charge": f"ch_test_{secrets.token_hex(8)}",
                "payment_intent": intent,
            }
            rows.append(
                {
                    "type": "refund",
                    "amount": -refunded,
                    "fee": 0,
                    "net": -refunded,
                    "_source": source,
                }
            )
        for kind, moved, fee in others:
            source = {"id": f"adj_test_{secrets.token_hex(8)}", "object": kind}
            rows.append(
                {"type": kind, "amount": moved, "fee": fee, "net": moved - fee, "_source": source}
            )
        rows.append(
            {
                "type": "payout",
                "amount": -amount,
                "fee": 0,
                "net": -amount,
                "_source": {"id": payout["id"], "object": "payout"},
            }
        )
        with self._lock:
            self.payouts.append((account, payout))
            for row in rows:
                row.update(
                    id=f"txn_test_{secrets.token_hex(8)}",
                    object="balance_transaction",
                    currency=currency,
                    payout=payout["id"],
                    created=payout["created"],
                )
                self.balance_transactions.append((account, row))
        return payout

    @staticmethod
    def _page(rows: list[dict], query: dict, url: str) -> dict:
        after = query.get("starting_after")
        if after:
            ids = [row["id"] for row in rows]
            rows = rows[ids.index(after) + 1 :] if after in ids else []
        limit = int(query.get("limit") or 10)
        return {"object": "list", "url": url, "data": rows[:limit], "has_more": len(rows) > limit}

    def _payouts(self, recorded: Recorded) -> tuple[int, dict]:
        account = recorded.header("Stripe-Account")
        mine = [p for a, p in self.payouts if a == account]
        match = re.fullmatch(r"/v1/payouts/([A-Za-z0-9_]+)", recorded.path)
        if match:
            found = next((p for p in mine if p["id"] == match.group(1)), None)
            if found is None:
                return 404, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": f"No such payout: '{match.group(1)}'",
                    }
                }
            return 200, found
        query = recorded.body
        rows = [
            p
            for p in mine
            if (not query.get("status") or p["status"] == query["status"])
            # a malformed payout (no int date) is listed: the client must cope
            and (
                not isinstance(p["arrival_date"], int)
                or p["arrival_date"] >= int(query.get("arrival_date[gte]") or 0)
            )
            and p["created"] >= int(query.get("created[gte]") or 0)
        ]
        rows.reverse()  # newest first
        return 200, self._page(rows, query, "/v1/payouts")

    def _balance_transactions(self, recorded: Recorded) -> dict:
        account = recorded.header("Stripe-Account")
        payout = recorded.body.get("payout")
        expand = any(
            key.startswith("expand[") and value == "data.source"
            for key, value in recorded.body.items()
        )
        rows = []
        for owner, txn in self.balance_transactions:
            if owner != account or txn["payout"] != payout:
                continue
            row = {k: v for k, v in txn.items() if k != "_source"}
            source = txn.get("_source")
            if source is not None:
                row["source"] = dict(source) if expand else source["id"]
            rows.append(row)
        return self._page(rows, recorded.body, "/v1/balance_transactions")

    def _create_session(self, recorded: Recorded) -> dict:
        body = recorded.body
        session_id = f"cs_test_{secrets.token_hex(12)}"
        amounts = [
            int(body[k]) * int(body.get(k.replace("[price_data][unit_amount]", "[quantity]"), 1))
            for k in body
            if k.endswith("[price_data][unit_amount]")
        ]
        currency = next((v for k, v in body.items() if k.endswith("[price_data][currency]")), "cny")
        metadata = {
            k[len("metadata[") : -1]: v
            for k, v in body.items()
            if k.startswith("metadata[") and k.endswith("]")
        }
        methods = [v for k, v in sorted(body.items()) if k.startswith("payment_method_types[")]
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"{self.base_url}/checkout/{session_id}",
            "mode": body.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "payment_intent": None,
            "amount_total": sum(amounts),
            "amount_subtotal": sum(amounts),
            "currency": currency,
            "metadata": metadata,
            "payment_method_types": methods,
            "success_url": body.get("success_url"),
            "cancel_url": body.get("cancel_url"),
            "created": int(time.time()),
            "expires_at": int(body.get("expires_at") or time.time() + 86400),
            "livemode": False,
        }
        account = recorded.header("Stripe-Account")
        if account:
            session["account"] = account
        self.sessions[session_id] = session
        return session


# --- fixtures and helpers of the online payment tests ------------------------------------

STRIPE_KEYS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "RUIHE_PUBLIC_URL")
SECRET_KEY = "sk_test_standin_0123456789"
WEBHOOK_SECRET = "whsec_standin_0123456789"


@pytest.fixture(scope="session", name="stripe_standin_server")
def standin_server_fixture():
    with StripeStandIn() as standin:
        yield standin


@pytest.fixture(name="stripe_standin")
def standin_fixture(app, stripe_standin_server):
    """The stand-in, emptied, with the app pointed at it (Stripe settings restored after)."""
    standin = stripe_standin_server
    standin.reset()
    saved = {key: app.config.get(key) for key in STRIPE_KEYS}
    app.config.update(
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=standin.base_url,
    )
    try:
        yield standin
    finally:
        app.config.update(saved)


def enable_gateway(tenant_id, **values):
    """Stored, enabled gateway settings for the tenant (platform mode unless told)."""
    from ruihe_saas.extensions import db
    from ruihe_saas.online.settings import update_gateway_settings
    from ruihe_saas.tenancy import tenant_context

    fields = {
        "enabled": True,
        "mode": "platform",
        "connected_account_id": None,
        "application_fee_percent": "0",
        "payment_methods": ["card", "alipay", "wechat_pay"],
    }
    fields.update(values)
    with tenant_context(tenant_id):
        row = update_gateway_settings(**fields)
        db.session.flush()
    return row


BILLS = (("2024-05", "120.50"), ("2024-06", "80.00"))


def household_with_bills(tenant_id, code="E1", amounts=BILLS):
    """An estate (2 buildings × 3 households) and bills for its first household:
    ``(estate, household, [bill, …])`` (each bill: property service fee + garbage 10.00)."""
    from decimal import Decimal

    from sqlalchemy import select

    from ruihe_saas.estates.models import Household
    from ruihe_saas.extensions import db
    from ruihe_saas.tenancy import tenant_context
    from tests.billing_factories import bill_for, simple_schedule
    from tests.estate_factories import estate_with_households

    estate = estate_with_households(tenant_id, code)
    schedule = simple_schedule(estate)
    with tenant_context(tenant_id):
        households = db.session.scalars(
            select(Household).where(Household.estate_id == estate.id).order_by(Household.id)
        ).all()
    household = households[0]
    bills = [
        bill_for(
            household,
            period,
            {"property_service": Decimal(amount) - Decimal("10.00"), "garbage": "10.00"},
            schedule,
        )
        for period, amount in amounts
    ]
    return estate, household, bills
