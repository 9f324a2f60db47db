"""Writing a chunk of bills and lines in bulk, in the caller's transaction.

PostgreSQL: ``COPY … FROM STDIN`` into a temporary staging table (COPY cannot write to a
table under row-level security), then one ``INSERT … SELECT`` into ``bills`` and
``bill_lines``, where RLS and every constraint apply (a duplicate line aborts the chunk,
never slips in). Other databases: one multi-row ``INSERT``. Bill numbers come from the tenant's
``bill:<year>`` sequence in the same transaction, so they are gap-free.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import Numeric, bindparam, insert, text, update

from ruihe_saas.billing.charges import fen_str
from ruihe_saas.billing.models import Bill, BillLine, BillStatus, bill_status_for
from ruihe_saas.extensions import db
from ruihe_saas.ids import new_id_ints
from ruihe_saas.tenancy.context import require_tenant_id
from ruihe_saas.tenancy.sequences import take_numbers

BILL_COLUMNS = (
    "tenant_id", "id", "estate_id", "building_id", "household_id", "period", "number",
    "billing_run_id", "issued_on", "due_date", "amount", "credited", "paid", "status",
)  # fmt: skip
LINE_COLUMNS = (
    "tenant_id", "id", "bill_id", "estate_id", "household_id", "period", "fee_item_id",
    "fee_item_code", "name", "revenue_category", "charge_kind", "quantity", "unit", "rate",
    "months", "days", "period_days", "gross", "discount", "amount", "formula", "credited",
    "paid", "billing_run_id",
)  # fmt: skip
FORMULA_LENGTH = 400


def bill_number(year: int, sequence: int) -> str:
    """ "ZD2024-0000123": 账单, the year, the tenant's sequence for that year."""
    return f"ZD{year}-{sequence:07d}"


def is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def lock_run(estate_id, period: str) -> None:
    """Serialise the chunks of runs of one estate and period (PostgreSQL advisory lock held
    until the chunk commits); SQLite serialises writers by itself."""
    if is_postgres():
        key = f"billing:{require_tenant_id()}:{estate_id}:{period}"
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


def write_bills(run_plan, drafts, run_id) -> None:
    tenant_id = require_tenant_id()
    period = run_plan.period
    new = [draft for draft in drafts if draft.existing is None]
    line_count = sum(len(draft.lines) for draft in drafts)
    ids = new_id_ints(len(new) + line_count)
    first_number = take_numbers(f"bill:{period.year}", len(new)) if new else 0
    estate_id = run_plan.estate.id
    bills, updates = [], []
    for offset, draft in enumerate(new):
        household = draft.household
        amount = draft.amount_fen
        draft.bill_id = ids[offset]
        status = BillStatus.PAID if amount == 0 else BillStatus.OPEN
        bills.append(
            (
                tenant_id, draft.bill_id, estate_id, household.building_id, household.id,
                str(period), bill_number(period.year, first_number + offset), run_id,
                period.start, min(plan.due_date for plan, _line in draft.lines),
                fen_str(amount), "0.00", "0.00", status,
            )
        )  # fmt: skip
    for draft in drafts:
        if draft.existing is not None:
            bill_id, amount, credited, paid = draft.existing
            draft.bill_id = bill_id
            new_amount = amount + Decimal(fen_str(draft.amount_fen))
            updates.append(
                {
                    "b_id": bill_id,
                    "b_amount": new_amount,
                    "b_status": bill_status_for(new_amount, credited, paid),
                }
            )
    line_ids = iter(ids[len(new) :])
    if is_postgres():
        _copy("bills", BILL_COLUMNS, "".join(_copy_row(row) for row in bills))
        text_rows = _line_texts(tenant_id, estate_id, str(period), run_id, drafts, line_ids)
        _copy("bill_lines", PG_LINE_COLUMNS, text_rows)
    else:
        _insert(Bill, BILL_COLUMNS, bills)
        _insert(BillLine, LINE_COLUMNS, _line_tuples(tenant_id, estate_id, str(period),
                                                     run_id, drafts, line_ids))  # fmt: skip
    if updates:
        table = Bill.__table__
        db.session.execute(
            update(table)
            .where(table.c.tenant_id == tenant_id, table.c.id == bindparam("b_id"))
            .values(amount=bindparam("b_amount"), status=bindparam("b_status")),
            [{**u, "b_id": _uuid(u["b_id"])} for u in updates],
            execution_options={"synchronize_session": False},
        )


