"""The import service: every row checked, atomic, idempotent, updates by key; templates;
copying an estate's layout."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from flask_babel import force_locale
from openpyxl import load_workbook
from sqlalchemy import func, select

from ruihe_saas.audit.models import AuditEvent
from ruihe_saas.errors import Conflict, ValidationFailed
from ruihe_saas.estates import services as estate_services
from ruihe_saas.estates.models import (
    Building,
    BuildingKind,
    Household,
    Occupancy,
    ParkingKind,
    ParkingSpace,
)
from ruihe_saas.extensions import db as database
from ruihe_saas.imports.formats import template_xlsx
from ruihe_saas.imports.services import copy_estate_layout, import_households
from ruihe_saas.tenancy import tenant_context
from tests.factories import TenantFactory
from tests.unit.imports.files import HEADER, ROWS, csv_bytes, with_cell, xlsx_bytes


@pytest.fixture(autouse=True)
def english(app):
    """Messages in English (the msgids), whatever the catalogues say."""
    with force_locale("en"):
        yield


@pytest.fixture
def estate(db):
    tenant = TenantFactory()
    with tenant_context(tenant.id):
        estate_services.ensure_default_categories()
        yield estate_services.create_estate({"name": "模二厂生活小区", "code": "MOER"})


def run(estate, rows, header=HEADER, **kwargs):
    return import_households(estate, "x.csv", csv_bytes(rows, header), **kwargs)


def row_errors(estate, rows, header=HEADER) -> list[tuple[int, str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        run(estate, rows, header)
    return [(e["row"], e["column"], e["message"]) for e in caught.value.fields["rows"]]


def count(model) -> int:
    return database.session.scalar(select(func.count()).select_from(model))


def audit_events() -> int:
    return count(AuditEvent)


def households(estate) -> dict[tuple[str, str, str], Household]:
    rows = database.session.scalars(
        select(Household).where(Household.estate_id == estate.id)
    ).unique()
    return {(h.building.name, h.unit, h.room): h for h in rows}


def test_a_valid_file_creates_buildings_households_and_parking(estate):
    result = run(estate, ROWS)
    assert result.as_dict() == {
        "rows": 5,
        "dry_run": False,
        "buildings": {"created": 2, "updated": 0, "unchanged": 0},
        "households": {"created": 5, "updated": 0, "unchanged": 0, "not_in_file": 0},
        "parking_spaces": {"created": 3, "updated": 0, "unchanged": 0},
        "ignored_columns": [],
    }
    one, two = estate_services.buildings_of(estate)
    assert (one.name, one.floors, one.has_lift, one.kind, one.position) == (
        "1栋", 6, False, BuildingKind.LOW_RISE, 1
    )  # fmt: skip
    assert (two.name, two.floors, two.has_lift, two.kind) == (
        "2栋", 11, True, BuildingKind.SMALL_HIGH_RISE
    )  # fmt: skip
    found = households(estate)
    first = found[("1栋", "1", "101")]
    assert first.area == Decimal("86.50") and first.floor == 1
    assert (first.owner_names, first.phones, first.category.code) == (
        "张三",
        "13800000001",
        "ordinary",
    )
    assert first.occupancy == Occupancy.OCCUPIED
    assert found[("1栋", "1", "102")].occupancy == Occupancy.RENTED
    assert found[("1栋", "1", "102")].category.code == "low_income"
    assert found[("1栋", "2", "201")].occupancy == Occupancy.VACANT
    assert found[("1栋", "2", "201")].category_id is None
    assert found[("2栋", "1", "1102")].occupancy == Occupancy.OCCUPIED  # blank: occupied
    assert found[("2栋", "1", "1102")].area == Decimal("118.80")
    spaces = {s.number: s for s in database.session.scalars(select(ParkingSpace))}
    assert spaces["P1"].household_id == first.id
    assert spaces["P2"].household_id == spaces["P3"].household_id == found[("2栋", "1", "1101")].id
    assert spaces["P1"].kind == ParkingKind.SURFACE


def test_xlsx_with_typed_cells_imports_the_same(estate):
    rows = [["1栋", 6, "有", "高层", 1, 101, 1, 86.5, "自住", "张三", 13800000001, "低保", "P1"]]
    import_households(estate, "x.xlsx", xlsx_bytes(rows))
    household = households(estate)[("1栋", "1", "101")]
    assert (household.room, household.phones, household.area) == (
        "101",
        "13800000001",
        Decimal("86.5"),
    )
    assert household.category.name == "低保"
    building = household.building
    assert building.has_lift is True and building.kind == BuildingKind.HIGH_RISE


def test_english_headers_and_values(estate):
    header = ["building", "floors", "has_lift", "kind", "unit", "room", "floor", "area",
              "occupancy", "owner", "phone", "category", "parking",
              "parking_kind", "notes"]  # fmt: skip
    rows = [["A", "3", "no", "bungalow", "", "1", "1", "40.5m2", "rented", "Li", "1", "ordinary",
             "E1", "ebike", "gate"]]  # fmt: skip
    result = run(estate, rows, header)
    assert result.households.created == 1
    household = households(estate)[("A", "", "1")]
    assert household.occupancy == Occupancy.RENTED and household.notes == "gate"
    assert household.area == Decimal("40.50")
    assert household.building.kind == BuildingKind.BUNGALOW
    assert database.session.scalar(select(ParkingSpace.kind)) == ParkingKind.EBIKE


def test_friendly_spellings(estate):
    header = ["楼栋", "楼层数", "单元", "房号", "楼层", "面积"]
    rows = [["3栋", "７层", "2单元", "５０２", "5楼", "８６.５㎡"]]  # full-width digits, units
    run(estate, rows, header)
    household = households(estate)[("3栋", "2", "502")]
    assert (household.floor, household.area, household.building.floors) == (5, Decimal("86.50"), 7)


def test_every_bad_row_is_reported_and_nothing_is_written(estate):
    bad = [
        ["", "6", "无", "多层", "1", "101", "1", "80", "", "", "", "", ""],  # row 2: no building
        ["1栋", "6", "也许", "多层", "1", "102", "1", "abc", "", "", "", "", ""],  # 3: lift, area
        ["1栋", "6", "无", "塔楼", "1", "103", "9", "0", "住着", "", "", "贵宾", ""],  # 4: 5 errors
        ["1栋", "6", "无", "多层", "1", "101", "1", "-5", "", "", "", "", ""],  # 5: area ≤ 0
        ["1栋", "7", "无", "多层", "1", "101", "1.5", "80", "", "", "", "", "P1"],  # 6
        ["2栋", "", "", "", "", "", "", "80", "", "", "", "", "P1"],  # 7
        ["3栋", "abc", "", "", "", "301", "", "1e9", "", "", "", "", ""],  # 8
    ]
    # sorted by row, then by the file's column order
    assert row_errors(estate, bad) == [
        (2, "楼栋", "Required."),
        (3, "电梯", "Unknown value 也许: use 有/无."),
        (3, "面积", "Not a number."),
        (4, "楼栋类型", "Unknown value 塔楼: use 多层/小高层/高层/平房/其他."),
        (4, "楼层", "Above the building's 6 floors."),
        (4, "面积", "Must be more than 0."),
        (4, "入住状态", "Unknown value 住着: use 自住/空置/出租."),
        (4, "类别", "Unknown category 贵宾: use 普通、低保、独居老人、残疾、特扶."),
        (5, "面积", "Must be more than 0."),
        (6, "楼层数", "Differs from row 3 for building 1栋."),
        (6, "房号", "Same building, unit and room as row 5."),
        (6, "楼层", "Not a whole number."),
        (7, "楼层数", "New building 2栋: give its floors (楼层数)."),
        (7, "房号", "Required."),
        (7, "车位", "Parking space P1 is also in row 6."),
        (8, "楼层数", "Not a whole number."),
        (8, "面积", "Must be at most 100000 m²."),
    ]
    assert count(Building) == count(Household) == count(ParkingSpace) == 0


def test_an_error_in_the_last_row_leaves_the_estate_untouched(estate):
    events = audit_events()
    rows = ROWS * 1 + [["9栋", "6", "", "", "1", "101", "1", "abc", "", "", "", "", ""]]
    assert row_errors(estate, rows) == [(7, "面积", "Not a number.")]
    assert count(Building) == count(Household) == count(ParkingSpace) == 0
    assert audit_events() == events


def test_an_existing_building_needs_no_floors_and_floor_is_checked_against_it(estate):
    estate_services.create_building(estate, {"name": "1栋", "floors": 5})
    header = ["楼栋", "房号", "楼层", "面积"]
    assert row_errors(estate, [["1栋", "601", "6", "80"]], header) == [
        (2, "楼层", "Above the building's 5 floors.")
    ]
    assert row_errors(estate, [["9栋", "101", "1", "80"]], header) == [
        (2, "楼栋", "New building 9栋: give its floors (楼层数).")
    ]
    assert run(estate, [["1栋", "501", "5", "80"]], header).buildings.unchanged == 1


def test_too_long_texts_and_dates_from_excel(estate):
    header = ["楼栋", "楼层数", "房号", "面积", "业主"]
    from datetime import datetime

    rows = [["1栋", 6, datetime(2024, 1, 101 - 100), 50, "张" * 201]]
    with pytest.raises(ValidationFailed) as caught:
        import_households(estate, "x.xlsx", xlsx_bytes(rows, header))
    assert [(e["column"], e["message"]) for e in caught.value.fields["rows"]] == [
        ("房号", "Excel turned this into a date: format the column as text."),
        ("业主", "At most 200 characters."),
    ]


def test_reimporting_the_same_file_changes_nothing(estate):
    before = audit_events()
    run(estate, ROWS)
    events = audit_events()
    assert events - before == 2 + 5 + 3  # buildings, households, parking spaces
    for data in (csv_bytes(ROWS), csv_bytes(ROWS, encoding="gbk"), xlsx_bytes(ROWS)):
        result = import_households(estate, "again", data)
        assert result.as_dict()["buildings"] == {"created": 0, "updated": 0, "unchanged": 2}
        assert result.as_dict()["households"] == {
            "created": 0, "updated": 0, "unchanged": 5, "not_in_file": 0
        }  # fmt: skip
        assert result.as_dict()["parking_spaces"] == {"created": 0, "updated": 0, "unchanged": 3}
        assert not result.created_anything
    database.session.flush()
    assert audit_events() == events
    assert not database.session.dirty


def test_a_changed_row_updates_by_its_key(estate):
    run(estate, ROWS)
    before = households(estate)[("1栋", "1", "102")]
    household_id, category_id = before.id, before.category_id
    events = audit_events()
    changed = with_cell(ROWS, 1, "面积", "75.00")
    changed = with_cell(changed, 1, "业主", "李四、李四妻")
    changed = with_cell(changed, 1, "类别", "")
    changed = with_cell(changed, 3, "楼层数", "12")  # 2栋 gets a floor more (all its rows)
    changed = with_cell(changed, 4, "楼层数", "12")
    result = run(estate, changed)
    assert result.households.updated == 1 and result.households.unchanged == 4
    assert result.buildings.updated == 1 and result.buildings.unchanged == 1
    after = households(estate)[("1栋", "1", "102")]
    assert after.id == household_id
    assert (after.area, after.owner_names, after.category_id) == (
        Decimal("75.00"),
        "李四、李四妻",
        None,
    )
    assert estate_services.buildings_of(estate)[1].floors == 12
    assert audit_events() == events + 2  # one household, one building: nothing else
    update = database.session.scalar(
        select(AuditEvent).where(
            AuditEvent.object_id == household_id, AuditEvent.action == "update"
        )
    )
    assert update.changes == {
        "area": ["72.00", "75.00"],
        "owner_names": ["李四", "李四、李四妻"],
        "category_id": [str(category_id), None],
    }


def test_households_not_in_the_file_are_left_alone(estate):
    run(estate, ROWS)
    result = run(estate, ROWS[:2])
    assert result.households.unchanged == 2 and result.households_not_in_file == 3
    assert len(households(estate)) == 5


def test_columns_not_in_the_file_are_left_alone_blank_cells_clear(estate):
    run(estate, ROWS)
    header = ["楼栋", "单元", "房号", "面积"]
    result = run(estate, [["1栋", "1", "101", "86.5"]], header)
    assert result.households.unchanged == 1
    household = households(estate)[("1栋", "1", "101")]
    assert household.owner_names == "张三" and household.category.code == "ordinary"
    header = ["楼栋", "单元", "房号", "面积", "业主", "入住状态"]
    run(estate, [["1栋", "1", "102", "72", "", ""]], header)
    household = households(estate)[("1栋", "1", "102")]
    assert household.owner_names == "" and household.occupancy == Occupancy.OCCUPIED
    assert household.phones == "13800000002"  # no 电话 column: kept


def test_parking_is_reassigned_and_freed_by_the_file(estate):
    run(estate, ROWS)
    moved = with_cell(ROWS, 0, "车位", "P2")  # P2 moves from 2栋1101 to 1栋101; P1 is freed
    moved = with_cell(moved, 3, "车位", "P3")
    result = run(estate, moved)
    assert result.as_dict()["parking_spaces"] == {"created": 0, "updated": 2, "unchanged": 1}
    spaces = {s.number: s.household_id for s in database.session.scalars(select(ParkingSpace))}
    found = households(estate)
    assert spaces == {
        "P1": None,
        "P2": found[("1栋", "1", "101")].id,
        "P3": found[("2栋", "1", "1101")].id,
    }
    assert run(estate, moved).parking_spaces.updated == 0


def test_dry_run_counts_and_writes_nothing(estate):
    events = audit_events()
    result = run(estate, ROWS, dry_run=True)
    assert result.dry_run is True
    assert (result.buildings.created, result.households.created, result.parking_spaces.created) == (
        2, 5, 3
    )  # fmt: skip
    database.session.flush()
    assert count(Building) == count(Household) == 0
    assert audit_events() == events
    run(estate, ROWS)
    changed = run(estate, with_cell(ROWS, 0, "面积", "99"), dry_run=True)
    assert changed.households.updated == 1
    assert households(estate)[("1栋", "1", "101")].area == Decimal("86.50")


def test_new_buildings_go_after_existing_ones(estate):
    estate_services.create_building(estate, {"name": "A", "floors": 3, "position": 7})
    run(estate, ROWS)
    assert [(b.name, b.position) for b in estate_services.buildings_of(estate)] == [
        ("A", 7), ("1栋", 8), ("2栋", 9)
    ]  # fmt: skip


def test_the_import_stays_in_its_estate(estate):
    other = estate_services.create_estate({"name": "地质一大队", "code": "DZ"})
    estate_services.create_building(other, {"name": "1栋", "floors": 6})
    run(estate, ROWS)
    assert [b.name for b in estate_services.buildings_of(other)] == ["1栋"]
    assert count(Building) == 3
    assert households(other) == {}


def test_the_xlsx_template_has_headers_instructions_and_categories(estate):
    workbook = load_workbook(io.BytesIO(template_xlsx()))
    assert workbook.sheetnames == ["房屋", "说明"]
    assert [c.value for c in workbook["房屋"][1]][:6] == [
        "楼栋",
        "楼层数",
        "电梯",
        "楼栋类型",
        "单元",
        "房号",
    ]
    assert workbook["房屋"].max_row == 1  # headers only
    notes = "\n".join(
        str(v) for row in workbook["说明"].iter_rows(values_only=True) for v in row if v
    )
    assert "building + unit + room" in notes and "low_income" in notes and "低保" in notes


def test_copy_estate_layout(estate):
    run(estate, ROWS)
    copy = copy_estate_layout(
        estate, {"name": "地质一大队生活小区", "code": "DZ1", "address": "建宁街道"}
    )
    assert (copy.name, copy.code, copy.address) == ("地质一大队生活小区", "DZ1", "建宁街道")
    assert copy.id != estate.id
    copied = [
        (b.name, b.floors, b.has_lift, b.kind, b.position)
        for b in estate_services.buildings_of(copy)
    ]
    assert copied == [
        (b.name, b.floors, b.has_lift, b.kind, b.position)
        for b in estate_services.buildings_of(estate)
    ]
    assert households(copy) == {}
    assert (
        database.session.scalar(select(func.count()).where(ParkingSpace.estate_id == copy.id)) == 0
    )
    with pytest.raises(Conflict):
        copy_estate_layout(estate, {"name": "again", "code": "DZ1"})
