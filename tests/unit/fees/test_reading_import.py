"""Importing meter readings from CSV/XLSX: all or nothing, every bad row reported."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.fees import readings
from ruihe_saas.fees.models import MeterKind, MeterReading
from ruihe_saas.fees.reading_import import import_readings
from ruihe_saas.tenancy import tenant_context
from tests.unit.fees.builders import count, households_of, tenant_with_estate


@pytest.fixture
def site(db):
    owner, estate = tenant_with_estate("E1", buildings=2, rooms=2)
    return owner, estate


def csv_file(*rows: str, header="楼栋,单元,房号,表类型,期间,本期读数,上期读数,换表") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8-sig")


def test_a_file_with_several_meters_and_months(site):
    owner, estate = site
    data = csv_file(
        "1栋,1,101,水,2024-02,120,,",
        "1栋,1单元,101,水,2024/01,100,,",
        "1栋,1,101,电,2024年1月,50,10,否",
        "2栋,1,201,充电,2024-01,8,,",
        "2栋,1,201,gas,2024-01,3,,是",
    )
    with tenant_context(owner.tenant_id):
        result = import_readings(estate, "readings.csv", data)
        assert result.as_dict() == {"rows": 5, "created": 5, "replaced": 0, "unchanged": 0}
        rows = {
            (r.meter_kind, r.period): r
            for r in db.session.scalars(select(MeterReading).order_by(MeterReading.period))
        }
    assert rows[(MeterKind.WATER, "2024-02")].previous_reading == Decimal("100.00")  # in-file
    assert rows[(MeterKind.ELECTRICITY, "2024-01")].previous_reading == Decimal("10.00")
    assert rows[(MeterKind.EBIKE_CHARGING, "2024-01")].current_reading == Decimal("8.00")
    assert rows[(MeterKind.GAS, "2024-01")].is_replacement is True


def test_the_same_file_twice_changes_nothing_and_a_new_value_replaces(site):
    owner, estate = site
    data = csv_file("1栋,1,101,水,2024-01,100,,", "1栋,1,201,水,2024-01,40,,")
    with tenant_context(owner.tenant_id):
        import_readings(estate, "r.csv", data)
        again = import_readings(estate, "r.csv", data)
        assert again.as_dict() == {"rows": 2, "created": 0, "replaced": 0, "unchanged": 2}
        changed = import_readings(estate, "r.csv", csv_file("1栋,1,101,水,2024-01,101,,"))
        assert (changed.replaced, changed.created) == (1, 0)
        assert count(MeterReading) == 2


def test_any_bad_row_imports_nothing_and_every_bad_row_is_listed(site):
    owner, estate = site
    household = households_of(estate)[0]
    with tenant_context(owner.tenant_id):
        readings.record_reading(
            estate,
            {
                "household_id": household.id,
                "meter_kind": "water",
                "period": "2024-01",
                "current_reading": "100",
            },
        )
    data = csv_file(
        "1栋,1,101,水,2024-02,90,,",  # row 2: backwards
        "1栋,1,201,水,2024-01,10,,",  # row 3: fine
        "9栋,1,101,水,2024-01,10,,",  # row 4: no such household
        "1栋,1,201,蒸汽,2024-13,abc,,也许",  # row 5: four bad cells
        "1栋,1,201,水,2024-01,12,,",  # row 6: same as row 3
        "1栋,1,201,电,,12,,",  # row 7: period missing
        "1栋,1,101,水,2024-03,95,,是",  # row 8: a replacement: fine
    )
    with tenant_context(owner.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            import_readings(estate, "bad.csv", data)
        problems = raised.value.fields["rows"]
        assert count(MeterReading) == 1
    by_row: dict[int, set] = {}
    for problem in problems:
        by_row.setdefault(problem["row"], set()).add(problem["column"])
    assert by_row == {
        2: {"本期读数"},
        4: {"房号"},
        5: {"表类型", "期间", "本期读数", "换表"},
        6: {"期间"},
        7: {"期间"},
    }


def test_english_headers_and_an_xlsx_file(site):
    from openpyxl import Workbook

    owner, estate = site
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["building", "unit", "room", "meter_kind", "period", "current_reading"])
    sheet.append(["1栋", 1, 101, "electricity", datetime(2024, 5, 1), 33.456])
    sheet.append(["2栋", "1", "201", "water", "2024-05", 7])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with tenant_context(owner.tenant_id):
        result = import_readings(estate, "readings.xlsx", buffer.getvalue())
        assert result.created == 2
        values = sorted(db.session.scalars(select(MeterReading.current_reading)).all())
    assert values == [Decimal("7.00"), Decimal("33.46")]


@pytest.mark.parametrize(
    ("data", "message_part"),
    [
        (csv_file("1栋,1,101,水,2024-01,1", header="楼栋,单元,房号,期间,本期读数"), "表类型"),
        (b"", None),
        (csv_file(header="楼栋,房号,表类型,期间,本期读数"), None),
    ],
)
def test_unreadable_files_are_refused(site, data, message_part):
    owner, estate = site
    with tenant_context(owner.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            import_readings(estate, "r.csv", data)
        assert "file" in raised.value.fields
        if message_part:
            assert message_part in str(raised.value.fields["file"][0])
        assert count(MeterReading) == 0