def _line_tuples(tenant_id, estate_id, period: str, run_id, drafts, line_ids) -> list[tuple]:
    return [
        (
            tenant_id,
            next(line_ids),
            draft.bill_id,
            estate_id,
            draft.household.id,
            period,
            plan.item_id,
            plan.code,
            plan.name,
            plan.revenue_category,
            plan.charge_kind,
            line.quantity,
            plan.unit,
            str(plan.rate),
            plan.span.months,
            line.days,
            plan.span.days,
            fen_str(line.gross_fen),
            fen_str(line.discount_fen),
            fen_str(line.amount_fen),
            line.formula[:FORMULA_LENGTH],
            "0.00",
            "0.00",
            run_id,
        )  # fmt: skip
        for draft in drafts
        for plan, line in draft.lines
    ]


# The same columns for COPY, constants first: each row is one f-string (the run's inner
# loop writes hundreds of thousands of them).
PG_LINE_COLUMNS = (
    "tenant_id", "estate_id", "period", "billing_run_id", "credited", "paid",
    "fee_item_id", "fee_item_code", "name", "revenue_category", "charge_kind", "unit", "rate",
    "months", "period_days",
    "id", "bill_id", "household_id", "quantity", "days", "gross", "discount", "amount",
    "formula",
)  # fmt: skip


def _line_texts(tenant_id, estate_id, period: str, run_id, drafts, line_ids) -> str:
    head = "\t".join(_copy_value(v) for v in (tenant_id, estate_id, period, run_id))
    head += "\t0.00\t0.00\t"
    items: dict = {}
    out = []
    for draft in drafts:
        bill_hex = _copy_value(draft.bill_id)
        household_hex = draft.household.id.hex
        for plan, line in draft.lines:
            item = items.get(plan.item_id)
            if item is None:
                item = items[plan.item_id] = head + "\t".join(
                    _copy_value(v)
                    for v in (plan.item_id, plan.code, plan.name, plan.revenue_category,
                              plan.charge_kind, plan.unit, str(plan.rate), plan.span.months,
                              plan.span.days)
                ) + "\t"  # fmt: skip
            gross, discount = line.gross_fen, line.discount_fen
            out.append(
                f"{item}{next(line_ids):032x}\t{bill_hex}\t{household_hex}\t{line.quantity}\t"
                f"{line.days}\t{gross // 100}.{gross % 100:02d}\t"
                f"{discount // 100}.{discount % 100:02d}\t{fen_str(gross - discount)}\t"
                f"{line.formula[:FORMULA_LENGTH].translate(_ESCAPES)}\n"
            )
    return "".join(out)


def _uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(int=value)


# --- PostgreSQL: COPY --------------------------------------------------------------------

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, int) and not isinstance(value, bool) and value > 1 << 64:
        return f"{value:032x}"  # a new id (UUIDv7 as an integer)
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    return str(value)


def _copy_row(row: tuple) -> str:
    return "\t".join(map(_copy_value, row)) + "\n"


def _copy(table: str, columns: tuple[str, ...], payload: str) -> None:
    if not payload:
        return
    stage = f"staging_{table}"
    names = ", ".join(columns)
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        # one per connection, emptied at each commit; no RLS on a temporary table
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage}"
            f" (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            copy.write(payload)
        # table and column names are the constants above, never input
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage}")  # noqa: S608
        cursor.execute(f"TRUNCATE {stage}")


# --- elsewhere: INSERT -------------------------------------------------------------------


def _insert_value(value):
    if isinstance(value, int) and not isinstance(value, bool) and value > 1 << 64:
        return uuid.UUID(int=value)
    return value


def _insert(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    table = model.__table__
    decimals = {c.name for c in table.columns if isinstance(c.type, Numeric)}
    records = []
    for row in rows:
        record = {}
        for name, value in zip(columns, row, strict=True):
            value = _insert_value(value)
            if name in decimals and isinstance(value, str):
                value = Decimal(value)
            record[name] = value
        records.append(record)
    db.session.execute(insert(table), records)
