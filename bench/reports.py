"""Benchmark: the consolidated income statement and trial balance over a year of 1M lines.

Run it against a PostgreSQL database of your own (it creates and deletes its own tenant):

    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE ruihe_bench OWNER ruihe_owner"
    DATABASE_URL=postgresql://ruihe_app@127.0.0.1/ruihe_bench \\
    DATABASE_OWNER_URL=postgresql://ruihe_owner@127.0.0.1/ruihe_bench \\
        .venv/bin/python bench/reports.py                  # --lines 1000000 --estates 100

What it does: migrates the database, creates a throwaway tenant with ``--estates`` estates,
its chart of accounts (``ledger.services.ensure_chart``) and an owner with an API token, then
loads about ``--lines`` journal lines dated over 2024, generated set-based in SQL as the
schema owner (``INSERT … SELECT`` over ``generate_series``, in batches of ``--batch``
entries, each batch committed so the deferred balance trigger checks every entry). Entries
have 2–4 balanced lines on the chart's accounts: payments (Dr 银行存款 / Cr 应收物业费),
billing (Dr 应收 / Cr 物业服务收入 + 公共收益), expenses (人工, 保洁; 绿化, 维修, 能耗 against
银行存款), the collective economy's canteen takings (Dr 库存现金 + 银行存款 / Cr 食堂收入), and
1 in 300 an inter-entity management fee with a ``pair_id`` (the estate's 维修 and 内部往来
against the collective's 内部往来 and 其他收入: eliminated when consolidated). Loading is set-up,
timed but not judged; the database keeps ``account_month_totals`` as the lines go in (migration
0008's trigger). After loading it runs ``VACUUM ANALYZE`` on the ledger tables, as autovacuum
would after a load this size (it also sets the visibility map, so reading lines through
``ix_journal_lines_date`` is index-only). Then it times, as the app role inside the tenant:

- ``ledger.reports.income_statement(2024-01-01, 2024-12-31)`` (consolidated: every entity's
  column and the eliminations) through the service, through
  ``GET /api/v1/t/<slug>/reports/income-statement?from=…&to=…`` when the app has that
  endpoint (in-process WSGI with a bearer token), and a hand-written SQL ``GROUP BY`` over the
  journal lines of the same dates (income and expense accounts, per account and entity, the
  paired sum through a join to the entries);
- ``ledger.reports.trial_balance`` for the year likewise (``…/reports/trial-balance``);
- both again for 2024-02-10 – 2024-11-20, cut mid-month at both ends, so the service adds the
  whole months' totals to the lines of the edge days: checked against the SQL and timed, but
  not judged;

each the best of 5 runs after one warm-up, checks the service, the API and the SQL agree on
the totals, and prints e.g. (measured on the 2-core machine, 1M lines, other jobs running)

    income statement (consolidated, 2024): service 16 ms, API 23 ms, SQL 703 ms …
    trial balance (consolidated, 2024): service 11 ms, API 11 ms, SQL 286 ms …

The service reads the year from ``account_month_totals`` (a few thousand rows), the SQL
sums every line: the ≤ 2× ratio is then met trivially, the < 300 ms is the real target.
Targets on this 2-core machine: the service (and the API) ≤ 2× the SQL and < 300 ms, for
both reports over the year. Exit status 1 when a target is missed or any figures disagree.
``--keep`` leaves the tenant in place (to ``EXPLAIN (ANALYZE, BUFFERS)`` by hand); otherwise
everything it created is deleted at the end (as the owner: the app role may not delete
journal lines).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_households import clean_up  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from ruihe_saas import create_app  # noqa: E402

START, END = date(2024, 1, 1), date(2024, 12, 31)
RUNS = 5
LIMIT_MS = 300
RATIO = 2.0
FIRST_BATCH = 1_000
# The judged year, and a range cut mid-month at both ends (checked, timed, not judged).
RANGES = [
    (START, END, "", True),
    (date(2024, 2, 10), date(2024, 11, 20), ", part of the year", False),
]

# Entry n has 2 + n % 3 lines; its kind fixes the accounts and entities (e: the entry's
# estate, c: the collective economy) and how its amount splits (a1 60 %, a2 25 %, the rest);
# expenses and the rest are a fifth of payments and bills, so the estates make a surplus.
KINDS = """
SELECT n, CASE WHEN n % 3 = 0 THEN 'payment'
               WHEN n % 3 = 1 AND n % 97 = 0 THEN 'canteen'
               WHEN n % 3 = 1 AND (n / 3) % 2 = 0 THEN 'billing'
               WHEN n % 3 = 1 THEN 'expense3'
               WHEN n % 300 = 2 THEN 'pair'
               ELSE 'expense4' END AS kind,
       DATE '2024-01-01' + (n % 366) AS entry_date,
       (CAST(:estates AS uuid[]))[n % cardinality(CAST(:estates AS uuid[])) + 1] AS estate_id,
       md5(:tag || n)::uuid AS id,
       CAST((100 + (n::bigint * 7919 % 900000) / 100.0)
            / CASE WHEN n % 3 = 0 OR (n % 3 = 1 AND (n / 3) % 2 = 0) THEN 1 ELSE 5 END
            AS numeric(14, 2)) AS amount
