"""Exports of bills, arrears and collection rates as CSV and XLSX, with Chinese headers.

A file is a list of ``Table``s (title, headers, rows produced lazily). CSV: UTF-8 with a BOM
(so Excel opens Chinese right), CRLF, streamed row by row (``csv_chunks``); several tables are
separated by an empty row, each after a row with its title. XLSX: one sheet per table,
written by openpyxl's write-only workbook. Text cells that a spreadsheet would run as a
formula (starting with ``= + - @``, tab or CR) get a leading apostrophe. Rows come from the
database in batches (``yield_per``), never all at once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.arrears import collection, services
from ruihe_saas.billing.models import Bill, BillStatus
from ruihe_saas.errors import NotFound
from ruihe_saas.estates.models import Building, Estate, Household
from ruihe_saas.estates.services import get_estate
from ruihe_saas.extensions import db
from ruihe_saas.payments.services import money
from ruihe_saas.tenancy.context import (
    current_estate_scope,
    estate_scope,
    require_tenant_id,
    tenant_context,
)
from ruihe_saas.tenancy.lookup import get_owned

CSV_MIMETYPE = "text/csv"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BATCH = 1000

STATUS_LABELS = {
    BillStatus.OPEN: "未缴",
    BillStatus.PARTIALLY_PAID: "部分缴纳",
    BillStatus.PAID: "已缴清",
    BillStatus.VOID: "已作废",
}
BUCKET_HEADERS = {
    "d0_30": "0-30天",
    "d31_90": "31-90天",
    "d91_180": "91-180天",
    "d181_365": "181-365天",
    "over_365": "365天以上",
}


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: Callable[[], Iterable[list]]  # called once, when the file is written


def household_label(building: str, unit: str, room: str) -> str:
    """As ``Household.label``: "3栋2单元502"."""
    return f"{building}{unit + '单元' if unit else ''}{room}"


def _cell(value):
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    if isinstance(value, date):
        return value.isoformat()
    return value


def _csv_value(value) -> str:
    value = _cell(value)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def csv_chunks(tables: list[Table]) -> Iterator[bytes]:
    """The CSV file, in chunks of about ``BATCH`` rows (the first starts with the BOM)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    first = True
    for index, table in enumerate(tables):
        if index:
            writer.writerow([])
        if len(tables) > 1:
            writer.writerow([table.title])
        writer.writerow(table.headers)
        for count, row in enumerate(table.rows(), start=1):
            writer.writerow([_csv_value(v) for v in row])
            if count % BATCH == 0:
                yield _take(buffer, first)
                first = False
    yield _take(buffer, first)


def streamed_csv(tables: list[Table]) -> Iterator[bytes]:
    """``csv_chunks`` for a streamed response: the rows are read after the view returned and
    the request's tenant context was left, so the generator re-enters the same tenant and
    estate scope (and the request context, for the session)."""
    from flask import stream_with_context

    tenant_id, scope = require_tenant_id(), current_estate_scope()

    def generate() -> Iterator[bytes]:
        with tenant_context(tenant_id), estate_scope(scope):
            yield from csv_chunks(tables)

    return stream_with_context(generate())


def _take(buffer: io.StringIO, first: bool) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return ("\ufeff" + text if first else text).encode("utf-8")


def xlsx_bytes(tables: list[Table]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for table in tables:
        sheet = workbook.create_sheet(table.title[:31])
        sheet.freeze_panes = "A2"
        header = []
        for text in table.headers:
            cell = WriteOnlyCell(sheet, value=text)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in table.rows():
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value=_cell(value))
                if isinstance(value, Decimal):
                    cell.number_format = "0.00"
                cells.append(cell)
            sheet.append(cells)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


# --- bills ---------------------------------------------------------------------------------

BILL_HEADERS = [
    "账单号", "小区", "楼栋", "房屋", "业主", "账期", "出账日期", "到期日",
    "应收金额", "红冲金额", "已收金额", "欠费金额", "状态",
]  # fmt: skip


