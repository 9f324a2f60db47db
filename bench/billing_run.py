"""Benchmark: a monthly billing run over N households, against one set-based SQL statement.

Run it against a PostgreSQL database of your own (it creates and deletes its own tenant):

    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE ruihe_bench OWNER ruihe_owner"
    DATABASE_URL=postgresql://ruihe_app@127.0.0.1/ruihe_bench \\
    DATABASE_OWNER_URL=postgresql://ruihe_owner@127.0.0.1/ruihe_bench \\
        .venv/bin/python bench/billing_run.py              # --households 100000 --estates 100

What it does: migrates the database, creates a throwaway tenant with ``--estates`` estates
in full takeover (20 buildings each, the last 5 with lifts), ``--households`` households
spread over them (generated in SQL; every tenth vacant, billed at 50 %), and per estate a
fee schedule of four items — property service per m², garbage per household, a lift fee
per m² for lift buildings only, metered water (a reading for every household). It then
bills July 2024 for every estate **through the real service** (``runs.start_billing_run`` +
``runs.execute_billing_run``: the job's code path, chunk commits included) and times it. In
the same process it times one set-based ``INSERT … SELECT`` producing the same bills and
lines (for August, so nothing collides), checks that the engine's totals equal the SQL's,
and prints its figures, e.g. (20,000 households, 2026-11-29)

    billed 20000 households (20 estates) in 11.40 s: 1755 households/s; set-based SQL:
    3.66 s (5461 households/s; engine/SQL = 3.1×); peak RSS 159 MB (before the run 159 MB)
    floor (the same bills and lines into bare tables keeping only their keys): 0.33 s
    (59785 households/s)

The floor copies the engine's bills and lines into tables with only a primary key and the
idempotency key (no foreign keys, checks, row-level security, ledger, pricing): the bound
no run can beat on the machine, to show where the time goes.

Targets on a 2-core machine: ≥ 20,000 households/s, ≤ 5× the SQL, peak RSS < 300 MB at any
N. Exit status 1 when a target is missed. Everything it created is deleted at the end.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_households import clean_up  # noqa: E402
from sqlalchemy import text  # noqa: E402

from ruihe_saas import create_app  # noqa: E402

BUILDINGS = 20
LIFT_BUILDINGS = 5

HOUSEHOLDS_SQL = """
INSERT INTO households (tenant_id, id, estate_id, building_id, unit, room, floor, area,
                        occupancy, owner_names, phones, notes)
SELECT b.tenant_id, gen_random_uuid(), b.estate_id, b.id, '1', g::text, g % 18 + 1,
       50 + (g * 37 % 7000) / 100.0,
       CASE WHEN g % 10 = 0 THEN 'vacant' ELSE 'occupied' END, '', '', ''
FROM buildings b, generate_series(1, :per_building) g
WHERE b.tenant_id = :tenant
"""
READINGS_SQL = """
INSERT INTO meter_readings (tenant_id, id, estate_id, household_id, meter_kind, period,
                            previous_reading, current_reading, is_replacement)
SELECT tenant_id, gen_random_uuid(), estate_id, id, 'water', p, 100,
       100 + abs(hashtext(id::text)) % 3000 / 100.0, false
FROM households, unnest(ARRAY['2024-07', '2024-08']) p WHERE tenant_id = :tenant
"""
# The same lines in one statement per table: what a hand-written set-based run would do.
SQL_BILLS = """
INSERT INTO bills (tenant_id, id, estate_id, building_id, household_id, period, number,
                   issued_on, due_date, amount, credited, paid, status)
SELECT h.tenant_id, gen_random_uuid(), h.estate_id, h.building_id, h.id, '2024-08',
       'SQL-' || row_number() OVER (), DATE '2024-08-01', DATE '2024-08-31', 0, 0, 0, 'open'
FROM households h WHERE h.tenant_id = :tenant
"""
SQL_LINES = """
INSERT INTO bill_lines (tenant_id, id, bill_id, estate_id, household_id, period, fee_item_id,
                        fee_item_code, name, revenue_category, charge_kind, quantity, unit,
                        rate, months, days, period_days, gross, discount, amount, formula,
                        credited, paid)
SELECT h.tenant_id, gen_random_uuid(), b.id, h.estate_id, h.id, '2024-08', i.id, i.code,
       i.name, i.revenue_category, i.charge_kind, q.quantity, i.unit, i.rate, 1, 31, 31,
       q.amount, 0, q.amount, '', 0, 0
FROM households h
JOIN buildings bl ON bl.tenant_id = h.tenant_id AND bl.id = h.building_id
JOIN bills b ON b.tenant_id = h.tenant_id AND b.household_id = h.id AND b.period = '2024-08'
JOIN fee_items i ON i.tenant_id = h.tenant_id AND i.estate_id = h.estate_id
LEFT JOIN meter_readings r ON r.tenant_id = h.tenant_id AND r.household_id = h.id
     AND r.period = '2024-08' AND r.meter_kind = 'water'