FROM generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) n
"""
TEMPLATES = """
(VALUES ('payment', 'bank', 'D', 'all', 'e'), ('payment', 'receivable', 'C', 'all', 'e'),
        ('billing', 'receivable', 'D', 'all', 'e'),
        ('billing', 'property_income', 'C', 'a1', 'e'),
        ('billing', 'public_revenue', 'C', 'rest1', 'e'),
        ('expense3', 'wages', 'D', 'a1', 'e'), ('expense3', 'cleaning', 'D', 'rest1', 'e'),
        ('expense3', 'bank', 'C', 'all', 'e'),
        ('expense4', 'greening', 'D', 'a1', 'e'), ('expense4', 'repairs', 'D', 'a2', 'e'),
        ('expense4', 'energy', 'D', 'rest2', 'e'), ('expense4', 'bank', 'C', 'all', 'e'),
        ('canteen', 'cash', 'D', 'a1', 'c'), ('canteen', 'bank', 'D', 'rest1', 'c'),
        ('canteen', 'canteen_income', 'C', 'all', 'c'),
        ('pair', 'repairs', 'D', 'all', 'e'), ('pair', 'inter_entity', 'C', 'all', 'e'),
        ('pair', 'inter_entity', 'D', 'all', 'c'), ('pair', 'other_income', 'C', 'all', 'c'))
  AS t(kind, role, side, share, entity)
"""
ENTRIES_SQL = f"""
INSERT INTO journal_entries (tenant_id, id, number, entry_date, memo, source, source_key,
                             reference, reverses_id, pair_id)
SELECT :tenant, k.id, 'JZ2024-B' || lpad(k.n::text, 7, '0'), k.entry_date, '基准分录',
       CASE k.kind WHEN 'payment' THEN 'payment' WHEN 'billing' THEN 'billing'
                   ELSE 'manual' END,
       NULL, '', NULL, CASE WHEN k.kind = 'pair' THEN md5('pair' || k.id::text)::uuid END
FROM ({KINDS}) k
"""
LINES_SQL = f"""
INSERT INTO journal_lines (tenant_id, id, estate_id, entry_id, entry_date, account_id, debit,
                           credit, household_id, memo)
SELECT :tenant, gen_random_uuid(), CASE WHEN t.entity = 'e' THEN k.estate_id END, k.id,
       k.entry_date, a.id, CASE WHEN t.side = 'D' THEN s.amount ELSE 0 END,
       CASE WHEN t.side = 'C' THEN s.amount ELSE 0 END, NULL, ''