def bills_table(
    *,
    estate: Estate | None = None,
    building: Building | None = None,
    period: str | None = None,
    status: BillStatus | None = None,
) -> Table:
    """Bills, filtered by estate, building, period (``YYYY-MM``) and status."""
    statement = (
        select(
            Bill.number,
            Estate.name,
            Building.name,
            Household.unit,
            Household.room,
            Household.owner_names,
            Bill.period,
            Bill.issued_on,
            Bill.due_date,
            Bill.amount,
            Bill.credited,
            Bill.paid,
            Bill.status,
        )
        .join(Estate, (Estate.tenant_id == Bill.tenant_id) & (Estate.id == Bill.estate_id))
        .join(Building, (Building.tenant_id == Bill.tenant_id) & (Building.id == Bill.building_id))
        .join(
            Household,
            (Household.tenant_id == Bill.tenant_id) & (Household.id == Bill.household_id),
        )
        .order_by(Estate.code, Bill.period, Building.position, Building.name, Household.unit)
        .order_by(Household.room, Bill.id)
    )
    if estate is not None:
        statement = statement.where(Bill.estate_id == estate.id)
    if building is not None:
        statement = statement.where(Bill.building_id == building.id)
    if period is not None:
        statement = statement.where(Bill.period == str(collection.parse_period(period)))
    if status is not None:
        statement = statement.where(Bill.status == BillStatus(status))

    def rows():
        result = db.session.execute(statement.execution_options(yield_per=BATCH))
        for row in result:
            (number, estate_name, building_name, unit, room, owners, bill_period) = row[:7]
            issued, due, amount, credited, paid, bill_status = row[7:]
            yield [
                number,
                estate_name,
                building_name,
                household_label(building_name, unit, room),
                owners,
                bill_period,
                issued,
                due,
                amount,
                credited,
                paid,
                amount - credited - paid,
                STATUS_LABELS.get(bill_status, str(bill_status)),
            ]

    return Table("账单", BILL_HEADERS, rows)


# --- arrears -------------------------------------------------------------------------------


def _estates() -> list[Estate]:
    return list(db.session.scalars(select(Estate).order_by(Estate.code)))


def _bucket_headers(suffix: str) -> list[str]:
    return [BUCKET_HEADERS[key] + suffix for key in services.BUCKET_KEYS]


AGING_HEADERS = [
    "小区",
    "楼栋",
    *[h for key in services.BUCKET_KEYS for h in (BUCKET_HEADERS[key] + "金额",
                                                   BUCKET_HEADERS[key] + "户数")],
    "欠费合计",
    "欠费户数",
]  # fmt: skip
HOUSEHOLD_HEADERS = [
    "小区", "楼栋", "房屋", "业主", "电话", "欠费账单数", "最早到期日", "逾期天数",
    *_bucket_headers("金额"), "欠费合计",
]  # fmt: skip


def _aging_cells(row: services.AgingRow) -> list:
    cells: list = []
    for key in services.BUCKET_KEYS:
        cells += [row.buckets[key].amount, row.buckets[key].households]
    return [*cells, row.total.amount, row.total.households]