CROSS JOIN LATERAL (
  SELECT CASE i.charge_kind WHEN 'per_area' THEN h.area WHEN 'fixed' THEN 1
              ELSE r.current_reading - r.previous_reading END AS quantity,
         round(CASE i.charge_kind
                 WHEN 'per_area' THEN i.rate * h.area
                 WHEN 'fixed' THEN i.rate
                 ELSE (r.current_reading - r.previous_reading) * i.rate END
               * CASE WHEN h.occupancy = 'vacant' AND i.charge_kind <> 'metered'
                      THEN i.vacant_rate_percent / 100 ELSE 1 END, 2) AS amount
) q
WHERE h.tenant_id = :tenant AND (NOT i.lift_only OR bl.has_lift)
"""
SQL_TOTALS = """
UPDATE bills b SET amount = (SELECT sum(l.amount) FROM bill_lines l
                             WHERE l.tenant_id = b.tenant_id AND l.bill_id = b.id)
WHERE b.tenant_id = :tenant AND b.period = '2024-08'
"""


# The floor: the engine's bills and lines copied into bare tables that keep only the keys
# any run needs (primary key, the idempotency key) — no foreign keys, checks, row-level
# security, ledger or pricing. No billing run can be faster than this on the machine.
FLOOR_TABLES = (
    ("bills", "(tenant_id, household_id, period)"),
    ("bill_lines", "(tenant_id, household_id, period, fee_item_id)"),
)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def set_up(households: int, estates: int) -> dict:
    from ruihe_saas.estates.models import Building, Estate, HandoverStage
    from ruihe_saas.extensions import db
    from ruihe_saas.fees.models import (
        ChargeKind,
        FeeItem,
        FeeSchedule,
        MeterKind,
        StageApplicability,
    )
    from ruihe_saas.handover.models import HandoverTransition
    from ruihe_saas.ids import new_id
    from ruihe_saas.tenancy import tenant_context
    from ruihe_saas.tenancy.models import Tenant

    tag = uuid.uuid4().hex[:8]
    tenant = Tenant(slug=f"bench-{tag}", name="基准测试物业")
    db.session.add(tenant)
    db.session.flush()
    estate_ids = []
    with tenant_context(tenant.id):
        for e in range(estates):
            estate = Estate(
                name=f"基准小区{e}",
                code=f"B{e}",
                stage=HandoverStage.FULL_TAKEOVER,
                stage_since=date(2024, 1, 1),
            )
            db.session.add(estate)
            db.session.flush()
            estate_ids.append(estate.id)
            db.session.add(
                HandoverTransition(
                    estate_id=estate.id,
                    from_stage=HandoverStage.PROSPECT,
                    to_stage=HandoverStage.FULL_TAKEOVER,
                    effective_date=date(2024, 1, 1),
                )
            )
            for b in range(BUILDINGS):
                db.session.add(
                    Building(
                        estate_id=estate.id,
                        name=f"{b + 1}栋",
                        floors=18,
                        has_lift=b >= BUILDINGS - LIFT_BUILDINGS,
                    )
                )
            schedule_id = new_id()
            db.session.add(
                FeeSchedule(
                    id=schedule_id,
                    lineage_id=schedule_id,
                    estate_id=estate.id,
                    name="基准收费标准",
                    stages=StageApplicability.BOTH,
                    effective_from=date(2024, 1, 1),
                )
            )
            db.session.flush()
            for position, (code, name, kind, rate, extra) in enumerate(
                [
                    ("property_service", "物业服务费", ChargeKind.PER_AREA, "0.60", {}),
                    ("garbage", "垃圾清运费", ChargeKind.FIXED, "10", {}),
                    ("lift", "电梯费", ChargeKind.PER_AREA, "0.15", {"lift_only": True}),
                    ("water", "水费", ChargeKind.METERED, "3.50",
                     {"meter_kind": MeterKind.WATER, "unit": "吨"}),
                ]
            ):  # fmt: skip
                db.session.add(
                    FeeItem(
                        schedule_id=schedule_id,
                        estate_id=estate.id,
                        position=position,
                        code=code,
                        name=name,
                        charge_kind=kind,
                        rate=Decimal(rate),
                        vacant_rate_percent=Decimal("50") if kind != ChargeKind.METERED else 100,
                        **extra,
                    )
                )
        db.session.flush()
        per_building = households // (estates * BUILDINGS)
        db.session.execute(
            text(HOUSEHOLDS_SQL), {"per_building": per_building, "tenant": tenant.id}
        )
        db.session.execute(text(READINGS_SQL), {"tenant": tenant.id})
        db.session.commit()
    _analyze()
    return {
        "tenant_id": tenant.id,
        "user_id": None,
        "estate_ids": estate_ids,
        "households": per_building * BUILDINGS * estates,
    }


def _analyze(command: str = "ANALYZE") -> None:
    """Fresh statistics, as autovacuum would have them on a live database (or, at the end,
    ``VACUUM ANALYZE``: the deleted rows would otherwise slow the next run where autovacuum
    is off)."""
    from flask import current_app
    from sqlalchemy import create_engine

    url = current_app.config["DATABASE_OWNER_URL"]
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(command))
    finally:
        engine.dispose()


def run_engine(facts: dict) -> tuple[float, int, Decimal]:
    from ruihe_saas.billing import runs
    from ruihe_saas.extensions import db
    from ruihe_saas.tenancy import tenant_context

    lines, amount = 0, Decimal("0")
    with tenant_context(facts["tenant_id"]):
        started = time.perf_counter()
        for estate_id in facts["estate_ids"]:
            run = runs.start_billing_run(estate_id, "2024-07", False)
            db.session.commit()  # what the request does; the job is then executed:
            runs.execute_billing_run(run.id)
            run = runs.get_billing_run(run.id)
            lines += run.lines_created
            amount += run.total_amount
        elapsed = time.perf_counter() - started
    return elapsed, lines, amount


def run_sql(facts: dict) -> tuple[float, int, Decimal]:
    from ruihe_saas.extensions import db
    from ruihe_saas.tenancy import tenant_context

    params = {"tenant": facts["tenant_id"]}
    with tenant_context(facts["tenant_id"]):
        started = time.perf_counter()
        db.session.execute(text(SQL_BILLS), params)
        lines = db.session.execute(text(SQL_LINES), params).rowcount
        db.session.execute(text(SQL_TOTALS), params)
        db.session.commit()
        elapsed = time.perf_counter() - started
        amount = db.session.execute(
            text("SELECT sum(amount) FROM bill_lines WHERE tenant_id = :tenant AND period = :p"),
            {**params, "p": "2024-08"},
        ).scalar()
    return elapsed, lines, amount


def run_floor(app, facts: dict) -> float:
    """Seconds to insert the engine's July bills and lines into bare copies of the tables,
    committed (as the owner; the copies are dropped afterwards)."""
    from sqlalchemy import create_engine

    engine = create_engine(app.config["DATABASE_OWNER_URL"])
    params = {"tenant": str(facts["tenant_id"]), "period": "2024-07"}
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT set_config('app.tenant_id', :tenant, false)"), params)
            for table, unique in FLOOR_TABLES:  # constants, never input
                connection.execute(text(
                    f"CREATE TEMPORARY TABLE source_{table} AS SELECT * FROM {table}"  # noqa: S608
                    " WHERE tenant_id = :tenant AND period = :period"
                ), params)  # fmt: skip
                connection.execute(text(
                    f"CREATE TABLE bench_floor_{table} (LIKE {table} INCLUDING DEFAULTS);"
                    f"ALTER TABLE bench_floor_{table} ADD PRIMARY KEY (tenant_id, id),"
                    f" ADD UNIQUE {unique}"
                ))  # fmt: skip
            connection.commit()
            started = time.perf_counter()
            for table, _unique in FLOOR_TABLES:
                connection.execute(
                    text(f"INSERT INTO bench_floor_{table} SELECT * FROM source_{table}")  # noqa: S608
                )
            connection.commit()
            elapsed = time.perf_counter() - started
            for table, _unique in FLOOR_TABLES:
                connection.execute(text(f"DROP TABLE bench_floor_{table}, source_{table}"))
            connection.commit()
    finally:
        engine.dispose()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--estates", type=int, default=100)
    args = parser.parse_args(argv)
    app = create_app()
    with app.app_context():
        from flask_migrate import upgrade

        from ruihe_saas.extensions import db

        upgrade()
        if db.engine.dialect.name != "postgresql":
            raise SystemExit("this benchmark is about PostgreSQL: set DATABASE_URL")
        facts = set_up(args.households, args.estates)
        db.session.remove()
        rss_before = rss_mb()
        try:
            engine_s, engine_lines, engine_amount = run_engine(facts)
            rss_after = rss_mb()
            sql_s, sql_lines, sql_amount = run_sql(facts)
            floor_s = run_floor(app, facts)
            status = report(facts, args, engine_s, sql_s, floor_s, rss_before, rss_after)
            if (engine_lines, engine_amount) != (sql_lines, sql_amount):
                print(f"MISMATCH: engine {engine_lines} lines {engine_amount}")
                print(f"          SQL    {sql_lines} lines {sql_amount}")
                status = 1
        finally:
            db.session.remove()
            print("deleting the benchmark tenant (slow: row by row, as the owner) …", flush=True)
            clean_up(app, facts)
            _analyze("VACUUM ANALYZE")
    return status


def report(facts, args, engine_s, sql_s, floor_s, rss_before, rss_after) -> int:
    households = facts["households"]
    rate = households / engine_s
    ratio = engine_s / sql_s
    print(
        f"billed {households} households ({args.estates} estates) in {engine_s:.2f} s: "
        f"{rate:.0f} households/s; set-based SQL: {sql_s:.2f} s "
        f"({households / sql_s:.0f} households/s; engine/SQL = {ratio:.1f}×); "
        f"peak RSS {rss_after:.0f} MB (before the run {rss_before:.0f} MB)",
        flush=True,
    )
    print(
        f"floor (the same bills and lines into bare tables keeping only their keys): "
        f"{floor_s:.2f} s ({households / floor_s:.0f} households/s)",
        flush=True,
    )
    return 0 if rate >= 20_000 and ratio <= 5 and rss_after < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