FROM ({KINDS}) k
JOIN {TEMPLATES} ON t.kind = k.kind
JOIN accounts a ON a.tenant_id = :tenant AND a.role = t.role
CROSS JOIN LATERAL (
  SELECT CASE t.share WHEN 'all' THEN k.amount
                      WHEN 'a1' THEN round(k.amount * 0.60, 2)
                      WHEN 'a2' THEN round(k.amount * 0.25, 2)
                      WHEN 'rest1' THEN k.amount - round(k.amount * 0.60, 2)
                      ELSE k.amount - round(k.amount * 0.60, 2) - round(k.amount * 0.25, 2)
         END AS amount
) s
"""
# The hand-written equivalents, run as the app role in the same tenant (RLS applies alike).
SQL_INCOME = """
SELECT l.account_id, l.estate_id,
       sum(CASE WHEN a.type = 'income' THEN l.credit - l.debit ELSE l.debit - l.credit END),
       sum(CASE WHEN e.pair_id IS NULL THEN 0
                WHEN a.type = 'income' THEN l.credit - l.debit ELSE l.debit - l.credit END)
FROM journal_lines l
JOIN accounts a ON a.tenant_id = l.tenant_id AND a.id = l.account_id
JOIN journal_entries e ON e.tenant_id = l.tenant_id AND e.id = l.entry_id
WHERE l.tenant_id = :tenant AND l.entry_date BETWEEN :start AND :end
  AND a.type IN ('income', 'expense')
GROUP BY l.account_id, l.estate_id
"""
SQL_TRIAL = """
SELECT account_id,
       sum(CASE WHEN entry_date < :start THEN debit - credit ELSE 0 END),
       sum(CASE WHEN entry_date >= :start THEN debit ELSE 0 END),
       sum(CASE WHEN entry_date >= :start THEN credit ELSE 0 END)
