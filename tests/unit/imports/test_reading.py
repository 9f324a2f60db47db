"""Reading an uploaded file: XLSX and CSV (UTF-8, BOM, GBK, UTF-16), headers in Chinese or
English, and every file-level refusal."""

from __future__ import annotations

import io
import zipfile

import pytest
from flask_babel import force_locale

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.imports import formats, reading
from ruihe_saas.imports.formats import map_headers
from ruihe_saas.imports.reading import read_table
from tests.unit.imports.files import HEADER, ROWS, csv_bytes, xlsx_bytes


@pytest.fixture(autouse=True)
def english(app):
    """Messages in English (the msgids), whatever the catalogues say."""
    with force_locale("en"):
        yield


def file_errors(filename, data) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        read_table(filename, data)
    assert caught.value.status == 422
    return [str(m) for m in caught.value.fields["file"]]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_csv_in_the_encodings_excel_writes(encoding):
    table = read_table("房屋.csv", csv_bytes(ROWS, encoding=encoding))
    assert table.headers == HEADER
    assert table.header_row == 1
    assert [number for number, _cells in table.rows] == [2, 3, 4, 5, 6]
    assert table.rows[0][1][:2] == ["1栋", "6"]
    assert table.rows[0][1][9] == "张三"


def test_gbk_csv_is_really_not_utf8():
    data = csv_bytes(ROWS, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert read_table("x.csv", data).rows[3][1][0] == "2栋"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_delimiters(delimiter):
    table = read_table("x.txt", csv_bytes(ROWS, delimiter=delimiter))
    assert table.headers == HEADER
    assert table.rows[3][1][12] == "P2,P3"


def test_blank_rows_are_skipped_and_rows_keep_their_spreadsheet_numbers():
    data = csv_bytes([[], ROWS[0], ["", "", ""], ROWS[1]])
    table = read_table("x.csv", data)
    assert [number for number, _cells in table.rows] == [3, 5]


def test_xlsx_reads_the_households_sheet_with_typed_cells():
    rows = [["1栋", 6, "无", "多层", 1, 101, 1, 86.5, "自住", "张三", 13800000001, "普通", "P1"]]
    table = read_table("import.xlsx", xlsx_bytes(rows, extra_sheets=["说明"]))
    assert table.headers == HEADER
    assert table.rows == [(2, rows[0])]


def test_xlsx_header_need_not_be_on_row_one():
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet["A3"], sheet["B3"], sheet["C3"] = "building", "room", "area"
    sheet["A4"], sheet["B4"], sheet["C4"] = "1栋", "101", 50
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = read_table("x.xlsx", buffer.getvalue())
    assert table.header_row == 3
    assert table.rows == [(4, ["1栋", "101", 50])]


def test_xlsx_is_recognised_by_content_whatever_its_name():
    assert read_table("upload", xlsx_bytes(ROWS)).headers == HEADER


@pytest.mark.parametrize(
    "headers",
    [
        ["building", "unit", "room", "floor", "area", "owner", "phone", "category", "parking"],
        ["Building", "Unit", "Room", "Floor", "Area", "Owner Names", "Phones", "Category",
         "Parking Spaces"],
        ["楼栋", "单元", "房号", "楼层", "面积（m²）", "业主姓名", "联系电话", "住户类别",
         "车位号"],
        ["楼号*", "单元号", "房间号", "所在楼层", "建筑面积(㎡)", "户主", "手机", "户类别",
         "车位"],
    ],
)  # fmt: skip
def test_chinese_and_english_headers_map_to_the_same_columns(headers):
    table = read_table("x.csv", csv_bytes([["1"] * len(headers)], header=headers))
    positions, ignored = map_headers(table.headers)
    assert list(positions) == [
        "building", "unit", "room", "floor", "area", "owner_names", "phones", "category",
        "parking",
    ]  # fmt: skip
    assert ignored == []


def test_unknown_columns_are_ignored_and_reported():
    table = read_table(
        "x.csv", csv_bytes([["1栋", "101", "50", "x"]], ["楼栋", "房号", "面积", "身份证"])
    )
    positions, ignored = map_headers(table.headers)
    assert set(positions) == {"building", "room", "area"}
    assert ignored == ["身份证"]


def test_missing_required_and_repeated_columns_are_all_reported():
    table = read_table("x.csv", csv_bytes([["1", "2", "3"]], ["楼栋", "面积", "area"]))
    with pytest.raises(ValidationFailed) as caught:
        map_headers(table.headers)
    messages = [str(m) for m in caught.value.fields["file"]]
    assert len(messages) == 2
    assert "area" in messages[0]  # repeated
    assert "房号" in messages[1] and "room" in messages[1]  # missing


@pytest.mark.parametrize(
    ("filename", "data", "fragment"),
    [
        ("x.csv", b"", "empty"),
        ("x.csv", b"\r\n \r\n", "empty"),
        ("x.csv", "楼栋,房号,面积\r\n,,\r\n".encode(), "no rows"),
        ("x.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
        ("x.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
        ("x.pdf", b"%PDF-1.4", ".xlsx or .csv"),
        ("x.xlsx", b"not a zip at all", "Excel"),
        ("x.xlsx", b"PK\x03\x04broken zip", "Excel"),
        ("x.csv", b"\x81\x00\xff\xfe\x00", "readable text"),
        ("x.csv", bytes(range(256)) * 4, "readable text"),
    ],
)
def test_unreadable_files_are_refused(filename, data, fragment):
    assert any(fragment in message for message in file_errors(filename, data))


def test_a_zip_that_is_not_a_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert "Excel" in file_errors("x.xlsx", buffer.getvalue())[0]


def test_a_zip_bomb_is_refused_unopened(monkeypatch):
    monkeypatch.setattr(reading, "MAX_UNPACKED_BYTES", 1000)
    assert "Excel" in file_errors("x.xlsx", xlsx_bytes(ROWS * 10))[0]


def test_too_many_rows(monkeypatch):
    monkeypatch.setattr(reading, "MAX_ROWS", 3)
    assert "more than 3 rows" in file_errors("x.csv", csv_bytes(ROWS))[0]
    assert read_table("x.csv", csv_bytes(ROWS[:3])).rows[-1][0] == 4


def test_too_many_rows_in_xlsx(monkeypatch):
    monkeypatch.setattr(reading, "MAX_ROWS", 3)
    assert "more than 3 rows" in file_errors("x.xlsx", xlsx_bytes(ROWS))[0]


def test_a_sheet_of_blank_rows_is_not_read_forever(monkeypatch):
    monkeypatch.setattr(reading, "MAX_SCANNED_ROWS", 10)
    data = csv_bytes([[""]] * 20 + [ROWS[0]])
    assert "more than" in file_errors("x.csv", data)[0]


def test_too_large(monkeypatch):
    monkeypatch.setattr(reading, "MAX_BYTES", 100)
    assert "larger than" in file_errors("x.csv", csv_bytes(ROWS))[0]


def test_templates_are_headers_only_and_read_back():
    csv_table_data = formats.template_csv()
    assert csv_table_data.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it as UTF-8
    assert csv_table_data.decode("utf-8-sig").strip() == ",".join(c.header for c in formats.COLUMNS)
    # Headers but no rows: importing the bare template is an error, never a silent no-op.
    assert "no rows" in file_errors("t.csv", csv_table_data)[0]