def arrears_tables(as_of: date | None = None, estate: Estate | None = None) -> list[Table]:
    """Aging per building (with a total row per estate) and the households in arrears."""
    as_of = services.valid_as_of(as_of)
    estates = [estate] if estate is not None else _estates()

    def aging_rows():
        for item in estates:
            aging = services.estate_aging(item, as_of)
            for row in aging.buildings:
                yield [item.name, row.name, *_aging_cells(row)]
            yield [item.name, "合计", *_aging_cells(aging.summary)]

    inner = services.household_arrears_query(
        as_of, estate_id=estate.id if estate is not None else None
    ).subquery()
    statement = (
        select(
            inner,
            Estate.name.label("estate_name"),
            Building.name.label("building_name"),
            Household.unit,
            Household.room,
            Household.owner_names,
            Household.phones,
        )
        .join(Estate, Estate.id == inner.c.estate_id)
        .join(Building, Building.id == inner.c.building_id)
        .join(Household, Household.id == inner.c.household_id)
        .order_by(Estate.code, inner.c.total.desc(), inner.c.oldest_due, inner.c.household_id)
    )

    def household_rows():
        result = db.session.execute(statement.execution_options(yield_per=BATCH))
        for row in result:
            yield [
                row.estate_name,
                row.building_name,
                household_label(row.building_name, row.unit, row.room),
                row.owner_names,
                row.phones,
                row.bills,
                row.oldest_due,
                (as_of - row.oldest_due).days,
                *[money(getattr(row, key) or 0) for key in services.BUCKET_KEYS],
                money(row.total),
            ]

    return [
        Table(f"楼栋账龄 {as_of.isoformat()}", AGING_HEADERS, aging_rows),
        Table("欠费户明细", HOUSEHOLD_HEADERS, household_rows),
    ]


# --- collection rate -----------------------------------------------------------------------

RATE_HEADERS = [
    "小区", "楼栋", "账期", "应收金额", "实收金额", "收缴率(%)", "出账户数", "缴清户数",
    "户数缴清率(%)", "期初往期欠费", "本期清欠金额", "清欠率(%)", "目标收缴率(%)", "差距(百分点)",
]  # fmt: skip


def _rate_cells(estate_name: str, building: str, row: collection.RateRow) -> list:
    return [
        estate_name,
        building,
        row.period,
        row.billed,
        row.collected,
        row.rate,
        row.households_billed,
        row.households_paid,
        row.paid_household_ratio,
        row.arrears_at_start,
        row.collected_on_arrears,
        row.clearance_rate,
        row.target,
        row.gap,
    ]


def collection_tables(
    first=None, last=None, *, as_of: date | None = None, estate: Estate | None = None
) -> list[Table]:
    """Collection rates per estate and period; with ``estate``, per building too."""
    periods = collection.period_range(first, last)
    if estate is None:
        table = collection.collection_table(first, last, as_of=as_of)

        def rows():
            for line in table.estates:
                for cell in line.cells:
                    yield _rate_cells(line.estate.name, "合计", cell)

        return [Table("收缴率", RATE_HEADERS, rows)]

    def estate_rows():
        for period in periods:
            result = collection.estate_collection(estate, period, as_of)
            yield _rate_cells(estate.name, "合计", result.summary)
            for row in result.buildings:
                yield _rate_cells(estate.name, row.name, row)

    return [Table("收缴率", RATE_HEADERS, estate_rows)]


# --- responses and the filters of each export ----------------------------------------------


def file_response(tables: list[Table], name: str, fmt: str):
    """A download: CSV streamed, XLSX built in memory (openpyxl's write-only workbook)."""
    from flask import Response, send_file

    if fmt == "csv":
        return Response(
            streamed_csv(tables),
            mimetype=CSV_MIMETYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return send_file(
        io.BytesIO(xlsx_bytes(tables)),
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=f"{name}.xlsx",
    )


def _estate(args) -> Estate | None:
    return get_estate(args["estate_id"]) if args.get("estate_id") else None


def bill_tables(args: dict) -> list[Table]:
    """``estate_id``, ``building_id`` (404 if not of the estate), ``period``, ``status``."""
    estate = _estate(args)
    building = None
    if args.get("building_id") is not None:
        building = get_owned(Building, args["building_id"])
        if building is None or (estate is not None and building.estate_id != estate.id):
            raise NotFound(_l("Building not found."))
    return [
        bills_table(
            estate=estate, building=building, period=args.get("period"), status=args.get("status")
        )
    ]


def arrears_export_tables(args: dict) -> list[Table]:
    return arrears_tables(args.get("as_of"), _estate(args))


def collection_export_tables(args: dict) -> list[Table]:
    return collection_tables(
        args.get("first"), args.get("last"), as_of=args.get("as_of"), estate=_estate(args)
    )