FROM journal_lines
WHERE tenant_id = :tenant AND entry_date <= :end
GROUP BY account_id
"""


def set_up(estates: int) -> dict:
    """A tenant with its estates, its chart and an owner holding an API token (committed)."""
    from ruihe_saas.auth.models import Membership, Role, User
    from ruihe_saas.auth.services import issue_token
    from ruihe_saas.estates.models import Estate, HandoverStage
    from ruihe_saas.extensions import db
    from ruihe_saas.ledger.services import ensure_chart
    from ruihe_saas.tenancy import tenant_context
    from ruihe_saas.tenancy.models import Tenant

    tag = uuid.uuid4().hex[:8]
    tenant = Tenant(slug=f"bench-{tag}", name="基准测试物业")
    user = User(email=f"bench-{tag}@example.invalid", name="bench", password_hash="!")
    db.session.add_all([tenant, user])
    db.session.flush()
    with tenant_context(tenant.id):
        db.session.add(Membership(user_id=user.id, role=Role.OWNER))
        estate_ids = []
        for e in range(estates):
            estate = Estate(
                name=f"基准小区{e}",
                code=f"B{e}",
                stage=HandoverStage.FULL_TAKEOVER,
                stage_since=START,
            )
            db.session.add(estate)
            db.session.flush()
            estate_ids.append(estate.id)
        ensure_chart()
        token = issue_token(user, days=1)
        db.session.commit()
    return {
        "tenant_id": tenant.id,
        "user_id": user.id,
        "slug": tenant.slug,
        "token": token,
        "tag": tag,
        "estate_ids": estate_ids,
    }


def load(app, facts: dict, lines: int, batch: int) -> tuple[float, int, int]:
    """Generate the journal as the owner, ``batch`` entries a transaction; then ANALYZE."""
    engine = create_engine(app.config["DATABASE_OWNER_URL"])
    entries = lines // 3  # entries have 2, 3, 4 lines in turn: 3 on average
    params = {
        "tenant": facts["tenant_id"],
        "tag": facts["tag"],
        "estates": [str(e) for e in facts["estate_ids"]],
    }
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            # A small first batch, then ANALYZE after every batch: the balance trigger's
            # lookup of an entry's lines picks ix_journal_lines_household (tenant_id,
            # household_id) when the statistics do not know the tenant yet, and then reads
            # all the tenant's lines for every entry (quadratic; see bench/README.md).
            bounds = [1, min(FIRST_BATCH, entries) + 1]
            bounds += range(bounds[-1] + batch, entries + 1, batch)
            bounds.append(entries + 1)
            for lo, hi in zip(bounds, bounds[1:], strict=False):
                if lo >= hi:
                    continue
                with connection.begin():  # the deferred balance trigger runs at this commit
                    connection.execute(
                        text("SELECT set_config('app.tenant_id', :t, true)"),
                        {"t": str(facts["tenant_id"])},
                    )
                    connection.execute(text(ENTRIES_SQL), {**params, "lo": lo, "hi": hi - 1})
                    connection.execute(text(LINES_SQL), {**params, "lo": lo, "hi": hi - 1})
                with connection.begin():
                    connection.execute(text("ANALYZE journal_entries"))
                    connection.execute(text("ANALYZE journal_lines"))
                print(f"  loaded entries {lo}–{hi - 1}", end="\r", flush=True)
        loaded = time.perf_counter() - started
        with engine.connect() as connection:
            # VACUUM as autovacuum would after a load this size: it sets the visibility map,
            # so the reports' reads of edge days can be index-only (ix_journal_lines_date)
            connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("journal_entries", "journal_lines", "account_month_totals", "accounts"):
                connection.execute(text(f"VACUUM ANALYZE {table}"))
            counted = connection.execute(
                text(
                    "SELECT set_config('app.tenant_id', :t, false),"
                    " (SELECT count(*) FROM journal_lines),"
                    " (SELECT count(*) FROM journal_entries)"
                ),
                {"t": str(facts["tenant_id"])},
            ).one()
            connection.execute(text("SELECT set_config('app.tenant_id', '', false)"))
    finally:
        engine.dispose()
    return loaded, counted[1], counted[2]


def best_of(fn) -> tuple[float, object]:
    """One warm-up, then the best of RUNS; each run in its own transaction, as a request."""
    from ruihe_saas.extensions import db

    result = fn()
    db.session.rollback()
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
        db.session.rollback()
    return best, result


def time_reports(app, facts: dict) -> dict:
    from ruihe_saas.extensions import db
    from ruihe_saas.tenancy import tenant_context

    figures: dict = {}
    with tenant_context(facts["tenant_id"]):
        for start, end, suffix, judged in RANGES:
            _time_range(facts, figures, start, end, suffix, judged)
    db.session.remove()
    _time_api(app, facts, figures)
    return figures


def _time_range(facts: dict, figures: dict, start, end, suffix: str, judged: bool) -> None:
    """The service and the hand-written SQL for ``start``–``end`` (as the app role)."""
    from ruihe_saas.extensions import db
    from ruihe_saas.ledger import reports

    params = {"tenant": facts["tenant_id"], "start": start, "end": end}
    label = f"consolidated, {start.year}" if judged else f"consolidated, {start} – {end}"
    seconds, statement = best_of(lambda: reports.income_statement(start, end))
    income = figures["income statement" + suffix] = {
        "label": label,
        "judged": judged,
        "service": seconds,
        "service totals": (
            statement.total_income(),
            statement.total_expenses(),
            statement.net_income(),
            statement.eliminations,
            len(statement.entities),
        ),
    }
    seconds, rows = best_of(lambda: db.session.execute(text(SQL_INCOME), params).all())
    income["SQL"] = seconds
    income["SQL totals"] = _income_totals(rows)

    seconds, balance = best_of(lambda: reports.trial_balance(start, end))
    trial = figures["trial balance" + suffix] = {
        "label": label,
        "judged": judged,
        "service": seconds,
        "service totals": (balance.debits, balance.credits, balance.closing, len(balance.rows)),
    }
    seconds, rows = best_of(lambda: db.session.execute(text(SQL_TRIAL), params).all())
    trial["SQL"] = seconds
    debits = sum((r[2] for r in rows), Decimal(0))
    credits = sum((r[3] for r in rows), Decimal(0))
    closing = sum((r[1] + r[2] - r[3] for r in rows), Decimal(0))
    trial["SQL totals"] = (debits, credits, closing, len(rows))


def _income_totals(rows) -> tuple:
    from sqlalchemy import select

    from ruihe_saas.extensions import db
    from ruihe_saas.ledger.models import Account, AccountType

    types = dict(db.session.execute(select(Account.id, Account.type)).all())
    income = sum((r[2] - r[3] for r in rows if types[r[0]] == AccountType.INCOME), Decimal(0))
    expenses = sum((r[2] - r[3] for r in rows if types[r[0]] == AccountType.EXPENSE), Decimal(0))
    eliminations = sum(
        (r[3] if types[r[0]] == AccountType.INCOME else -r[3] for r in rows), Decimal(0)
    )
    return income, expenses, income - expenses, eliminations, len({r[1] for r in rows})


API = {
    "income statement": "reports/income-statement",
    "trial balance": "reports/trial-balance",
}


def _time_api(app, facts: dict, figures: dict) -> None:
    """Through the HTTP API, if the app has the endpoints (in-process WSGI, bearer token)."""
    from ruihe_saas.extensions import db

    rules = {rule.rule for rule in app.url_map.iter_rules()}
    client = app.test_client()
    headers = {"Authorization": f"Bearer {facts['token']}"}
    for report, path in API.items():
        if not any(rule.endswith("/" + path) for rule in rules):
            figures[report]["API"] = None
            continue
        url = f"/api/v1/t/{facts['slug']}/{path}?from={START}&to={END}"

        def get(url=url):
            response = client.get(url, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"GET {url}: {response.status_code} {response.get_data()[:500]}")
            return response.get_json()

        seconds, body = best_of(get)
        figures[report]["API"] = seconds
        figures[report]["API body"] = body
        db.session.remove()


def report(figures: dict) -> int:
    status = 0
    for name, f in figures.items():
        service, sql, api = f["service"], f["SQL"], f.get("API")
        timings = [("service", service)] + ([("API", api)] if api is not None else [])
        parts = [f"{label} {seconds * 1000:.0f} ms" for label, seconds in timings]
        ratios = ", ".join(f"{label}/SQL = {seconds / sql:.2f}×" for label, seconds in timings)
        name = name.split(",")[0]
        note = "" if api is not None or not f["judged"] else " [no API endpoint yet: service only]"
        note += "" if f["judged"] else " [edge days from the lines; not judged]"
        print(
            f"{name} ({f['label']}): {', '.join(parts)}, SQL {sql * 1000:.0f} ms ({ratios}){note}"
        )
        for label, seconds in timings:
            if f["judged"] and (seconds > RATIO * sql or seconds * 1000 >= LIMIT_MS):
                print(f"  MISSED: {name} through the {label}: {seconds * 1000:.0f} ms")
                status = 1
        if f["service totals"] != f["SQL totals"]:
            print(f"  MISMATCH: service {f['service totals']}")
            print(f"            SQL     {f['SQL totals']}")
            status = 1
        print(f"  totals: {f['SQL totals']}")
        body = f.get("API body")
        if name == "income statement" and isinstance(body, dict):
            keys = ("income", "expenses", "net_income")
            expected = dict(zip(keys, f["SQL totals"][:3], strict=True))
            got = {key: Decimal(str(body.get(key))) for key in expected if key in body}
            if got != expected:
                print(f"  MISMATCH: API {got} <> {expected}")
                status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--estates", type=int, default=100)
    parser.add_argument("--batch", type=int, default=50_000, help="entries per transaction")
    parser.add_argument("--keep", action="store_true", help="leave the tenant in place")
    args = parser.parse_args(argv)
    app = create_app()
    with app.app_context():
        from flask_migrate import upgrade

        from ruihe_saas.extensions import db

        upgrade()
        if db.engine.dialect.name != "postgresql":
            raise SystemExit("this benchmark is about PostgreSQL: set DATABASE_URL")
        facts = set_up(args.estates)
        db.session.remove()
        try:
            loaded, lines, entries = load(app, facts, args.lines, args.batch)
            print(
                f"loaded {lines} lines in {entries} entries ({args.estates} estates + the "
                f"collective, 2024) in {loaded:.1f} s as the owner, balance trigger on "
                f"({lines / loaded:.0f} lines/s; set-up, not judged)",
                flush=True,
            )
            status = report(time_reports(app, facts))
        finally:
            db.session.remove()
            if args.keep:
                print(f"kept tenant {facts['slug']} ({facts['tenant_id']})")
            else:
                print("deleting the benchmark tenant (as the owner) …", flush=True)
                clean_up(app, facts)
    return status


if __name__ == "__main__":
    sys.exit(main())
